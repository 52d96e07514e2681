/**
 * The statemap queue, the suffix and the installer's backlog are mutable structures that live in
 * their machine's context and are edited in place; only with `persistentData` (the model-based
 * tests, which branch from every state) is each edit made on a copy, which must then be assigned.
 * Assigning the live structure again would change nothing but cost a copy of the context and of
 * the snapshot on every event of the hot path (about a sixth of what the pipeline allocates per
 * install outcome), so it is skipped.
 */

/** Assigns `edited` as `context[key]` unless it already is (edited in place). */
export function assignIfCopied<Context, Key extends keyof Context>(
  context: Context,
  key: Key,
  edited: Context[Key],
  enqueue: { assign(values: Partial<Context>): void },
): void {
  if (edited !== context[key]) enqueue.assign({ [key]: edited } as unknown as Partial<Context>);
}
