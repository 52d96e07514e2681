/**
 * The lifecycle of one version in the statemap queue.
 *
 *   awaiting.ready ──DISPATCH──▶ inflight ──INSTALL_SUCCEEDED──▶ installed
 *        ▲   ▲                     │  │
 *        │   └──INSTALL_CANCELLED──┘  └──INSTALL_FAILED──▶ awaiting.backingOff ──RETRY_DUE──▶ awaiting.ready
 *        │                                  (no attempts left) ──▶ failed
 *        │                                  (version covered by a refreshed snapshot) ──▶ installed
 *   COVERED_BY_SNAPSHOT (from anywhere in awaiting) ──▶ installed
 *
 * This machine is the single source of truth for an item's states. The queue does not run
 * one actor per item (far too slow, see docs/architecture.md); it runs the table that
 * `queueItem.lifecycle.ts` derives from this definition, and the tests prove both agree.
 */
import { setup } from 'xstate';

export type QueueItemEvent =
  | { readonly type: 'DISPATCH' }
  | { readonly type: 'INSTALL_SUCCEEDED' }
  /**
   * `attempts` counts this failed attempt; `maxAttempts` is the configured limit (Infinity: retry
   * forever, like Talos). `covered`: the store's snapshot already covers the version (someone else
   * installed it while this attempt ran), so the failure does not matter.
   */
  | { readonly type: 'INSTALL_FAILED'; readonly attempts: number; readonly maxAttempts: number; readonly covered: boolean }
  /** The installer gave the item back without trying it (the replicator is draining). */
  | { readonly type: 'INSTALL_CANCELLED' }
  | { readonly type: 'RETRY_DUE' }
  /** The snapshot already covers this version: someone installed it before we got to it. */
  | { readonly type: 'COVERED_BY_SNAPSHOT' };

export const queueItemMachine = setup({
  types: {
    events: {} as QueueItemEvent,
  },
  guards: {
    attemptsLeft: ({ event }) => event.type === 'INSTALL_FAILED' && event.attempts < event.maxAttempts,
    coveredBySnapshot: ({ event }) => event.type === 'INSTALL_FAILED' && event.covered,
  },
}).createMachine({
  id: 'queueItem',
  initial: 'awaiting',
  states: {
    awaiting: {
      initial: 'ready',
      description: 'Not installed yet. Ready items are dispatched as soon as every version up to their safepoint is installed.',
      states: {
        ready: {
          on: { DISPATCH: '#queueItem.inflight' },
        },
        backingOff: {
          description: 'A failed install waits out its exponential backoff (with jitter) before it may be dispatched again.',
          on: { RETRY_DUE: 'ready' },
        },
      },
      on: { COVERED_BY_SNAPSHOT: 'installed' },
    },
    inflight: {
      description: 'Handed to the installer; exactly one install of it is pending.',
      on: {
        INSTALL_SUCCEEDED: 'installed',
        INSTALL_FAILED: [{ guard: 'coveredBySnapshot', target: 'installed' }, { guard: 'attemptsLeft', target: 'awaiting.backingOff' }, { target: 'failed' }],
        INSTALL_CANCELLED: 'awaiting.ready',
      },
    },
    installed: { type: 'final' },
    failed: {
      type: 'final',
      description: 'Out of attempts. The snapshot never passes this version and the replicator stops with an error naming it.',
    },
  },
});

export type QueueItemEventType = QueueItemEvent['type'];
