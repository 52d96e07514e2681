/**
 * The status page in a real headless browser (Debian's chromium through playwright-core): it
 * loads with nothing fetched from elsewhere, follows a replication live, and shows a failure
 * injected into it. Skipped loudly when no chromium can be had (a failure under
 * REQUIRE_BROWSER_TESTS=1), see test/support/browser.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCohortReplicator, createMemorySource, silentLogger } from '../../index.js';
import { browserTestGate, launchBrowser } from '../support/browser.js';
import { memoryStore, transactionLog } from '../support/observedRun.js';

const gate = await browserTestGate();

/** The little of the DOM the page functions below use (this project compiles without lib.dom). */
declare const document: { querySelector(selector: string): { textContent: string | null } | null };

/** The number a tile shows ("12,345" → 12345; "–" → NaN). */
const tileNumber = (text: string | null) => Number((text ?? '').replace(/,/g, ''));

test('the status page loads, updates while a replication runs, and shows an injected failure', { skip: gate.skip }, async (t) => {
  const browser = await launchBrowser(t);
  const source = createMemorySource({ maxBatch: 50 });
  const log = transactionLog(4000, { abortEvery: 7, safepointLag: 20 });
  let failing = false;
  const replicator = createCohortReplicator({
    source,
    installer: {
      install: async (_statemaps, version) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (failing) throw new Error(`injected failure installing version ${version}`);
      },
    },
    snapshotStore: memoryStore(),
    logger: silentLogger,
    config: {
      statemapInstallerThreadpool: 4,
      maxInstallAttempts: 2,
      installRetry: { initialDelayMs: 5, maxDelayMs: 10 },
      statemapQueueCleanupFreqMs: 50,
      certifierMessageReceiverCommitFreqMs: 50,
    },
    statusPort: 0,
  });
  t.after(() => replicator.observability.close());
  const { statusUrl } = await replicator.observability.ready();
  replicator.start();
  // A steady trickle, so the page has something to follow.
  let fed = 0;
  const feeder = setInterval(() => {
    if (fed < log.records.length) source.push(log.records.slice(fed, (fed += 60)));
  }, 50);
  t.after(() => clearInterval(feeder));

  const page = await browser.newPage();
  const elsewhere: string[] = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(statusUrl!)) elsewhere.push(request.url());
  });
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(statusUrl!);
  assert.equal(await page.title(), 'Talos cohort replicator');

  // Live: connected, ready, and the snapshot moving.
  await page.waitForFunction(() => document.querySelector('[data-testid=connection]')?.textContent === 'live');
  await page.waitForFunction(() => document.querySelector('[data-testid=health]')?.textContent === 'READY');
  const snapshotText = () => page.textContent('[data-testid=snapshot]');
  await page.waitForFunction(() => Number((document.querySelector('[data-testid=snapshot]')?.textContent ?? '').replace(/,/g, '')) > 0);
  const first = tileNumber(await snapshotText());
  await page.waitForFunction(
    (previous) => Number((document.querySelector('[data-testid=snapshot]')?.textContent ?? '').replace(/,/g, '')) > previous,
    first,
  );
  assert.ok(tileNumber(await snapshotText()) > first, 'the snapshot shown moved on without a reload');
  // The statecharts, with the active states highlighted.
  assert.equal(await page.getAttribute('.machine[data-actor=root] .state.active', 'data-path'), 'running');
  assert.ok(await page.isVisible('.machine[data-actor=queue] .state.active[data-path="running.persistence.waiting"]'));
  assert.ok(await page.isVisible('.machine[data-actor=installer] .state.active[data-path=accepting]'));
  // The queue picture and the charts (one sample a second: wait for two).
  assert.ok(Number.isFinite(tileNumber(await page.textContent('[data-testid=queue-inflight]'))));
  await page.waitForSelector('#chart-snapshot polyline', { timeout: 10_000 });

  // Inject a failure: every install fails from now on; after 2 attempts the replicator stops with an error.
  failing = true;
  await page.waitForFunction(() => document.querySelector('[data-testid=health]')?.textContent === 'FAILED', undefined, { timeout: 15_000 });
  const error = await page.textContent('[data-testid=last-error]');
  assert.match(error ?? '', /could not be installed after 2 attempts: injected failure installing version \d+/);
  assert.ok(await page.isVisible('[data-testid=last-error]'));
  assert.match((await page.textContent('[data-testid=reasons]')) ?? '', /^Not ready: failed: version \d+ could not be installed/);
  assert.equal(await page.getAttribute('.machine[data-actor=root] .state.active', 'data-path'), 'failed');
  assert.equal(await page.textContent('[data-testid=root-state]'), 'failed');

  assert.deepEqual(elsewhere, [], 'the page fetched nothing from anywhere else');
  assert.deepEqual(pageErrors, [], 'no script errors');
});
