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
    throw new CliError(`installer module ${file} failed to load: ${error instanceof Error ? error.message : String(error)}`, 1, { cause: error });
  }
  const fallback = module.default as Record<string, unknown> | ((...args: unknown[]) => unknown) | undefined;
  const candidate = module.install ?? (typeof fallback === 'function' ? fallback : fallback?.install);
  if (typeof candidate !== 'function') {
    throw new CliError(`installer module ${file} does not export an install(statemaps, version, client) function (named "install" or default)`);
  }
  return candidate as PostgresInstallFunction;
}
