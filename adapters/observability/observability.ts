/**
 * Puts the observability pieces around one replicator actor, from the outside:
 *
 * - before the actor exists (`prepareObservability`): the logger wrapper that remembers the last
 *   error, and the inspection observer for the Stately inspector (it must be given to
 *   `createActor` to see the root's own registration);
 * - once it exists (`attach`): the pipeline probe on its actor system, the OpenTelemetry
 *   instruments, the enableStats line, the status server; and the `observability` handle.
 *
 * Nothing is attached that is not asked for. With no SDK registered, no `statusPort`, no
 * `inspect` and `enableStats` off, the actor runs with no inspection observer, no timer and no
 * instrument: exactly as before.
 */
import { createNoopMeter, metrics as otelMetrics, type MeterProvider } from '@opentelemetry/api';
import type { AnyActorRef, InspectionEvent, Observer } from 'xstate';
import type { ReplicatorConfig } from '../../machines/config.js';
import type { Version } from '../../machines/domain.js';
import { describe } from '../../machines/errors.js';
import type { Logger } from '../logging.js';
import { attachStatsReporter } from '../statsReporter.js';
import { EventTimings, type CandidateEventTimings } from './eventTimings.js';
import type { Health } from './health.js';
import { History, RateMeter } from './history.js';
import { createStatelyInspector, type StatelyInspector, type StatelyInspectorOptions } from './inspector.js';
import { LastError } from './lastError.js';
import { METER_NAME, ReplicatorMetrics } from './metrics.js';
import { PipelineProbe } from './pipelineProbe.js';
import { createPrometheusMetrics, type PrometheusMetrics } from './prometheus.js';
import { StatusModel, type ReplicatorStatus } from './statusModel.js';
import { startStatusServer, type StatusServer } from './statusServer.js';

export type InspectOption = Observer<InspectionEvent> | ((event: InspectionEvent) => void) | boolean | StatelyInspectorOptions;

export interface ObservabilityOptions {
  /**
   * Where the metrics go. Default: the global provider (`metrics.getMeterProvider()`), which is
   * a no-op unless the host registered an OpenTelemetry SDK before creating the replicator.
   */
  readonly meterProvider?: MeterProvider;
  /** Serve /health, /metrics, /status and the status page on this port (0: any free port). Off by default. */
  readonly statusPort?: number;
  /** The status server's address. Default 127.0.0.1. */
  readonly statusHost?: string;
  /**
   * An XState inspection observer (e.g. `createWebSocketInspector(...).inspect`), or `true` /
   * `{ port, host, inspectorUrl }` to start the built-in Stately inspector bridge (see inspector.ts).
   */
  readonly inspect?: InspectOption;
  /** Every installed version's eight event timings (diagnostics; called only while metrics are on). */
  readonly onEventTimings?: (timings: CandidateEventTimings) => void;
}

export interface ObservabilityAddresses {
  /** The status page; the JSON, health and metrics are under it. Null without `statusPort`. */
  readonly statusUrl: string | null;
  /** The Stately inspector bridge page. Null unless `inspect` started one. */
  readonly inspectorUrl: string | null;
  /** Its WebSocket relay. */
  readonly inspectorWebSocketUrl: string | null;
}

/** What `replicator.observability` offers. */
export interface ReplicatorObservability {
  /** Resolves once the status server and the inspector listen (rejects when one cannot, e.g. the port is taken). */
  ready(): Promise<ObservabilityAddresses>;
  /** The /status document, now. */
  status(): ReplicatorStatus;
  health(): Health;
  /** Whether the OpenTelemetry instruments are live (an SDK provider was found or the status server made one). */
  readonly metricsEnabled: boolean;
  /** Stops the status server, the inspector bridge, the sampling timer and the gauges. Idempotent. */
  close(): Promise<void>;
}

/** Samples for the page's charts: one a second, ten minutes' worth. */
const SAMPLE_MS = 1000;
const HISTORY_SAMPLES = 600;

const NOOP_METER = createNoopMeter().constructor;

/** True when the provider hands out the API's no-op meters (no SDK behind it). */
function isNoop(provider: MeterProvider): boolean {
  return provider.getMeter(METER_NAME) instanceof NOOP_METER;
}

function isObserver(inspect: InspectOption): inspect is Observer<InspectionEvent> | ((event: InspectionEvent) => void) {
  if (typeof inspect === 'function') return true;
  if (typeof inspect !== 'object' || inspect === null) return false;
  const o = inspect as Record<string, unknown>;
  return typeof o.next === 'function' || typeof o.error === 'function' || typeof o.complete === 'function';
}

export interface AttachOptions {
  readonly turnOf?: () => AnyActorRef | undefined;
  readonly endOffset?: () => Version | null;
}

export interface PreparedObservability {
  /** The logger to give the machines' hooks. */
  readonly logger: Logger;
  /** The inspection observer for `createActor`, if any. */
  readonly inspect: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined;
  /**
   * Wires everything else to the created (not yet started) actor. For the Kafka failover
   * machine, `turnOf` finds the cohort replicator of the current turn of ownership; `endOffset`
   * is the source's (where the log ends, for the unread count).
   */
  attach<A extends AnyActorRef>(actor: A, hosting?: AttachOptions): A & { readonly observability: ReplicatorObservability };
}

