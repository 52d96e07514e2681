/**
 * Loads the user's install code for `--installer <path>`: an ES or CommonJS module exporting
 * `install(statemaps, version, client)` as a named export, as the default export, or as
 * `default.install`. Every way this can go wrong is a CliError that says which file and why.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PostgresInstallFunction } from '../postgres/index.js';
import { CliError } from './cliError.js';

export async function loadInstallerModule(path: string): Promise<PostgresInstallFunction> {
  const file = resolve(path);
  if (!existsSync(file)) throw new CliError(`installer module ${file} does not exist`);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`installer module ${file} failed to load: ${describeLoadError(error, file)}`, 1, { cause: error });
  }
  const fallback = module.default as Record<string, unknown> | ((...args: unknown[]) => unknown) | undefined;
  const candidate = module.install ?? (typeof fallback === 'function' ? fallback : fallback?.install);
  if (typeof candidate !== 'function') {
    throw new CliError(`installer module ${file} does not export an install(statemaps, version, client) function (named "install" or default)`);
  }
  return candidate as PostgresInstallFunction;
}

/**
 * What went wrong at load, in one line: the error's kind when it says something
 * ("SyntaxError: Unexpected token '{'", not just "Unexpected token '{'") and, for a syntax
 * error in a CommonJS module, the line (Node puts "<file>:<line>" first in its stack).
 */
function describeLoadError(error: unknown, file: string): string {
  if (!(error instanceof Error)) return String(error);
  const kind = error.name !== '' && error.name !== 'Error' && !error.message.startsWith(error.name) ? `${error.name}: ` : '';
  const firstLine = error instanceof SyntaxError ? (error.stack ?? '').split('\n', 1)[0]! : '';
  const line = firstLine.startsWith(`${file}:`) ? /:(\d+)$/.exec(firstLine)?.[1] : undefined;
  return `${kind}${error.message}${line === undefined ? '' : ` (line ${line})`}`;
}
