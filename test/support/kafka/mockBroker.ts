/**
 * A real Kafka-protocol broker for tests: librdkafka's mock cluster
 * (`rdkafka_mock.h` from Debian's `librdkafka-dev`), hosted by the small C
 * program `test/support/kafka/mock-broker.c`.
 *
 * `startMockKafka()` makes sure the headers exist (installing `librdkafka-dev`
 * with apt-get when running as root), compiles the host once into a cache
 * directory keyed by a hash of the sources, spawns it and reads its bootstrap
 * address.  When no broker can be had, it throws `KafkaUnavailableError`;
 * `kafkaTestGate()` turns that into a loud skip, or into a failure when
 * `REQUIRE_KAFKA_TESTS=1`.
 *
 * Behaviour of the mock (librdkafka 2.0.2) that tests must know about:
 * - Brokers listen on 127.0.0.1 on kernel-chosen ports; ids are 1..N and
 *   `brokers[i]` is broker id i+1.  A broker taken down keeps its port.
 * - There is no CreateTopics/DeleteTopics/DescribeGroups API: kafkajs'
 *   `admin.createTopics()` fails.  Create topics with the `topics` option or
 *   `createTopic()`, or let Metadata/Produce auto-create them (4 partitions).
 * - Each partition keeps at most ~5 MiB or 100 000 produced batches; older
 *   batches are dropped, so produce and consume concurrently for large runs.
 * - A consumer group's first join waits a fixed 3 s before the leader is
 *   elected.  A consumer that rejoins a group someone just left waits up to
 *   (sessionTimeout - 1 s) of the member that left, and so does every member
 *   when one joins a running group: use `FAST_MOCK_CONSUMER_CONFIG`.
 *   Disconnect all consumers of a group together (Promise.all): disconnecting
 *   them one by one makes the remaining ones rebalance in between.
 * - A sync ends only once the leader's SyncGroup assigns every member: with
 *   more members than partitions, kafkajs' round-robin assigner leaves some
 *   out and the group never stabilises (the leader's connection blocks in
 *   SyncGroup until the session timeout, then it all starts over). The sync
 *   also ends as soon as the leader's assignments are in, and a follower's
 *   SyncGroup that arrives later gets INVALID_REQUEST (kafkajs crashes the
 *   consumer without restarting it). The replicator's assigner
 *   (adapters/kafka/singleOwnerAssigner.ts) copes with both.
 * - Member ids are pointers ("0x7f..."): their order is arbitrary.
 * - No DescribeGroups/ListGroups either: kafkajs `admin.setOffsets()`,
 *   `resetOffsets()`, `describeGroups()`, `listGroups()` fail;
 *   `admin.fetchOffsets()` and `fetchTopicOffsets()` work.
 * - A committed offset is stored as sent (Kafka convention: the next offset
 *   to read); commits are refused with REBALANCE_IN_PROGRESS while the group
 *   is joining/syncing.
 * - A control command occasionally takes ~1 s (the mock thread notices it at
 *   its next poll timeout).
 * - Fetch with no data waits the full maxWaitTimeInMs even if data arrives
 *   meanwhile (kafkajs default: 5 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsConstants, existsSync, readFileSync } from 'node:fs';
import { access, chmod, mkdir, readFile, rename, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { aptInstall, provisionGate, run, tail, which, withLock, type TestGate } from '../provisioning.js';

const LOG_PREFIX = '[mock-kafka]';
export const RDKAFKA_MOCK_HEADER = '/usr/include/librdkafka/rdkafka_mock.h';
const RDKAFKA_HEADER = '/usr/include/librdkafka/rdkafka.h';
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/** Thrown when this machine cannot provide a mock Kafka broker (environment, not a bug). */
export class KafkaUnavailableError extends Error {
  readonly code = 'KAFKA_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KafkaUnavailableError';
  }
}

export interface MockKafkaTopic {
  name: string;
  /** Default 1. */
  partitions?: number;
  /** Default min(3, brokers); clamped to the broker count. */
  replicationFactor?: number;
}