export function prepareObservability(options: ObservabilityOptions, config: ReplicatorConfig, logger: Logger): PreparedObservability {
  if (options.statusPort !== undefined && !(Number.isInteger(options.statusPort) && options.statusPort >= 0 && options.statusPort <= 65535)) {
    throw new TypeError(`createCohortReplicator: "statusPort" must be a port number (0-65535), got ${JSON.stringify(options.statusPort)}`);
  }
  const lastError = new LastError();
  let inspector: StatelyInspector | null = null;
  let inspect: PreparedObservability['inspect'];
  if (options.inspect !== undefined && options.inspect !== false) {
    if (isObserver(options.inspect)) inspect = options.inspect;
    else {
      inspector = createStatelyInspector(options.inspect === true ? {} : options.inspect);
      inspect = inspector.inspect;
    }
  }

  return {
    logger: lastError.wrap(logger),
    inspect,
    attach(actor, hosting) {
      let started = false;
      const start = actor.start.bind(actor);
      // The only way to tell "created" from "loading the snapshot": both sit in `starting`.
      (actor as { start: () => void }).start = () => {
        started = true;
        start();
      };

      const statusWanted = options.statusPort !== undefined;
      const hostProvider = options.meterProvider ?? otelMetrics.getMeterProvider();
      const prometheus: PrometheusMetrics | null = statusWanted ? createPrometheusMetrics() : null;
      const providers = [...(isNoop(hostProvider) ? [] : [hostProvider]), ...(prometheus ? [prometheus.meterProvider] : [])];
      let model: StatusModel | null = null;
      const metrics = providers.length > 0 ? new ReplicatorMetrics(providers, () => model?.gauges() ?? null) : null;
      // Offsets between a candidate's arrival and its install stay within the suffix plus what is read ahead.
      const timingCapacity = Math.min(1 << 20, 2 * (config.suffixCapacity + config.channelSize) + config.statemapInstallerThreadpool * config.installBatchSize);
      const timings = metrics ? new EventTimings(timingCapacity, options.onEventTimings) : null;
      const probe = metrics || statusWanted || config.enableStats ? new PipelineProbe(metrics, timings) : null;
      // An observer that throws breaks XState's event delivery and so the replication it watches:
      // a fault in the probe costs metrics (logged once), never installs.
      let probeFailed = false;
      const probeSubscription = probe
        ? actor.system.inspect((inspection) => {
            if (probeFailed) return;
            try {
              probe.observe(inspection);
            } catch (error) {
              probeFailed = true;
              logger.error(`observability: the pipeline probe failed and is switched off (metrics and event timings stop): ${describe(error)}`);
            }
          })
        : null;
      const rate = probe ? new RateMeter() : null;
      model = new StatusModel(actor, {
        probe,
        lastError,
        rate,
        isStarted: () => started,
        ...(hosting?.turnOf ? { turnOf: hosting.turnOf } : {}),
        ...(hosting?.endOffset ? { endOffset: hosting.endOffset } : {}),
      });

      const history = new History(HISTORY_SAMPLES);
      let server: StatusServer | null = null;
      const sampler = probe
        ? setInterval(() => {
            const perSecond = rate!.sample(probe.installed);
            if (!server) return;
            const s = model!.status();
            const sample = { t: Date.now(), snapshot: s.snapshot.inMemory, persisted: s.snapshot.persisted, lag: s.lag, queueSize: s.queue?.size ?? null, installsPerSecond: perSecond };
            history.push(sample);
            server.publishSample(sample);
          }, SAMPLE_MS)
        : null;
      sampler?.unref();
      rate?.sample(0);

      const stopStats = config.enableStats ? attachStatsReporter(actor, model, logger, config.statsFreqMs) : null;

      const serverStarting = statusWanted
        ? startStatusServer({
            port: options.statusPort!,
            host: options.statusHost,
            model,
            history,
            root: actor,
            metrics: prometheus ? prometheus.handle : null,
          }).then((started) => (server = started))
        : null;
      // Reported by ready(); never as an unhandled rejection.
      serverStarting?.catch(() => undefined);

      let closing: Promise<void> | null = null;
      const statusModel = model;
      const observability: ReplicatorObservability = {
        metricsEnabled: metrics !== null,
        async ready() {
          const [status, inspectorAddress] = await Promise.all([serverStarting, inspector?.listening() ?? null]);
          return { statusUrl: status?.url ?? null, inspectorUrl: inspectorAddress?.url ?? null, inspectorWebSocketUrl: inspectorAddress?.websocketUrl ?? null };
        },
        status: () => statusModel.status(),
        health: () => statusModel.health(),
        close() {
          closing ??= (async () => {
            if (sampler) clearInterval(sampler);
            stopStats?.();
            probeSubscription?.unsubscribe();
            metrics?.close();
            const running = await serverStarting?.catch(() => null);
            await Promise.all([running?.close(), inspector?.close(), prometheus?.shutdown().catch(() => undefined)]);
          })();
          return closing;
        },
      };
      Object.defineProperty(actor, 'observability', { value: observability, enumerable: false });
      return actor as typeof actor & { readonly observability: ReplicatorObservability };
    },
  };
}
