/**
 * `npm run bench:kafka`:
 * 1. transactions/s end to end from a Kafka-protocol broker (librdkafka's mock cluster) with an
 *    installer that does nothing, the certifier producing concurrently (the mock keeps ~5 MB);
 * 2. peak RSS while the replicator works through a backlog of 1 000 000 records fed from a
 *    file through the same pipeline, with an installer slower than reading (2 ms per version,
 *    50 at once), with Talos's backpressure and, for comparison, with a suffix as large as the file.
 * Each case runs in its own process. Env: BENCH_KAFKA_TRANSACTIONS (default 200 000),
 * BENCH_BACKLOG_RECORDS (default 1 000 000).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawRecord } from '../../machines/domain.js';
import { writeNdjsonLog } from '../../adapters/files/ndjsonLog.js';
import { syntheticLog } from './syntheticLog.js';

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const transactions = Number(process.env.BENCH_KAFKA_TRANSACTIONS ?? 200_000);
const backlogRecords = Number(process.env.BENCH_BACKLOG_RECORDS ?? 1_000_000);
const lastLine = (output: string) => JSON.parse(output.trim().split('\n').at(-1)!) as Record<string, number>;

console.log(`kafka benchmark, Node ${process.version}`);
const kafka = lastLine(execFileSync(process.execPath, [here('./kafkaRun.js'), `--transactions=${transactions}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
console.log(
  `from Kafka: ${kafka.transactionsPerSecond!.toLocaleString('en')} transactions/s (${kafka.transactions!.toLocaleString('en')} transactions, ${kafka.records!.toLocaleString('en')} records in ${kafka.seconds!.toFixed(2)} s, produced concurrently; peak RSS ${kafka.peakRssMb} MB) (bar: at least 25 000)`,
);

const dir = mkdtempSync(join(tmpdir(), 'talos-backlog-'));
try {
  const file = join(dir, 'backlog.ndjson');
  const log = syntheticLog();
  function* records(): Generator<RawRecord> {
    const batch: RawRecord[] = [];
    for (let written = 0; written < backlogRecords; written += batch.length) {
      batch.length = 0;
      log.next(Math.min(5_000, (backlogRecords - written) / 2), batch);
      yield* batch;
    }
  }
  await writeNdjsonLog(file, records());
  for (const backpressure of ['on', 'off']) {
    const result = lastLine(
      execFileSync(process.execPath, [here('./backlogRun.js'), `--file=${file}`, `--last=${log.lastCandidate}`, `--backpressure=${backpressure}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    console.log(
      `backlog of ${backlogRecords.toLocaleString('en')} records from a file, installs 2 ms each, backpressure ${backpressure}: peak RSS ${result.peakRssMb} MB, ${result.seconds!.toFixed(2)} s, largest suffix ${result.maxSuffix!.toLocaleString('en')}${backpressure === 'on' ? ' (bar: at most 300 MB)' : ''}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
