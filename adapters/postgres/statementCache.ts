/**
 * Statement caching for the install code's SQL, as asyncpg, pgx and npgsql do it: a
 * parameterized statement the install code sends again and again (the same text, new values)
 * becomes a named prepared statement, which Postgres parses and analyses once per connection
 * instead of once per install (and plans once too, where its plan cache settles on a generic
 * plan). On a banking install that is about a fifth of what the server spends per version
 * (`npm run bench:pg`, case (a') against (a)), although the banking statements still get a
 * custom plan per execution.
 *
 * The install code sees the client it always did: `view(client)` is that same client with only
 * `query` changed, and only for calls that already use the extended protocol with a plain config
 * (`query(text, values)` or `query({ text, values })` with values, no name, no callback, not a
 * submittable such as a cursor). Everything else passes through untouched.
 *
 * - A text is prepared from its second use (one-off statements gain nothing), for at most
 *   `capacity` texts; past that, new texts run unprepared. Nothing is ever deallocated.
 * - Names are `talos_replicator_` + a hash of the text, so every cache, on any connection, gives
 *   a text the same name and two installers sharing a pool never clash.
 * - A prepared statement Postgres will no longer run ("cached plan must not change result type"
 *   after a column change, or one a pooler or DISCARD ALL removed) is dropped from the cache:
 *   its text runs unprepared from then on, and `isStaleStatementError` tells the installer that
 *   the failed transaction can be retried at once.
 *
 * Session state, so: behind a transaction-pooling proxy that does not track protocol-level
 * prepared statements (PgBouncer before 1.21, or with max_prepared_statements = 0) turn it off
 * with a capacity of 0.
 */
import { createHash } from 'node:crypto';
import type { PoolClient } from 'pg';
import { sqlStateOf } from './errors.js';

/** Distinct statement texts one installer prepares (asyncpg's default cache size). */
export const DEFAULT_STATEMENT_CACHE_SIZE = 100;
const NAME_PREFIX = 'talos_replicator_';
/** `cached plan must not change result type` (feature_not_supported) and `prepared statement ... does not exist`. */
const STALE_SQLSTATES: ReadonlySet<string> = new Set(['0A000', '26000']);

export interface StatementCache {
  /** `client` for the install code: the same client, its repeated parameterized queries prepared. */
  view(client: PoolClient): PoolClient;
  /** True for the error of a prepared statement this cache has just dropped: the transaction may be retried. */
  isStaleStatementError(error: unknown): boolean;
}

type QueryFunction = (...args: unknown[]) => unknown;

interface PlainConfig {
  readonly text: string;
  readonly values: readonly unknown[];
  readonly name?: undefined;
}

/** A `query` call this cache may name: a plain config with values, or text and values, and no callback. */
function plainConfig(args: readonly unknown[]): PlainConfig | null {
  const [first, second] = args;
  if (args.length > 2) return null;
  if (typeof first === 'string') {
    return Array.isArray(second) && second.length > 0 ? { text: first, values: second } : null;
  }
  if (args.length !== 1 || typeof first !== 'object' || first === null) return null;
  const config = first as Record<string, unknown>;
  if (typeof config.text !== 'string' || config.name !== undefined || typeof config.submit === 'function' || typeof config.callback === 'function') return null;
  if (!Array.isArray(config.values) || config.values.length === 0) return null;
  return config as unknown as PlainConfig;
}

function statementName(text: string): string {
  return NAME_PREFIX + createHash('sha1').update(text).digest('hex').slice(0, 24);
}

/**
 * A map from statement texts, looked up by length and then compared: the install code builds its
 * texts afresh for every call (concatenated strings), and hashing one for a Map flattens and
 * hashes all of it, which cost more than the rest of the call; comparing walks it in place.
 */
