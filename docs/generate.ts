/**
 * `npm run docs`: regenerates the statechart pictures from the machine definitions.
 * - fills every `<!-- BEGIN GENERATED: key -->` ... `<!-- END GENERATED: key -->` block of
 *   docs/architecture.md (the text around the blocks is hand-written and kept);
 * - writes docs/statecharts/<key>.mmd for each machine and removes .mmd files of machines
 *   that are no longer documented.
 * `node dist/docs/generate.js --check` writes nothing and exits with 1 when a file is stale.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARCHITECTURE_DOC, STATECHART_DIR, documentedMachines, fillGeneratedBlocks, mmdFileOf } from './architectureDoc.js';

/** The directory holding package.json, walking up from this file (which runs from dist/docs/). */
export function findRepoRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
}

function main(): void {
  const check = process.argv.includes('--check');
  const root = findRepoRoot();
  const stale: string[] = [];
  const write = (relative: string, content: string) => {
    const path = join(root, relative);
    const current = existsSync(path) ? readFileSync(path, 'utf8') : null;
    if (current === content) return;
    stale.push(relative);
    if (!check) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    }
  };

  const docPath = join(root, ARCHITECTURE_DOC);
  if (!existsSync(docPath)) throw new Error(`${ARCHITECTURE_DOC} is missing: it holds the hand-written text around the generated blocks`);
  write(ARCHITECTURE_DOC, fillGeneratedBlocks(readFileSync(docPath, 'utf8')));

  const wanted = new Set<string>();
  for (const entry of documentedMachines) {
    const relative = `${STATECHART_DIR}/${entry.key}.mmd`;
    wanted.add(`${entry.key}.mmd`);
    write(relative, mmdFileOf(entry));
  }
  const dir = join(root, STATECHART_DIR);
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    if (!name.endsWith('.mmd') || wanted.has(name)) continue;
    stale.push(`${STATECHART_DIR}/${name} (no such machine)`);
    if (!check) rmSync(join(dir, name));
  }

  if (stale.length === 0) {
    console.log(`docs: ${ARCHITECTURE_DOC} and ${documentedMachines.length} statecharts are up to date`);
  } else if (check) {
    console.error(`docs: out of date, run \`npm run docs\`:\n  ${stale.join('\n  ')}`);
    process.exitCode = 1;
  } else {
    console.log(`docs: updated\n  ${stale.join('\n  ')}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
