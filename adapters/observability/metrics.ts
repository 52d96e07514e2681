/**
 * The replicator's OpenTelemetry instruments, under the names Talos's Rust replicator uses (meter
 * `sdk_replicator`), so existing Talos dashboards keep working; plus a few of our own, prefixed
 * `repl_` as well. Only `@opentelemetry/api` is used here: the host application (or the CLI)
 * supplies the SDK. With no SDK registered every instrument is the API's no-op and nothing
 * below is ever called on the hot path (see observability.ts).
 *
 * Counters and histograms are fed by the pipeline probe, per batch where the data allows (one
 * `add` per parsed batch or per settled install round); the latency histograms take one
 * `record` per installed version, since each version has its own latency. Every gauge is
 * observable: it is sampled from the actors' snapshots when a reader collects, and costs
 * nothing between collections.
 */
import type { Attributes, BatchObservableCallback, BatchObservableResult, Counter, Histogram, Meter, MeterProvider, Observable } from '@opentelemetry/api';
import type { VersionLatencies } from './eventTimings.js';

export const METER_NAME = 'sdk_replicator';

export type MetricKind = 'counter' | 'histogram' | 'gauge' | 'updowncounter';

export interface MetricDescriptor {
  readonly name: string;
  readonly kind: MetricKind;
  readonly unit: string;
  readonly description: string;
  /** True for the names Talos's replicator exports. */
  readonly talos: boolean;
}

const d = (name: string, kind: MetricKind, unit: string, talos: boolean, description: string): MetricDescriptor => ({ name, kind, unit, talos, description });

/** Every metric the replicator exports. Prometheus adds `_total` to counters and `_bucket/_sum/_count` to histograms. */
export const METRICS = {
  candidates: d('repl_candidates', 'counter', 'tx', true, 'Candidate records read from the certification topic.'),
  decCommits: d('repl_dec_commits', 'counter', 'tx', true, 'Committed decisions read.'),
  decAborts: d('repl_dec_aborts', 'counter', 'tx', true, 'Aborted decisions read.'),
  installOk: d('repl_install_ok', 'counter', 'tx', true, 'Versions installed successfully (one per version, also inside a batch call).'),
  installErr: d('repl_install_err', 'counter', 'tx', true, 'Failed install attempts, per version (each retry counts again).'),
  installLatency: d('repl_install_latency', 'histogram', 'ms', true, 'Duration of the install call that installed a version (for a batch call, the whole call), per version.'),
  candidateToInstall: d('repl_candidate_to_install_latency', 'histogram', 'ms', true, 'Candidate received to install complete, per version.'),
  decisionToInstall: d('repl_decision_to_install_latency', 'histogram', 'ms', true, 'Decision received to install complete, per version.'),
  queueLatency: d('repl_statemap_queue_latency', 'histogram', 'ms', true, 'Queue received to install complete (time in the statemap queue including the install), per version.'),
  queueWait: d('repl_queue_wait_latency', 'histogram', 'ms', false, 'Queue received to install begin (waiting for the safepoint, a free install slot, retries), per version.'),
  statemapQueue: d('repl_statemap_queue', 'gauge', 'items', true, 'Versions in the statemap queue (received, not yet covered by the snapshot).'),
  queueSnapshot: d('repl_statemap_queue_snapshot', 'gauge', 'version', true, 'The in-memory snapshot: every version at or below it is installed.'),
  installChannel: d('repl_install_channel', 'gauge', 'items', true, 'Versions handed to the installer and waiting for a free install slot (its backlog).'),
  itemsInFlight: d('repl_items_in_flight', 'updowncounter', 'items', true, 'Versions dispatched to the installer without an outcome yet (backlog plus installing).'),
  itemsInstalling: d('repl_items_installing', 'updowncounter', 'items', true, 'Versions inside running install calls.'),
  statemapsChannel: d('repl_statemaps_channel', 'gauge', 'items', true, 'Versions between the replicator service and the queue: always 0 here, the hand-over is synchronous (kept for Talos dashboards).'),
  queueItems: d('repl_queue_items', 'gauge', 'items', false, 'Statemap queue items per state (attribute `state`: awaiting, backing_off, inflight, installed, failed).'),
  persisted: d('repl_snapshot_persisted', 'gauge', 'version', false, 'The snapshot last written by updateSnapshot.'),
  committed: d('repl_offset_committed', 'gauge', 'offset', false, 'The offset last committed to the source.'),
  lastOffset: d('repl_last_offset_seen', 'gauge', 'offset', false, 'The highest offset read from the source.'),
  lag: d('repl_lag', 'gauge', 'offsets', false, 'Offsets read past the in-memory snapshot (last offset seen minus snapshot); 0 once every candidate read is installed.'),
  endOffset: d('repl_log_end_offset', 'gauge', 'offset', false, "The log's last offset as the source last saw it (Kafka: the high watermark of the latest fetch, minus one)."),
  unread: d('repl_unread_offsets', 'gauge', 'offsets', false, 'Offsets on the log not read yet (log end offset minus last offset seen): how far reading is behind the log.'),
  suffixSize: d('repl_suffix_size', 'gauge', 'tx', false, 'Candidates held in the suffix.'),
  backpressure: d('repl_backpressure_level', 'gauge', '1', false, 'Backpressure level: 0 none, 1 slowing, 2 critical.'),
  sourcePaused: d('repl_source_paused', 'gauge', '1', false, '1 while the source is paused (suffix full, or its head stalled: critical).'),
  rejected: d('repl_rejected_records', 'counter', 'records', false, 'Records that could not be used (malformed, unknown decision), skipped and logged.'),
  live: d('repl_live', 'gauge', '1', false, '1 while the replicator is alive (not failed).'),
  ready: d('repl_ready', 'gauge', '1', false, '1 while the replicator is ready (running, snapshot loaded, not paused by critical backpressure).'),
} as const satisfies Record<string, MetricDescriptor>;

