/**
 * Watches the replicator from the outside, through XState's inspection API on its actor
 * system: the five events that carry work between the actors tell it everything the metrics
 * and the event timings need, without a hook in any machine or a wrapper around user code.
 *
 *   SOURCE.RECORDS → root        a parsed batch arrived (candidates, decisions)
 *   STATEMAPS      → queue       decided versions handed to the queue
 *   INSTALL        → installer   versions dispatched to the installer
 *   RUN            → pool        install calls started
 *   POOL.SETTLED   → installer   install outcomes
 *
 * It is attached only when something needs it (metrics, the status server, enableStats): with
 * no inspection observer XState skips building inspection events altogether. Per event it
 * does one type test; per batch it loops over the batch only when metrics are on.
 */
import type { AnyEventObject, InspectionEvent } from 'xstate';
import type { ParsedBatch } from '../../machines/messages.js';
// The events' own types, so that a change to an event's shape breaks this file's build.
import type { SourceReport } from '../../machines/cohortReplicator.machine.js';
import type { InstallerEvent, PoolEvent, PoolReport } from '../../machines/installer.machine.js';
import type { StatemapQueueEvent } from '../../machines/statemapQueue.machine.js';
import type { SettledInstall } from '../../machines/statemapQueue.js';
import type { EventTimings } from './eventTimings.js';
import type { ReplicatorMetrics } from './metrics.js';

export class PipelineProbe {
  /** Versions installed successfully by this process. */
  installed = 0;
  /** Failed install attempts (per version). */
  installFailures = 0;
  readonly #metrics: ReplicatorMetrics | null;
  readonly #timings: EventTimings | null;
  readonly #now: () => number;

  constructor(metrics: ReplicatorMetrics | null, timings: EventTimings | null, now: () => number = () => performance.now()) {
    this.#metrics = metrics;
    this.#timings = timings;
    this.#now = now;
  }

  /** The inspection observer; pass it to `actor.system.inspect`. */
  readonly observe = (inspection: InspectionEvent): void => {
    if (inspection.type !== '@xstate.event') return;
    const event = inspection.event as AnyEventObject;
    const target = inspection.actorRef as { id?: string };
    switch (event.type) {
      case 'SOURCE.RECORDS':
        this.#read((event as Extract<SourceReport, { type: 'SOURCE.RECORDS' }>).batch);
        return;
      case 'STATEMAPS':
        if (this.#timings && target.id === 'queue') {
          const at = this.#now();
          for (const entry of (event as Extract<StatemapQueueEvent, { type: 'STATEMAPS' }>).entries) this.#timings.queued(entry.version, at);
        }
        return;
      case 'INSTALL':
        if (this.#timings && target.id === 'installer') {
          const at = this.#now();
          for (const job of (event as Extract<InstallerEvent, { type: 'INSTALL' }>).jobs) this.#timings.sent(job.version, at);
        }
        return;
      case 'RUN':
        if (this.#timings && target.id === 'pool') {
          const at = this.#now();
          for (const job of (event as PoolEvent).jobs) this.#timings.installBegun(job.version, at);
        }
        return;
      case 'POOL.SETTLED':
        if (target.id === 'installer') this.#settled((event as PoolReport).outcomes);
        return;
    }
  };

  #read(batch: ParsedBatch): void {
    const metrics = this.#metrics;
    if (!metrics) return;
    const timings = this.#timings;
    const at = this.#now();
    let candidates = 0;
    let commits = 0;
    let aborts = 0;
    for (const message of batch.messages) {
      if (message.kind === 'candidate') {
        candidates += 1;
        timings?.candidateReceived(message.version, at);
      } else {
        if (message.outcome === 'committed') commits += 1;
        else aborts += 1;
        timings?.decisionReceived(message.version, at);
      }
    }
    metrics.recordRead(candidates, commits, aborts);
  }

  #settled(outcomes: readonly SettledInstall[]): void {
    const at = this.#now();
    let ok = 0;
    for (const outcome of outcomes) {
      if (!outcome.ok) continue;
      ok += 1;
      const latencies = this.#timings?.installed(outcome.version, at);
      if (latencies) this.#metrics?.recordLatencies(latencies);
    }
    const failed = outcomes.length - ok;
    this.installed += ok;
    this.installFailures += failed;
    this.#metrics?.recordInstalls(ok, failed);
  }
}
