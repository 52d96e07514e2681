/**
 * Membership of the group that shares the certification log: connects the source (retrying until
 * the broker answers), reports each gain and loss of ownership to the failover machine, and on
 * LEAVE disconnects so another member takes over at once.
 */
import type { Observable } from 'rxjs';
import { fromCallback } from 'xstate';
import type { MembershipCommand, MembershipReport } from '../machines/failover.machine.js';

export type OwnershipChange =
  | { readonly type: 'gained'; readonly partition: number }
  | { readonly type: 'lost'; readonly reason: string }
  | { readonly type: 'fatal'; readonly error: Error };

/** A log shared by a group, of which one member at a time owns the reading. */
export interface SharedLog {
  readonly ownership: Observable<OwnershipChange>;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
}

export function createMembership(log: SharedLog) {
  return fromCallback<MembershipCommand>(({ sendBack, receive }) => {
    const report = (event: MembershipReport) => sendBack(event);
    const subscription = log.ownership.subscribe((change) => {
      if (change.type === 'gained') report({ type: 'MEMBERSHIP.OWNED' });
      else if (change.type === 'lost') report({ type: 'MEMBERSHIP.LOST', reason: change.reason });
      else report({ type: 'MEMBERSHIP.FATAL', error: change.error });
    });
    let leaving = false;
    log.connect().catch((error: unknown) => report({ type: 'MEMBERSHIP.FATAL', error: error instanceof Error ? error : new Error(String(error)) }));
    receive((command) => {
      if (command.type !== 'LEAVE' || leaving) return;
      leaving = true;
      subscription.unsubscribe();
      log
        .disconnect()
        .catch(() => {})
        .finally(() => report({ type: 'MEMBERSHIP.LEFT' }));
    });
    return () => subscription.unsubscribe();
  });
}