export interface MockKafkaOptions {
  /** Topics to create before the bootstrap address is returned. A string means 1 partition. */
  topics?: ReadonlyArray<string | MockKafkaTopic>;
  /** Number of brokers (ids 1..n). Default 1. */
  brokers?: number;
  /** librdkafka `debug=mock` logging, forwarded to this process's stderr. Also env TALOS_MOCK_KAFKA_DEBUG=1. */
  debug?: boolean;
  /** How long to wait for the bootstrap line. Default 15 000 ms. */
  startTimeoutMs?: number;
}

export interface MockKafka {
  /** One address per broker, in broker id order: `brokers[0]` is broker id 1. */
  readonly brokers: string[];
  /** The comma-separated bootstrap list as printed by the host. */
  readonly bootstrap: string;
  readonly pid: number;
  /** Refuses new connections and drops existing ones (id -1: all brokers). Leadership does not move. */
  setBrokerDown(id: number): Promise<void>;
  /** Accepts connections again on the same port (id -1: all brokers). */
  setBrokerUp(id: number): Promise<void>;
  /** Adds round-trip latency to a broker's responses (id -1: all brokers). */
  setBrokerRtt(id: number, rttMs: number): Promise<void>;
  /** Creates a topic; rejects if it exists. */
  createTopic(name: string, partitions?: number, replicationFactor?: number): Promise<void>;
  setPartitionLeader(topic: string, partition: number, brokerId: number): Promise<void>;
  setGroupCoordinator(groupId: string, brokerId: number): Promise<void>;
  /** The next requests with this Kafka API key fail with these error codes, one per request. */
  pushRequestErrors(apiKey: number, ...errorCodes: number[]): Promise<void>;
  /** Sends a raw command line (see mock-broker.c) and waits for its "ok". */
  command(line: string): Promise<void>;
  /** The tail of the host's stderr (diagnostics). */
  stderrTail(): string;
  /** Stops the host (idempotent). Never rejects. */
  stop(): Promise<void>;
}

/**
 * kafkajs consumer settings that make the mock fast without making it flaky.
 * Spread into `kafka.consumer({ groupId, ...FAST_MOCK_CONSUMER_CONFIG })`.
 *
 * - sessionTimeout: after a member leaves, the mock waits (sessionTimeout -
 *   1 s) of the group's members before electing a leader for whoever joins
 *   next, so a restarted consumer rejoins in ~3 s instead of ~29 s with
 *   kafkajs' default of 30 s. It must stay well above 3 s: a group's first
 *   join waits a fixed 3 s, and the mock's session check (every 1 s) evicts a
 *   still-joining member whose session expired, after which kafkajs'
 *   JoinGroup hangs until its request timeout (rebalanceTimeout + 5 s).
 * - maxWaitTimeInMs: the mock answers an empty fetch only after the full
 *   wait, even when data arrives meanwhile (kafkajs default 5 s).
 */
export const FAST_MOCK_CONSUMER_CONFIG = {
  sessionTimeout: 4000,
  heartbeatInterval: 300,
  rebalanceTimeout: 10_000,
  maxWaitTimeInMs: 100,
  retry: { initialRetryTime: 100, retries: 10 },
} as const;

/** kafkajs client retry settings suited to the mock (reconnects within a couple of seconds). */
export const FAST_MOCK_CLIENT_CONFIG = {
  connectionTimeout: 1000,
  requestTimeout: 10_000,
  retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 10 },
} as const;

// ---------------------------------------------------------------------------
// Locating files

let cachedRoot: string | undefined;

