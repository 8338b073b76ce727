// Where the benchmark finds the repository, the built CLI and its apps.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH = dirname(dirname(fileURLToPath(import.meta.url)));
export const REPO = dirname(BENCH);
/** The built CLI as the repository has it. */
export const DIST_CLI = join(REPO, 'dist/cli.cjs');
/**
 * The CLI the benchmark runs: DIST_CLI, or a copy of it taken when the run started (`useCli`), so
 * a rebuild in the working tree halfway through a run cannot mix two builds in one table.
 */
export let CLI = DIST_CLI;
export function useCli(path) {
  CLI = path;
}
export const APPS = join(BENCH, 'apps');
export const RESULTS = join(BENCH, 'results');