class TextMap<Value> {
  readonly #byLength = new Map<number, Array<{ readonly text: string; value: Value }>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(text: string): Value | undefined {
    const bucket = this.#byLength.get(text.length);
    if (bucket === undefined) return undefined;
    for (let i = 0; i < bucket.length; i++) if (bucket[i]!.text === text) return bucket[i]!.value;
    return undefined;
  }

  set(text: string, value: Value): void {
    const bucket = this.#byLength.get(text.length);
    const entry = bucket?.find((candidate) => candidate.text === text);
    if (entry !== undefined) {
      entry.value = value;
      return;
    }
    if (bucket === undefined) this.#byLength.set(text.length, [{ text, value }]);
    else bucket.push({ text, value });
    this.#size += 1;
  }

  delete(text: string): boolean {
    const bucket = this.#byLength.get(text.length);
    const index = bucket === undefined ? -1 : bucket.findIndex((candidate) => candidate.text === text);
    if (index < 0) return false;
    bucket!.splice(index, 1);
    if (bucket!.length === 0) this.#byLength.delete(text.length);
    this.#size -= 1;
    return true;
  }
}

/** A plain config, named: a copy of it with `name`, without spreading when it is just text and values. */
function withName(config: PlainConfig, name: string): Omit<PlainConfig, 'name'> & { readonly name: string } {
  for (const key in config) if (key !== 'text' && key !== 'values') return { ...config, name };
  return { text: config.text, values: config.values, name };
}

/** A prepared text's name, or that Postgres refused to run it prepared (it stays unprepared). */
const REFUSED = Symbol('refused');

export function createStatementCache(capacity: number = DEFAULT_STATEMENT_CACHE_SIZE): StatementCache {
  if (!Number.isSafeInteger(capacity) || capacity < 0) throw new RangeError(`statementCacheSize must be an integer >= 0, got ${String(capacity)}`);
  /** Prepared texts and their names, and texts refused. */
  const prepared = new TextMap<string | typeof REFUSED>();
  let named = 0;
  /** Texts used once, not yet prepared (bounded: forgotten wholesale when it grows past its cap). */
  let seen = new TextMap<true>();
  const seenCap = Math.max(1_000, capacity * 10);
  /** Errors of prepared statements dropped since (so the installer may retry them at once). */
  const staleErrors = new WeakSet<object>();
  const views = new WeakMap<PoolClient, PoolClient>();

  /** The name to run `text` under, or undefined to run it unprepared. */
  const nameFor = (text: string): string | undefined => {
    const known = prepared.get(text);
    if (known !== undefined) return known === REFUSED ? undefined : known;
    if (named >= capacity) return undefined;
    if (seen.get(text) === undefined) {
      if (seen.size >= seenCap) seen = new TextMap();
      seen.set(text, true);
      return undefined;
    }
    seen.delete(text);
    const name = statementName(text);
    prepared.set(text, name);
    named += 1;
    return name;
  };

  const drop = (text: string, error: unknown) => {
    if (typeof prepared.get(text) === 'string') {
      prepared.set(text, REFUSED);
      named -= 1;
    }
    if (typeof error === 'object' && error !== null) staleErrors.add(error);
  };

  const cachedQuery = (client: PoolClient): QueryFunction => {
    const query = client.query as unknown as QueryFunction;
    return (...args: unknown[]) => {
      const config = plainConfig(args);
      const name = config === null ? undefined : nameFor(config.text);
      if (name === undefined) return query.apply(client, args);
      const text = config!.text;
      const result = query.call(client, withName(config!, name)) as Promise<unknown>;
      return result.catch((error: unknown) => {
        const state = sqlStateOf(error);
        if (state !== undefined && STALE_SQLSTATES.has(state)) drop(text, error);
        throw error;
      });
    };
  };

  return {
    view(client) {
      if (capacity === 0) return client;
      let view = views.get(client);
      if (view === undefined) {
        const query = cachedQuery(client);
        const bound = new Map<PropertyKey, unknown>();
        // The real client stays the receiver of everything else, so its state never splits.
        view = new Proxy(client, {
          get(target, property) {
            if (property === 'query') return query;
            const value: unknown = Reflect.get(target, property, target);
            if (typeof value !== 'function') return value;
            let method = bound.get(property);
            if (method === undefined || (method as { original?: unknown }).original !== value) {
              method = Object.assign((value as QueryFunction).bind(target), { original: value });
              bound.set(property, method);
            }
            return method;
          },
          set(target, property, value) {
            return Reflect.set(target, property, value, target);
          },
        });
        views.set(client, view);
      }
      return view;
    },
    isStaleStatementError(error) {
      return typeof error === 'object' && error !== null && staleErrors.has(error);
    },
  };
}
