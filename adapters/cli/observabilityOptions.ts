/**
 * The observability flags every replicating command takes (`demo`, `replay`, and any later
 * one such as `run`): add them with `addObservabilityOptions(command)`, read them with
 * `commandObservability(options)`, hand the result to the command, which passes
 * `replicatorObservabilityOptions(...)` to createCohortReplicator and calls
 * `observeCommand(...)` once the replicator exists.
 *
 *   --inspect [port]      Stately inspector bridge (env INSPECT_PORT; default port: any free one)
 *   --status-port <port>  status page, /status, /health, /metrics (env STATUS_PORT; 0: any free port)
 *   --status-host <host>  address of the status server (env STATUS_HOST; default 127.0.0.1)
 *   --stats               enableStats: a one-line summary in the log every --stats-interval ms
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { CreateCohortReplicatorOptions } from '../createCohortReplicator.js';
import type { Logger } from '../logging.js';
import type { ObservabilityAddresses, ReplicatorObservability } from '../observability/observability.js';

/** Anything observed: a cohort replicator, or the Kafka replicator (failover machine). */
interface Observed {
  readonly observability: ReplicatorObservability;
}
import { CliError } from './cliError.js';

export interface CommandObservability {
  readonly statusPort?: number;
  readonly statusHost?: string;
  /** Start the Stately inspector bridge, on this port (0: any free one). */
  readonly inspectPort?: number;
  readonly stats?: boolean;
  readonly statsIntervalMs?: number;
  /** Called once the servers listen (the CLI logs the addresses; scripts may open them). */
  readonly onReady?: (addresses: ObservabilityAddresses, replicator: Observed) => void | Promise<void>;
}

function port(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || parsed > 65535) throw new InvalidArgumentError(`${name} must be a port number (0-65535), got "${value}"`);
    return parsed;
  };
}

function milliseconds(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || parsed < 1 || !Number.isSafeInteger(parsed)) throw new InvalidArgumentError(`${name} must be a positive number of milliseconds, got "${value}"`);
    return parsed;
  };
}

/** Adds the flags to a command (returns it, for chaining). */
export function addObservabilityOptions(command: Command): Command {
  return command
    .option('--inspect [port]', 'watch the statecharts in the Stately inspector: serves a bridge page on localhost (default: any free port; env INSPECT_PORT)', port('--inspect'))
    .option('--status-port <port>', 'serve the status page, /status, /health and /metrics on localhost at this port (0: any free port; env STATUS_PORT)', port('--status-port'))
    .option('--status-host <host>', 'address for the status server (default 127.0.0.1; env STATUS_HOST)')
    .option('--stats', 'log a one-line replicator summary periodically (enableStats)')
    .option('--stats-interval <ms>', 'milliseconds between --stats lines', milliseconds('--stats-interval'), 5000);
}

/** The flags as commander parses them. */
export interface ObservabilityFlags {
  readonly inspect?: boolean | number;
  readonly statusPort?: number;
  readonly statusHost?: string;
  readonly stats?: boolean;
  readonly statsInterval?: number;
}

/** The parsed flags, completed from the environment. */
export function commandObservability(
  options: ObservabilityFlags,
  env: NodeJS.ProcessEnv = process.env,
): CommandObservability {
  const fromEnv = (name: string): number | undefined => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    try {
      return port(name)(value);
    } catch (error) {
      throw new CliError((error as Error).message);
    }
  };
  const inspectPort = options.inspect === true ? 0 : typeof options.inspect === 'number' ? options.inspect : fromEnv('INSPECT_PORT');
  const statusPort = options.statusPort ?? fromEnv('STATUS_PORT');
  const statusHost = options.statusHost ?? (env.STATUS_HOST || undefined);
  return {
    ...(statusPort !== undefined ? { statusPort } : {}),
    ...(statusHost !== undefined ? { statusHost } : {}),
    ...(inspectPort !== undefined ? { inspectPort } : {}),
    ...(options.stats ? { stats: true, statsIntervalMs: options.statsInterval ?? 5000 } : {}),
  };
}

/** What createCohortReplicator takes from these flags. */
export function replicatorObservabilityOptions(o: CommandObservability | undefined): Pick<CreateCohortReplicatorOptions, 'statusPort' | 'statusHost' | 'inspect'> {
  if (!o) return {};
  return {
    ...(o.statusPort !== undefined ? { statusPort: o.statusPort } : {}),
    ...(o.statusHost !== undefined ? { statusHost: o.statusHost } : {}),
    ...(o.inspectPort !== undefined ? { inspect: { port: o.inspectPort } } : {}),
  };
}

/** The config keys these flags set. */
export function statsConfig(o: CommandObservability | undefined): { enableStats?: boolean; statsFreqMs?: number } {
  return o?.stats ? { enableStats: true, statsFreqMs: o.statsIntervalMs ?? 5000 } : {};
}

/**
 * Logs where to look once the servers listen (a port already taken ends the command with a
 * clear error), and returns what closes them at the end of the command.
 */
export async function observeCommand(replicator: Observed, o: CommandObservability | undefined, logger: Logger): Promise<{ close(): Promise<void> }> {
  const close = () => replicator.observability.close();
  if (o?.statusPort === undefined && o?.inspectPort === undefined) return { close };
  let addresses: ObservabilityAddresses;
  try {
    addresses = await replicator.observability.ready();
  } catch (error) {
    await close();
    throw new CliError(`cannot serve observability: ${(error as Error).message}`, 1, { cause: error });
  }
  if (addresses.statusUrl) logger.info(`status page: ${addresses.statusUrl} (also ${addresses.statusUrl}status, ${addresses.statusUrl}health, ${addresses.statusUrl}metrics)`);
  if (addresses.inspectorUrl) {
    logger.info(`Stately inspector: open ${addresses.inspectorUrl} in a browser (it embeds https://stately.ai/inspect; events relayed at ${addresses.inspectorWebSocketUrl})`);
  }
  await o.onReady?.(addresses, replicator);
  return { close };
}
