// Pins the build a benchmark measures: a copy of dist/cli.cjs and its chunks taken at the start, with a hash.

import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { DIST_CLI, REPO, useCli } from './paths.mjs';

/**
 * The files that make up the CLI at `source`: the file itself and, when it is named cli.cjs (or
 * cli.js, as builds before the CommonJS entry were), the files tsup builds beside it: `cli-core.cjs`
 * (the CLI the bin compiles, builds since the compile cache) and `cli-*.js` (the fastcgi and dev subcommands, loaded on demand).
 * A saved single-file build of an earlier version (`/tmp/before.js`) is just itself.
 * @returns absolute paths, `source` first, the rest sorted by name.
 */
export function cliFiles(source) {
  if (basename(source) !== 'cli.cjs' && basename(source) !== 'cli.js') return [source];
  const dir = dirname(source);
  const chunks = readdirSync(dir)
    .filter((name) => name.startsWith('cli-') && (name.endsWith('.js') || name.endsWith('.cjs')))
    .sort();
  return [source, ...chunks.map((name) => join(dir, name))];
}

/**
 * Copies the built CLI (dist/cli.cjs and its chunks; they import only node: builtins and each
 * other) to a temporary directory and makes the benchmark run the copy, so a rebuild in the
 * working tree during a run cannot mix two builds in one table. The directory gets a
 * package.json `{"type":"module"}` as dist/ has through the repository's, so Node loads the ES
 * module chunks (and a cli.js of an older build) as ESM directly rather than detecting their syntax. The copy is removed when the process exits.
 * @param source - the CLI to measure: dist/cli.cjs, or a saved copy of an earlier build (`--cli`):
 *   `cp -r dist /tmp/before` before a change and pass `/tmp/before/cli.cjs` (its `cli-*.js` chunks
 *   come along), or a single-file build saved under any name.
 * @returns the source, a sha256 prefix over every copied file (names and contents, in order) and
 *   when the source file was written.
 * @throws when the file is missing.
 */
export function pinBuild(log, source = DIST_CLI) {
  if (!existsSync(source)) throw new Error(`bench: ${source} is missing; build it first with \`npx tsup\``);
  if (source === DIST_CLI && newestMtime(join(REPO, 'src')) > statSync(DIST_CLI).mtimeMs) {
    log('bench: note: a file under src/ is newer than dist/cli.cjs; if src/ changed, `npx tsup` first\n');
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-cli-'));
  const hash = createHash('sha256');
  for (const file of cliFiles(source)) {
    // The entry keeps its extension: .cjs is CommonJS, a .js beside the package.json below is ESM.
    const name = file === source ? `cli${extname(source) === '.cjs' ? '.cjs' : '.js'}` : basename(file);
    copyFileSync(file, join(dir, name));
    hash.update(`${name}\0`).update(readFileSync(join(dir, name)));
  }
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  useCli(join(dir, `cli${extname(source) === '.cjs' ? '.cjs' : '.js'}`));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return {
    source,
    sha256: hash.digest('hex').slice(0, 16),
    builtAt: statSync(source).mtime.toISOString(),
  };
}

function newestMtime(dir) {
  return readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
    const path = join(dir, entry.name);
    return Math.max(latest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }, 0);
}
