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
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { aptInstall, provisionGate, withLock, type TestGate } from './provisioning.js';

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

function installChromium(): void {
  aptInstall({ packages: PACKAGES, why: `${CHROMIUM_PATH} is missing`, unavailable: (message) => new BrowserUnavailableError(message), prefix: LOG_PREFIX });
}

let provisioned: Promise<string> | undefined;

/** The chromium executable, installing it on first use when possible. Throws BrowserUnavailableError otherwise. */
export function ensureChromium(): Promise<string> {
  provisioned ??= (async () => {
    if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
    const lock = join(tmpdir(), `talos-browser-install-${process.getuid?.() ?? 'user'}.lock`);
    await withLock(
      lock,
      () => {
        if (!existsSync(CHROMIUM_PATH)) installChromium();
      },
      LOG_PREFIX,
    );
    if (!existsSync(CHROMIUM_PATH)) throw new BrowserUnavailableError(`${CHROMIUM_PATH} still missing after installing ${PACKAGES.join(' ')}`);
    return CHROMIUM_PATH;
  })().catch((e: unknown) => {
    provisioned = undefined;
    throw e;
  });
  return provisioned;
}

export type BrowserTestGate = TestGate;

let gate: Promise<BrowserTestGate> | undefined;

/**
 * Decides, once per process, whether browser tests can run (installing chromium if needed).
 * Unavailable: a loud notice and a skip reason, or a rejection under REQUIRE_BROWSER_TESTS=1.
 */
export function browserTestGate(): Promise<BrowserTestGate> {
  gate ??= provisionGate({
    provision: ensureChromium,
    isUnavailable: (e) => e instanceof BrowserUnavailableError,
    what: 'browser tests',
    missing: 'no chromium on this machine',
    requiredVariable: 'REQUIRE_BROWSER_TESTS',
    prefix: LOG_PREFIX,
  });
  return gate;
}

export async function launchBrowser(t?: { after(fn: () => unknown): void }): Promise<Browser> {
  const executablePath = await ensureChromium();
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  t?.after(() => browser.close().catch(() => undefined));
  return browser;
}
