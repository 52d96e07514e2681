/** An installer that tells the caller about every version it installed (for progress and latency figures). */
import type { Installer, Version } from '../../machines/domain.js';

export function observedInstaller(installer: Required<Installer>, onInstalled: (version: Version) => void): Required<Installer> {
  return {
    install: async (statemaps, version) => {
      await installer.install(statemaps, version);
      onInstalled(version);
    },
    installBatch: async (jobs) => {
      await installer.installBatch(jobs);
      for (const job of jobs) onInstalled(job.version);
    },
  };
}
