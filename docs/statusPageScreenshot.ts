/**
 * Takes docs/status-page.png: runs the demo (simulated certifier, embedded Postgres) with the
 * status server on, opens the status page in headless chromium a few seconds in, saves a
 * screenshot and prints /status at that moment.
 *
 *   npm run build && node dist/docs/statusPageScreenshot.js [out.png] [seconds-in]
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runDemo } from '../adapters/cli/demo.js';
import { silentLogger } from '../adapters/logging.js';
import { launchBrowser } from '../test/support/browser.js';

const out = process.argv[2] ?? fileURLToPath(new URL('../../docs/status-page.png', import.meta.url));
const secondsIn = Number(process.argv[3] ?? 8);

let shot: Promise<void> | null = null;
const summary = await runDemo({
  transactions: 40_000,
  accounts: 1_000,
  concurrency: 4,
  batchSize: 10,
  seed: 1,
  progress: false,
  logger: silentLogger,
  observability: {
    statusPort: 0,
    onReady: ({ statusUrl }) => {
      shot = (async () => {
        const browser = await launchBrowser();
        try {
          const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
          await page.goto(statusUrl!);
          await new Promise((resolve) => setTimeout(resolve, secondsIn * 1000));
          const status = await (await fetch(`${statusUrl}status`)).text();
          await page.screenshot({ path: out, fullPage: true });
          writeFileSync(out.replace(/\.png$/, '.status.json'), status);
          process.stdout.write(`screenshot: ${out}\n/status at that moment:\n${status}\n`);
        } finally {
          await browser.close();
        }
      })();
    },
  },
});
await shot;
process.stdout.write(`demo: ${summary.transactions} transactions, ${summary.transactionsPerSecond}/s, verified: ${summary.verified}\n`);