/** Milliseconds; from sub-millisecond in-memory installs to a stuck minute. */
export const LATENCY_BUCKETS_MS = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];

/** What the observable instruments report at a collection; null fields are not reported. */
export interface GaugeSample {
  readonly queueSize: number | null;
  readonly snapshot: number | null;
  readonly installerBacklog: number | null;
  readonly inflight: number | null;
  readonly installing: number | null;
  readonly queueItems: Readonly<Record<string, number>> | null;
  readonly persisted: number | null;
  readonly committed: number | null;
  readonly lastOffsetSeen: number | null;
  readonly lag: number | null;
  readonly endOffset: number | null;
  readonly unread: number | null;
  readonly suffixSize: number | null;
  readonly backpressureLevel: number;
  readonly sourcePaused: boolean;
  readonly rejected: number;
  readonly live: boolean;
  readonly ready: boolean;
}

interface InstrumentSet {
  readonly candidates: Counter;
  readonly decCommits: Counter;
  readonly decAborts: Counter;
  readonly installOk: Counter;
  readonly installErr: Counter;
  readonly installLatency: Histogram;
  readonly candidateToInstall: Histogram;
  readonly decisionToInstall: Histogram;
  readonly queueLatency: Histogram;
  readonly queueWait: Histogram;
}

const NO_ATTRIBUTES: Attributes = {};

/**
 * The instruments on one or more meters (a host's provider and the status server's Prometheus
 * provider may both be in use); every record goes to each.
 */
export class ReplicatorMetrics {
  readonly #sets: InstrumentSet[] = [];
  readonly #unregister: Array<() => void> = [];

  constructor(providers: readonly MeterProvider[], sample: () => GaugeSample | null) {
    for (const provider of providers) this.#add(provider.getMeter(METER_NAME), sample);
  }

