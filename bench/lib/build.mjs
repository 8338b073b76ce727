// Pins the build a benchmark measures: a copy of dist/cli.js taken at the start, with its hash.

import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_CLI, REPO, useCli } from './paths.mjs';

/**
 * Copies the built CLI (one self-contained file: it imports only node: builtins) to a temporary
 * directory and makes the benchmark run the copy, so a rebuild in the working tree during a run
 * cannot mix two builds in one table. The copy is removed when the process exits.
 * @param source - the CLI to measure: dist/cli.js, or a saved copy of an earlier build (`--cli`),
 *   e.g. `cp dist/cli.js /tmp/before.js` before a change, to compare both on the same machine.
 * @returns its sha256 prefix and when the source file was written.
 * @throws when the file is missing.
 */
export function pinBuild(log, source = DIST_CLI) {
  if (!existsSync(source)) throw new Error(`bench: ${source} is missing; build it first with \`npx tsup\``);
  if (source === DIST_CLI && newestMtime(join(REPO, 'src')) > statSync(DIST_CLI).mtimeMs) {
    log('bench: note: a file under src/ is newer than dist/cli.js; if src/ changed, `npx tsup` first\n');
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-cli-'));
  const path = join(dir, 'cli.js');
  copyFileSync(source, path);
  useCli(path);
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return {
    source,
    sha256: createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16),
    builtAt: statSync(source).mtime.toISOString(),
  };
}

function newestMtime(dir) {
  return readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
    const path = join(dir, entry.name);
    return Math.max(latest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }, 0);
}
