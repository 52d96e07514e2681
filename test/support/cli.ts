/**
 * Running the real `talos-replicator` command (the compiled `dist/adapters/cli/main.js`) as a
 * child process, the way a user does: arguments in, exit code and output out. Children never
 * start their own Postgres unless a test wants that: DATABASE_URL is removed from their
 * environment, so a test passes `--database-url` explicitly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled CLI entry point (this file lives in dist/test/support/). */
export const CLI_PATH = fileURLToPath(new URL('../../adapters/cli/main.js', import.meta.url));

export interface CliResult {
  /** Exit code, or null when the process was killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface CliOptions {
  /** Extra environment variables (the test process's environment minus DATABASE_URL is the base). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /** Written to the child's standard input, which is then closed (default: no standard input). */
  readonly input?: string | Buffer;
  /** SIGKILL the child after this long and reject. Default 60 000 ms. */
  readonly timeoutMs?: number;
}

export interface RunningCli {
  readonly child: ChildProcess;
  /** Settles when the child has exited (also when killed by a signal); rejects on timeout. */
  readonly result: Promise<CliResult>;
}

/** Starts the CLI; the caller may signal `child` and awaits `result`. */
export function spawnCli(args: readonly string[], options: CliOptions = {}): RunningCli {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  if (options.env?.DATABASE_URL === undefined) delete env.DATABASE_URL;
  const started = performance.now();
  // No --enable-source-maps: it adds about 0.4 s to every start, and the CLI prints no stack
  // traces without --verbose anyway.
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    cwd: options.cwd,
    env,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (options.input !== undefined) {
    // A child that exits before reading all of it (a bad flag) must not fail the test with EPIPE.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(options.input);
  }
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timeoutMs = options.timeoutMs ?? 60_000;
  const result = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`talos-replicator ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    // 'close', not 'exit': the output streams are complete then.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
  return { child, result };
}

/** Runs the CLI to completion. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return spawnCli(args, options).result;
}

/** Formats a result for assertion messages. */
export function describeRun(run: CliResult): string {
  return `exit ${run.code ?? run.signal} after ${Math.round(run.ms)} ms\n--- stdout\n${run.stdout}--- stderr\n${run.stderr.slice(-4000)}`;
}

/** stderr without the winston log lines (`<ISO timestamp> <level> ...`): what the CLI itself printed. */
export function nonLogLines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '' && !/^\d{4}-\d{2}-\d{2}T\S+ (error|warn|info|debug) /.test(line));
}

/**
 * A temporary directory, readable by everyone (a server running as the `postgres` user never
 * reads it, but an installer module loaded by a child must be). Remove it with `cleanup`.
 */
export async function makeTempDir(prefix = 'talos-cli-'): Promise<{ readonly dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
