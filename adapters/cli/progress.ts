/** A progress bar (cli-progress) when stderr is a terminal, and nothing otherwise. */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, extra?: Record<string, string | number>): void;
  stop(): void;
}

export function createProgress(label: string, total: number, enabled = Boolean(process.stderr.isTTY)): Progress {
  if (!enabled) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} | {rate} tx/s | snapshot {snapshot}`, stream: process.stderr, hideCursor: true, fps: 5 },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  bar.start(total, 0, { rate: 0, snapshot: 0 });
  return {
    update(done, extra = {}) {
      const seconds = (Date.now() - started) / 1000;
      bar.update(done, { rate: seconds > 0 ? Math.round(done / seconds) : 0, snapshot: 0, ...extra });
    },
    stop() {
      bar.stop();
    },
  };
}
