/**
 * A freshly initialised Postgres cluster kept on disk and copied instead of running initdb
 * again: initdb is most of an embedded server's start-up time (~1.3 s of ~1.5 s), a copy
 * takes a fraction of that. Safe when several processes fill the cache at once.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ClusterTemplate {
  /** The initialised data directory to copy from (never start a server on it). */
  readonly clusterDir: string;
  /** The superuser password the template was initialised with. */
  readonly password: string;
}

/**
 * The template for `key` under `cacheDir`, built with `build(clusterDir, password)` when
 * missing. `key` must change whenever a template would be incompatible (other binaries,
 * other initdb flags). Concurrent builders race harmlessly: each builds in a private
 * directory and the first atomic rename wins.
 */
export async function ensureClusterTemplate(
  cacheDir: string,
  key: string,
  build: (clusterDir: string, password: string) => Promise<void>,
): Promise<ClusterTemplate> {
  const finalDir = path.join(cacheDir, `cluster-${key}`);
  const existing = await readTemplate(finalDir);
  if (existing !== undefined) return existing;

  const buildingDir = `${finalDir}.building-${randomBytes(4).toString('hex')}`;
  await mkdir(buildingDir, { recursive: true });
  // initdb may run as another user (`postgres` when we are root); a strict umask must not lock it out.
  await chmod(buildingDir, 0o755);
  try {
    const password = randomBytes(16).toString('hex');
    await build(path.join(buildingDir, 'cluster'), password);
    // Root-only: whoever reads it can log into every server copied from this template
    // until the copy's password is changed (which startEmbeddedPostgres does at once).
    await writeFile(path.join(buildingDir, 'password'), password, { mode: 0o600 });
    try {
      await rename(buildingDir, finalDir);
    } catch (error) {
      if (!isAlreadyThere(error)) throw error;
    }
  } finally {
    await rm(buildingDir, { recursive: true, force: true });
  }
  const built = await readTemplate(finalDir);
  if (built === undefined) throw new Error(`cluster template ${finalDir} is incomplete`);
  return built;
}

async function readTemplate(dir: string): Promise<ClusterTemplate | undefined> {
  try {
    const password = await readFile(path.join(dir, 'password'), 'utf8');
    return { clusterDir: path.join(dir, 'cluster'), password };
  } catch {
    return undefined;
  }
}

function isAlreadyThere(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'ENOTEMPTY' || code === 'EEXIST';
}

/**
 * Copy a cluster into `target` (created if missing), keeping owners and modes: as root the
 * files belong to the `postgres` user, and Postgres refuses a data directory it does not
 * own or that others can read. Node's fs.cp does not keep owners, `cp -a` does.
 */
export async function copyCluster(source: string, target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  await run('cp', ['-a', `${source}/.`, target]);
  const { uid, gid, mode } = await stat(source);
  await chown(target, uid, gid);
  await chmod(target, mode & 0o777);
}
