/**
 * Loads a function from the user's module for a command-line flag (`--installer`,
 * `--sasl-oauthbearer-provider`): an ES or CommonJS module exporting it by name, as the default
 * export, or as `default.<name>`. Every way this can go wrong is a CliError that says which file
 * and why.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CliError } from './cliError.js';

export interface ModuleFunction {
  /** What the module is, for messages: "installer module". */
  readonly role: string;
  /** The export's name: "install". */
  readonly name: string;
  /** How the function is called, for messages: "install(statemaps, version, client)". */
  readonly signature: string;
}

export async function loadModuleFunction<F extends (...args: never[]) => unknown>(path: string, expected: ModuleFunction): Promise<F> {
  const file = resolve(path);
  if (!existsSync(file)) throw new CliError(`${expected.role} ${file} does not exist`);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`${expected.role} ${file} failed to load: ${describeLoadError(error, file)}`, 1, { cause: error });
  }
  const fallback = module.default as Record<string, unknown> | ((...args: unknown[]) => unknown) | undefined;
  const candidate = module[expected.name] ?? (typeof fallback === 'function' ? fallback : fallback?.[expected.name]);
  if (typeof candidate !== 'function') {
    throw new CliError(`${expected.role} ${file} does not export an ${expected.signature} function (named "${expected.name}" or default)`);
  }
  return candidate as F;
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
