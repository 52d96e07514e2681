/**
 * What the tests that need a machine-level tool share (the mock Kafka broker's librdkafka-dev
 * and gcc, Debian's chromium): finding a command, running one, a cross-process lock so parallel
 * test files do not run apt-get or gcc at once, installing Debian packages as root, and the
 * gate that turns "not on this machine" into a loud skip, or into a failure when the matching
 * REQUIRE_*_TESTS=1 is set (as .ci/run does).
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

export function which(cmd: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    try {
      if (statSync(join(dir, cmd)).isFile()) return join(dir, cmd);
    } catch {
      // not here
    }
  }
  return undefined;
}

export function run(cmd: string, args: string[], timeoutMs: number): { ok: boolean; output: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' } });
  return { ok: r.status === 0 && !r.error, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

export function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Runs `fn` holding the lock directory `lock` (mkdir is atomic); a lock older than 10 minutes is stale. */
export async function withLock<T>(lock: string, fn: () => Promise<T> | T, prefix: string): Promise<T> {
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - (await stat(lock)).mtimeMs > 10 * 60_000) {
          await rm(lock, { recursive: true, force: true }); // stale: its owner died
          continue;
        }
      } catch {
        continue; // vanished meanwhile
      }
      if (Date.now() > deadline) throw new Error(`${prefix} timed out waiting for lock ${lock}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

export interface AptInstallOptions {
  readonly packages: readonly string[];
  /** Why they are needed, e.g. "missing librdkafka-dev". */
  readonly why: string;
  /** The error for "this machine cannot have them" (a skip, not a bug). */
  readonly unavailable: (message: string) => Error;
  /** Log prefix, e.g. "[mock-kafka]". */
  readonly prefix: string;
  /** Set to "1" to forbid installing (the name of an environment variable), if any. */
  readonly noInstallVariable?: string;
  readonly timeoutMs?: number;
}

let aptUpdated = false;

/** Installs packages with apt-get as root; runs `apt-get update` once when the first attempt fails. */
export function aptInstall(options: AptInstallOptions): void {
  const { packages, why, unavailable, prefix } = options;
  if (options.noInstallVariable && process.env[options.noInstallVariable] === '1') {
    throw unavailable(`${why}, and ${options.noInstallVariable}=1 forbids installing it`);
  }
  const aptGet = which('apt-get');
  if (!aptGet) throw unavailable(`${why}, and apt-get is not available to install it`);
  if (process.getuid?.() !== 0) throw unavailable(`${why}; install it (apt-get install ${packages.join(' ')}) or run as root`);
  console.error(`${prefix} ${why}: installing ${packages.join(' ')} with apt-get (one-time) ...`);
  const started = Date.now();
  const install = () => run(aptGet, ['install', '-y', '-qq', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=120', ...packages], options.timeoutMs ?? 900_000);
  let r = install();
  if (!r.ok && !aptUpdated) {
    console.error(`${prefix} apt-get install failed; running apt-get update once and retrying ...`);
    aptUpdated = true;
    const u = run(aptGet, ['update', '-qq'], 300_000);
    if (!u.ok) console.error(`${prefix} apt-get update failed:\n${tail(u.output)}`);
    r = install();
  }
  if (!r.ok) throw unavailable(`apt-get install ${packages.join(' ')} failed:\n${tail(r.output)}`);
  console.error(`${prefix} installed ${packages.join(', ')} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

export interface TestGate {
  /** Whether the tool can be had on this machine. */
  readonly available: boolean;
  /** For `test(name, { skip: gate.skip }, fn)` / `describe(...)`: false, or the reason to skip. */
  readonly skip: string | false;
}

/**
 * Provisions a tool once: available, or a loud notice and a skip reason, or (when the
 * `requiredVariable` is "1") a rejection, so that a CI run cannot skip silently. Errors other
 * than `isUnavailable` ones (a compile error, say) always reject.
 */
export async function provisionGate(options: {
  readonly provision: () => Promise<unknown>;
  readonly isUnavailable: (error: unknown) => boolean;
  /** e.g. "Kafka tests" */
  readonly what: string;
  /** e.g. "no mock Kafka broker on this machine" */
  readonly missing: string;
  readonly requiredVariable: string;
  readonly prefix: string;
}): Promise<TestGate> {
  try {
    await options.provision();
    return { available: true, skip: false };
  } catch (e) {
    if (!options.isUnavailable(e)) throw e;
    const message = (e as Error).message;
    if (process.env[options.requiredVariable] === '1') {
      throw new Error(`${options.prefix} ${options.requiredVariable}=1, but ${options.missing}: ${message}`, { cause: e });
    }
    const reason = `${options.what} SKIPPED: ${options.missing} (${message})`;
    const bar = '!'.repeat(78);
    console.error(`\n${bar}\n!! ${reason}\n!! Set ${options.requiredVariable}=1 to make this a failure.\n${bar}\n`);
    return { available: false, skip: reason };
  }
}
