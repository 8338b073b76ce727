// The `tsgi` bin (dist/cli.cjs): compiles the CLI bundle (dist/cli-core.cjs) through its code cache and runs it.
//
// Kept to a few lines and three built-ins (path, fs, vm): every CGI request runs this file before
// anything else (docs/performance.md "CGI start-up"). The command line itself is src/cli/main.ts.

import { join } from 'node:path';
import { loadCompiled } from './compile-cache.js';
import type { CliHost } from './main.js';

// TSGI_NO_COMPILE_CACHE=1: compile as if there were no cache (README.md "CGI under Apache").
const core = loadCompiled(join(__dirname, 'cli-core.cjs'), require, !process.env.TSGI_NO_COMPILE_CACHE);
(core.exports as { run(host: CliHost): void }).run({
  bin: __filename,
  // The bundle runs compiled by vm, where import() is unavailable: it imports through this module.
  importModule: (specifier) => import(specifier),
  saveCompileCache: core.save,
});
