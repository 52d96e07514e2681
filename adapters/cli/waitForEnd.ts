/** Resolves with the root actor's output once it reaches a final state. */
import type { CohortReplicator } from '../createCohortReplicator.js';
import type { CohortReplicatorOutput } from '../../machines/cohortReplicator.machine.js';

export function waitForEnd(replicator: CohortReplicator): Promise<CohortReplicatorOutput> {
  return new Promise((resolve, reject) => {
    const subscription = replicator.subscribe({
      next: (snapshot) => {
        if (snapshot.status === 'done') {
          subscription.unsubscribe();
          resolve(snapshot.output!);
        }
      },
      error: (error) => reject(error),
    });
  });
}
