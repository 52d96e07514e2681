/**
 * A real headless browser for tests: Debian's `chromium`, driven by `playwright-core` (which
 * ships no browser of its own). When `/usr/bin/chromium` is missing, it is installed with
 * apt-get when running as root (as test/support/kafka/mockBroker.ts does for librdkafka-dev);
 * otherwise browser tests are skipped loudly, and with REQUIRE_BROWSER_TESTS=1 a skip is a
 * failure.
 *
 *   const gate = await browserTestGate();
 *   test('...', { skip: gate.skip }, async (t) => { const browser = await launchBrowser(t); ... });
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

const LOG_PREFIX = '[browser]';
export const CHROMIUM_PATH = '/usr/bin/chromium';
const PACKAGES = ['chromium'];

/** Flags for a headless chromium in a container: no sandbox (root), no GPU, no network chatter. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Thrown when this machine cannot provide a browser (environment, not a bug). */
export class BrowserUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BrowserUnavailableError';
  }
}

/** True when env REQUIRE_BROWSER_TESTS=1: browser tests must run, never skip. */
export function browserTestsRequired(): boolean {
  return process.env['REQUIRE_BROWSER_TESTS'] === '1';
}

function which(cmd: string): string | undefined {
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

function run(cmd: string, args: string[], timeoutMs: number): { ok: boolean; output: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' } });
  return { ok: r.status === 0 && !r.error, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

const tail = (text: string, lines = 15) => text.trim().split('\n').slice(-lines).join('\n');

/** A cross-process lock (mkdir is atomic), so parallel test files don't run apt-get at the same time. */
async function withLock<T>(fn: () => Promise<T> | T): Promise<T> {
  const lock = join(tmpdir(), `talos-browser-install-${process.getuid?.() ?? 'user'}.lock`);
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
      if (Date.now() > deadline) throw new Error(`${LOG_PREFIX} timed out waiting for lock ${lock}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

function aptInstall(): void {
  const why = `${CHROMIUM_PATH} is missing`;
  const aptGet = which('apt-get');
  if (!aptGet) throw new BrowserUnavailableError(`${why}, and apt-get is not available to install it`);
  if (process.getuid?.() !== 0) throw new BrowserUnavailableError(`${why}; install it (apt-get install ${PACKAGES.join(' ')}) or run as root`);
  console.error(`${LOG_PREFIX} ${why}: installing ${PACKAGES.join(' ')} with apt-get (one-time) ...`);
  const started = Date.now();
  const install = () => run(aptGet, ['install', '-y', '-qq', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=120', ...PACKAGES], 900_000);
  let r = install();
  if (!r.ok) {
    console.error(`${LOG_PREFIX} apt-get install failed; running apt-get update once and retrying ...`);
    const u = run(aptGet, ['update', '-qq'], 300_000);
    if (!u.ok) console.error(`${LOG_PREFIX} apt-get update failed:\n${tail(u.output)}`);
    r = install();
  }
  if (!r.ok) throw new BrowserUnavailableError(`apt-get install ${PACKAGES.join(' ')} failed:\n${tail(r.output)}`);
  console.error(`${LOG_PREFIX} installed ${PACKAGES.join(', ')} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

let provisioned: Promise<string> | undefined;

/** The chromium executable, installing it on first use when possible. Throws BrowserUnavailableError otherwise. */
export function ensureChromium(): Promise<string> {
  provisioned ??= (async () => {
    if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
    await withLock(() => {
      if (!existsSync(CHROMIUM_PATH)) aptInstall();
    });
    if (!existsSync(CHROMIUM_PATH)) throw new BrowserUnavailableError(`${CHROMIUM_PATH} still missing after installing ${PACKAGES.join(' ')}`);
    return CHROMIUM_PATH;
  })().catch((e: unknown) => {
    provisioned = undefined;
    throw e;
  });
  return provisioned;
}

export interface BrowserTestGate {
  readonly available: boolean;
  /** For `test(name, { skip: gate.skip }, fn)`: false, or the reason to skip. */
  readonly skip: string | false;
}

let gate: Promise<BrowserTestGate> | undefined;

/**
 * Decides, once per process, whether browser tests can run (installing chromium if needed).
 * Unavailable: a loud notice and a skip reason, or a rejection under REQUIRE_BROWSER_TESTS=1.
 */
export function browserTestGate(): Promise<BrowserTestGate> {
  gate ??= (async (): Promise<BrowserTestGate> => {
    try {
      await ensureChromium();
      return { available: true, skip: false };
    } catch (e) {
      if (!(e instanceof BrowserUnavailableError)) throw e;
      if (browserTestsRequired()) throw new Error(`${LOG_PREFIX} REQUIRE_BROWSER_TESTS=1, but no browser on this machine: ${e.message}`, { cause: e });
      const reason = `browser tests SKIPPED: no chromium on this machine (${e.message})`;
      const bar = '!'.repeat(78);
      console.error(`\n${bar}\n!! ${reason}\n!! Set REQUIRE_BROWSER_TESTS=1 to make this a failure.\n${bar}\n`);
      return { available: false, skip: reason };
    }
  })();
  return gate;
}

/** Launches headless chromium (playwright gives it a fresh temporary profile); closed when `t` ends. */
export async function launchBrowser(t?: { after(fn: () => unknown): void }): Promise<Browser> {
  const executablePath = await ensureChromium();
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  t?.after(() => browser.close().catch(() => undefined));
  return browser;
}