/** The repository root: the nearest ancestor of this module containing package.json. */
export function repoRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return (cachedRoot = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`${LOG_PREFIX} no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export function mockBrokerSourcePath(): string {
  return join(repoRoot(), 'test', 'support', 'kafka', 'mock-broker.c');
}

/** node_modules/.cache/talos-mock-kafka when writable, else a per-user directory in os.tmpdir(). */
async function cacheDir(): Promise<string> {
  const candidates = [join(repoRoot(), 'node_modules', '.cache', 'talos-mock-kafka')];
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  candidates.push(join(tmpdir(), `talos-mock-kafka-${uid}`));
  for (const dir of candidates) {
    try {
      await mkdir(dir, { recursive: true });
      await access(dir, fsConstants.W_OK);
      return dir;
    } catch {
      // not writable here: try the next one
    }
  }
  throw new Error(`${LOG_PREFIX} no writable cache directory among ${candidates.join(', ')}`);
}

// ---------------------------------------------------------------------------
// Provisioning: headers, compiler, binary

function installPackages(packages: string[]): void {
  aptInstall({
    packages,
    why: `missing ${packages.join(', ')}`,
    unavailable: (message) => new KafkaUnavailableError(message),
    prefix: LOG_PREFIX,
    noInstallVariable: 'TALOS_MOCK_KAFKA_NO_INSTALL',
    timeoutMs: 600_000,
  });
}

function missingPackages(): string[] {
  const missing: string[] = [];
  if (!existsSync(RDKAFKA_MOCK_HEADER)) missing.push('librdkafka-dev');
  if (!which('gcc')) missing.push('gcc', 'libc6-dev');
  return missing;
}

async function provisionBinary(source: string, name: string): Promise<string> {
  if (!existsSync(source)) throw new Error(`${LOG_PREFIX} C host source not found at ${source}`);
  const dir = await cacheDir();

  return withLock(join(dir, 'lock'), async () => {
    const missing = missingPackages();
    if (missing.length > 0) installPackages(missing);
    if (!existsSync(RDKAFKA_MOCK_HEADER)) {
      throw new KafkaUnavailableError(`${RDKAFKA_MOCK_HEADER} still missing after installing librdkafka-dev`);
    }
    const gcc = which('gcc');
    if (!gcc) throw new KafkaUnavailableError('gcc still missing after installing it');

    const hash = createHash('sha256');
    hash.update(await readFile(source));
    for (const h of [RDKAFKA_HEADER, RDKAFKA_MOCK_HEADER]) hash.update(readFileSync(h));
    const binary = join(dir, `${name}-${hash.digest('hex').slice(0, 16)}`);
    if (existsSync(binary)) return binary;

    console.error(`${LOG_PREFIX} compiling ${source} -> ${binary}`);
    const tmp = `${binary}.tmp-${process.pid}`;
    const r = run(gcc, ['-O2', '-Wall', '-o', tmp, source, '-lrdkafka'], 120_000);
    if (!r.ok) {
      await rm(tmp, { force: true });
      // The headers are there, so this is a real problem: not a reason to skip.
      throw new Error(`${LOG_PREFIX} compiling ${source} failed:\n${tail(r.output, 40)}`);
    }
    await chmod(tmp, 0o755);
    await rename(tmp, binary);
    return binary;
  }, LOG_PREFIX);
}

let binaryPromise: Promise<string> | undefined;

/**
 * Returns the path of the compiled host, installing librdkafka-dev and
 * compiling on first use. Throws KafkaUnavailableError when that is impossible.
 */
export function ensureMockKafkaBinary(): Promise<string> {
  binaryPromise ??= provisionBinary(mockBrokerSourcePath(), 'mock-broker').catch((e: unknown) => {
    binaryPromise = undefined;
    throw e;
  });
  return binaryPromise;
}

let producerPromise: Promise<string> | undefined;

/** The compiled `log-producer` (test/support/kafka/log-producer.c): a librdkafka producer for benchmarks. */
export function ensureLogProducerBinary(): Promise<string> {
  producerPromise ??= provisionBinary(join(repoRoot(), 'test', 'support', 'kafka', 'log-producer.c'), 'log-producer').catch((e: unknown) => {
    producerPromise = undefined;
    throw e;
  });
  return producerPromise;
}

// ---------------------------------------------------------------------------
// Running brokers

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort for brokers nobody stopped: 'exit' handlers must be synchronous.
  // (The host also exits when its stdin closes or its parent dies.)
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

function validateTopic(name: string, partitions: number, rf?: number): void {
  if (!TOPIC_NAME.test(name)) throw new Error(`${LOG_PREFIX} invalid topic name ${JSON.stringify(name)}`);
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`${LOG_PREFIX} invalid partition count ${partitions}`);
  if (rf !== undefined && (!Number.isInteger(rf) || rf < 1)) throw new Error(`${LOG_PREFIX} invalid replication factor ${rf}`);
}

function validateId(id: number): void {
  if (!Number.isInteger(id) || id < -1) throw new Error(`${LOG_PREFIX} invalid broker id ${id}`);
}

/** Starts a mock cluster. Throws KafkaUnavailableError when this machine cannot provide one. */
export async function startMockKafka(options: MockKafkaOptions = {}): Promise<MockKafka> {
  const brokerCount = options.brokers ?? 1;
  if (!Number.isInteger(brokerCount) || brokerCount < 1 || brokerCount > 64) {
    throw new Error(`${LOG_PREFIX} brokers must be an integer in 1..64, got ${brokerCount}`);
  }
  const debug = options.debug ?? process.env['TALOS_MOCK_KAFKA_DEBUG'] === '1';
  const args = ['--brokers', String(brokerCount)];
  for (const t of options.topics ?? []) {
    const topic: MockKafkaTopic = typeof t === 'string' ? { name: t } : t;
    const partitions = topic.partitions ?? 1;
    validateTopic(topic.name, partitions, topic.replicationFactor);
    args.push('--topic', `${topic.name}:${partitions}${topic.replicationFactor ? `:${topic.replicationFactor}` : ''}`);
  }
  if (debug) args.push('--debug');

  const binary = await ensureMockKafkaBinary();
  installExitHook();

  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  // Don't let a forgotten broker keep the test process alive; pending
  // commands hold a (ref'd) timer while they wait.
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as Socket | null)?.unref?.();

  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-65_536);
    if (debug) process.stderr.write(chunk);
  });
  child.stdin?.on('error', () => {
    // EPIPE after the host exited: reported through 'exit'.
  });

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    // 'close' rather than 'exit': by then stderr has been read to the end.
    child.once('close', (code, signal) => {
      exited = { code, signal };
      live.delete(child);
      resolve();
    });
  });
  let spawnError: Error | undefined;
  child.once('error', (e) => {
    spawnError = e;
    live.delete(child);
  });

  type Pending = { resolve: () => void; reject: (e: Error) => void; line: string };
  const pending: Pending[] = [];
  let onBootstrap: ((line: string) => void) | undefined;
  let bootstrapLine: string | undefined;

  const describeExit = (): string =>
    spawnError
      ? `failed to spawn: ${spawnError.message}`
      : `exited (code ${exited?.code ?? '?'}, signal ${exited?.signal ?? 'none'})${stderr ? `; stderr:\n${tail(stderr)}` : ''}`;

  const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (bootstrapLine === undefined) {
      bootstrapLine = line.trim();
      onBootstrap?.(bootstrapLine);
      return;
    }
    const p = pending.shift();
    if (!p) return;
    if (line === 'ok' || line.startsWith('ok ')) p.resolve();
    else p.reject(new Error(`${LOG_PREFIX} command "${p.line}" failed: ${line.replace(/^err /, '')}`));
  });
  void exitPromise.then(() => {
    for (const p of pending.splice(0)) p.reject(new Error(`${LOG_PREFIX} command "${p.line}": broker ${describeExit()}`));
  });

  const startTimeoutMs = options.startTimeoutMs ?? 15_000;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${LOG_PREFIX} no bootstrap line within ${startTimeoutMs} ms; stderr:\n${tail(stderr)}`)), startTimeoutMs);
      onBootstrap = () => {
        clearTimeout(timer);
        resolve();
      };
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`${LOG_PREFIX} failed to spawn ${binary}: ${e.message}`));
      });
      void exitPromise.then(() => {
        clearTimeout(timer);
        reject(new Error(`${LOG_PREFIX} mock broker ${describeExit()}`));
      });
    });
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }

  const bootstrap = bootstrapLine ?? '';
  const brokers = bootstrap.split(',').filter(Boolean);
  if (brokers.length !== brokerCount) {
    child.kill('SIGKILL');
    throw new Error(`${LOG_PREFIX} expected ${brokerCount} broker address(es), got ${JSON.stringify(bootstrap)}`);
  }

  const command = (line: string, timeoutMs = 10_000): Promise<void> => {
    if (/[\r\n]/.test(line)) return Promise.reject(new Error(`${LOG_PREFIX} command must be a single line`));
    if (exited || spawnError) return Promise.reject(new Error(`${LOG_PREFIX} command "${line}": broker ${describeExit()}`));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = pending.indexOf(entry);
        // Keep the slot so later replies still line up; just fail this waiter.
        if (i >= 0) pending[i] = { ...entry, resolve: () => {}, reject: () => {} };
        reject(new Error(`${LOG_PREFIX} command "${line}" got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const entry: Pending = {
        line,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      pending.push(entry);
      child.stdin!.write(`${line}\n`);
    });
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (exited || spawnError) return;
      const waitExit = (ms: number): Promise<boolean> => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
        return Promise.race([exitPromise.then(() => true), timeout]).finally(() => clearTimeout(timer));
      };
      child.stdin?.end(); // the host exits at end of stdin
      if (await waitExit(3000)) return;
      child.kill('SIGTERM');
      if (await waitExit(2000)) return;
      child.kill('SIGKILL');
      await waitExit(2000);
    })();
    return stopping;
  };

  return {
    brokers,
    bootstrap,
    pid: child.pid ?? -1,
    setBrokerDown: (id) => (validateId(id), command(`down ${id}`)),
    setBrokerUp: (id) => (validateId(id), command(`up ${id}`)),
    setBrokerRtt: (id, rttMs) => (validateId(id), command(`rtt ${id} ${Math.max(0, Math.round(rttMs))}`)),
    createTopic: (name, partitions = 1, rf) => {
      validateTopic(name, partitions, rf);
      return command(`create ${name} ${partitions}${rf ? ` ${rf}` : ''}`);
    },
    setPartitionLeader: (topic, partition, brokerId) => {
      validateTopic(topic, 1);
      validateId(brokerId);
      return command(`leader ${topic} ${partition} ${brokerId}`);
    },
    setGroupCoordinator: (groupId, brokerId) => {
      if (!/^\S+$/.test(groupId)) return Promise.reject(new Error(`${LOG_PREFIX} group id must not contain whitespace`));
      validateId(brokerId);
      return command(`coordinator group ${groupId} ${brokerId}`);
    },
    pushRequestErrors: (apiKey, ...errorCodes) => command(`errors ${apiKey} ${errorCodes.join(' ')}`),
    command: (line) => command(line),
    stderrTail: () => stderr,
    stop,
  };
}

// ---------------------------------------------------------------------------
// node:test integration

/** True when env REQUIRE_KAFKA_TESTS=1: Kafka tests must run, never skip. */
export function kafkaTestsRequired(): boolean {
  return process.env['REQUIRE_KAFKA_TESTS'] === '1';
}

export type KafkaTestGate = TestGate;

let gatePromise: Promise<KafkaTestGate> | undefined;

/**
 * Decides, once per process, whether Kafka tests can run: provisions the
 * broker binary (installing/compiling as needed). Use with top-level await:
 *
 *   const gate = await kafkaTestGate();
 *   describe('kafka things', { skip: gate.skip }, () => { ... });
 *
 * When unavailable it prints a loud notice and returns a skip reason; with
 * REQUIRE_KAFKA_TESTS=1 it rejects instead, so the test file fails. Errors
 * that are not about availability (e.g. the C host fails to compile) always
 * reject.
 */
export function kafkaTestGate(): Promise<KafkaTestGate> {
  gatePromise ??= provisionGate({
    provision: ensureMockKafkaBinary,
    isUnavailable: (e) => e instanceof KafkaUnavailableError,
    what: 'Kafka tests',
    missing: 'no mock Kafka broker on this machine',
    requiredVariable: 'REQUIRE_KAFKA_TESTS',
    prefix: LOG_PREFIX,
  });
  return gatePromise;
}

/**
 * Convenience for a single test: starts a broker, or skips `t` loudly (or
 * throws under REQUIRE_KAFKA_TESTS=1) and returns undefined. The broker is
 * stopped when the test ends, pass or fail.
 */
export async function mockKafkaForTest(
  t: { skip(message?: string): void; after(fn: () => unknown): void },
  options?: MockKafkaOptions,
): Promise<MockKafka | undefined> {
  const gate = await kafkaTestGate();
  if (!gate.available) {
    t.skip(gate.skip || 'mock Kafka unavailable');
    return undefined;
  }
  const kafka = await startMockKafka(options);
  t.after(() => kafka.stop());
  return kafka;
}
