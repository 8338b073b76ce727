// Build config: the library (with types), and the CLI as dist/cli.cjs (the bin), dist/cli-core.cjs and two chunks.
//
// A CGI request starts one process per request, so what it runs should hold what it needs and
// little else (docs/performance.md "CGI start-up"): dist/cli.cjs is a few lines that compile
// dist/cli-core.cjs through a V8 code cache (src/cli/compile-cache.ts), and cli-core.cjs is one
// self-contained CommonJS file with the command dispatch, the CGI runner, the core and the adapters
// (inlined lazily: compiled, and their node: built-ins required, only when an app is not a plain
// TSGI function). `tsgi fastcgi` and `tsgi dev` are ES module chunks beside them (dist/cli-fastcgi.js,
// dist/cli-dev.js and their shared dist/cli-chunk-*.js) that the bin import()s on cli-core's behalf;
// they bundle their own copy of the core. Ship dist/ whole (dist/compile-cache/ aside).
import { defineConfig } from 'tsup';

/** The subcommands main.ts has the bin import(), and the dist/ file each one is built to. */
const COMMAND_CHUNKS: Record<string, string> = {
  'cli-fastcgi': 'src/cli/fastcgi.ts',
  'cli-dev': 'src/cli/dev.ts',
};

export default defineConfig([
  {
    entry: { index: 'src/index.ts' },
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    dts: true,
    sourcemap: true,
    clean: true,
  },
  {
    entry: { cli: 'src/cli/bin.ts' },
    format: ['cjs'],
    target: 'node20',
    platform: 'node',
    splitting: false,
    sourcemap: false,
    banner: { js: '#!/usr/bin/env node' },
  },
  {
    entry: { 'cli-core': 'src/cli/main.ts' },
    // CommonJS: an ES module entry makes Node start its asynchronous ESM loader before the first
    // line runs, and loadApp's require() of the app then needs none of it.
    format: ['cjs'],
    target: 'node20',
    platform: 'node',
    // Inline everything else, import() targets too (as lazily run wrappers): one file to compile.
    splitting: false,
    sourcemap: false,
    // import.meta.url (main.ts: the version) from __filename, escaped by pathToFileURL (tsup's own
    // shim is not: a '#' in the install path broke it). The banner says "use strict" itself: the
    // directive must come before the first statement.
    banner: {
      js: '"use strict";\nconst __tsgiImportMetaUrl = require("node:url").pathToFileURL(__filename).href;',
    },
    esbuildOptions(options) {
      options.define = { ...options.define, 'import.meta.url': '__tsgiImportMetaUrl' };
      // The bin compiles this file with vm.Script, whose code has no import(): import() of a node:
      // built-in becomes require(); an app or a chunk is imported through the bin (CliHost).
      options.supported = { ...options.supported, 'dynamic-import': false };
    },
  },
  {
    entry: COMMAND_CHUNKS,
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    splitting: true,
    sourcemap: false,
    esbuildOptions(options) {
      options.chunkNames = 'cli-chunk-[hash]';
    },
  },
]);