  #add(meter: Meter, sample: () => GaugeSample | null): void {
    const counter = (m: MetricDescriptor) => {
      const instrument = meter.createCounter(m.name, { unit: m.unit, description: m.description });
      // Start every series at 0, so a dashboard sees "no errors yet" rather than no data.
      instrument.add(0, NO_ATTRIBUTES);
      return instrument;
    };
    const histogram = (m: MetricDescriptor) =>
      meter.createHistogram(m.name, { unit: m.unit, description: m.description, advice: { explicitBucketBoundaries: LATENCY_BUCKETS_MS } });
    this.#sets.push({
      candidates: counter(METRICS.candidates),
      decCommits: counter(METRICS.decCommits),
      decAborts: counter(METRICS.decAborts),
      installOk: counter(METRICS.installOk),
      installErr: counter(METRICS.installErr),
      installLatency: histogram(METRICS.installLatency),
      candidateToInstall: histogram(METRICS.candidateToInstall),
      decisionToInstall: histogram(METRICS.decisionToInstall),
      queueLatency: histogram(METRICS.queueLatency),
      queueWait: histogram(METRICS.queueWait),
    });

    const options = (m: MetricDescriptor) => ({ unit: m.unit, description: m.description });
    const gauge = (m: MetricDescriptor) => meter.createObservableGauge(m.name, options(m));
    const upDown = (m: MetricDescriptor) => meter.createObservableUpDownCounter(m.name, options(m));
    const observables = {
      statemapQueue: gauge(METRICS.statemapQueue),
      queueSnapshot: gauge(METRICS.queueSnapshot),
      installChannel: gauge(METRICS.installChannel),
      itemsInFlight: upDown(METRICS.itemsInFlight),
      itemsInstalling: upDown(METRICS.itemsInstalling),
      statemapsChannel: gauge(METRICS.statemapsChannel),
      queueItems: gauge(METRICS.queueItems),
      persisted: gauge(METRICS.persisted),
      committed: gauge(METRICS.committed),
      lastOffset: gauge(METRICS.lastOffset),
      lag: gauge(METRICS.lag),
      endOffset: gauge(METRICS.endOffset),
      unread: gauge(METRICS.unread),
      suffixSize: gauge(METRICS.suffixSize),
      backpressure: gauge(METRICS.backpressure),
      sourcePaused: gauge(METRICS.sourcePaused),
      rejected: meter.createObservableCounter(METRICS.rejected.name, options(METRICS.rejected)),
      live: gauge(METRICS.live),
      ready: gauge(METRICS.ready),
    };
    // One callback for all of them: the actors' snapshots are read once per collection.
    const callback: BatchObservableCallback = (result: BatchObservableResult) => {
      const s = sample();
      if (!s) return;
      const o = (observable: Observable, value: number | null) => {
        if (value !== null) result.observe(observable, value);
      };
      o(observables.statemapQueue, s.queueSize);
      o(observables.queueSnapshot, s.snapshot);
      o(observables.installChannel, s.installerBacklog);
      o(observables.itemsInFlight, s.inflight);
      o(observables.itemsInstalling, s.installing);
      o(observables.statemapsChannel, 0);
      for (const [state, count] of Object.entries(s.queueItems ?? {})) result.observe(observables.queueItems, count, { state });
      o(observables.persisted, s.persisted);
      o(observables.committed, s.committed);
      o(observables.lastOffset, s.lastOffsetSeen);
      o(observables.lag, s.lag);
      o(observables.endOffset, s.endOffset);
      o(observables.unread, s.unread);
      o(observables.suffixSize, s.suffixSize);
      o(observables.backpressure, s.backpressureLevel);
      o(observables.sourcePaused, s.sourcePaused ? 1 : 0);
      o(observables.rejected, s.rejected);
      o(observables.live, s.live ? 1 : 0);
      o(observables.ready, s.ready ? 1 : 0);
    };
    const list: Observable[] = Object.values(observables);
    meter.addBatchObservableCallback(callback, list);
    this.#unregister.push(() => meter.removeBatchObservableCallback(callback, list));
  }

  /** One parsed batch: its candidates and decisions. */
  recordRead(candidates: number, commits: number, aborts: number): void {
    for (const set of this.#sets) {
      if (candidates > 0) set.candidates.add(candidates, NO_ATTRIBUTES);
      if (commits > 0) set.decCommits.add(commits, NO_ATTRIBUTES);
      if (aborts > 0) set.decAborts.add(aborts, NO_ATTRIBUTES);
    }
  }

  /** One settled install round. */
  recordInstalls(ok: number, failed: number): void {
    for (const set of this.#sets) {
      if (ok > 0) set.installOk.add(ok, NO_ATTRIBUTES);
      if (failed > 0) set.installErr.add(failed, NO_ATTRIBUTES);
    }
  }

  recordLatencies(l: VersionLatencies): void {
    for (const set of this.#sets) {
      if (l.install !== null) set.installLatency.record(l.install, NO_ATTRIBUTES);
      if (l.candidateToInstall !== null) set.candidateToInstall.record(l.candidateToInstall, NO_ATTRIBUTES);
      if (l.decisionToInstall !== null) set.decisionToInstall.record(l.decisionToInstall, NO_ATTRIBUTES);
      if (l.queueToInstall !== null) set.queueLatency.record(l.queueToInstall, NO_ATTRIBUTES);
      if (l.queueWait !== null) set.queueWait.record(l.queueWait, NO_ATTRIBUTES);
    }
  }

  /** Stops the gauges' callbacks (the instruments themselves belong to their providers). */
  close(): void {
    for (const unregister of this.#unregister.splice(0)) unregister();
  }
}
