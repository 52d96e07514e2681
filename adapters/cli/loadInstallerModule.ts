/** The user's install code for `--installer <path>` (see loadModuleFunction.ts for the module forms). */
import type { PostgresInstallFunction } from '../postgres/index.js';
import { loadModuleFunction } from './loadModuleFunction.js';

export function loadInstallerModule(path: string): Promise<PostgresInstallFunction> {
  return loadModuleFunction<PostgresInstallFunction>(path, { role: 'installer module', name: 'install', signature: 'install(statemaps, version, client)' });
}
