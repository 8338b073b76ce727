// Build config: the library (with types), and the CLI as dist/cli.cjs (the bin) plus two chunks.
//
// A CGI request starts one process per request, so the file it runs should hold what it needs and
// little else (docs/performance.md "CGI start-up"): dist/cli.cjs is one self-contained CommonJS
// file with the command dispatch, the CGI runner, the core and the adapters (the adapters inlined
// lazily: compiled, and their node: built-ins required, only when an app is not a plain TSGI
// function). `tsgi fastcgi` and `tsgi dev` are ES module chunks beside it (dist/cli-fastcgi.js,
// dist/cli-dev.js and their shared dist/cli-chunk-*.js) that cli.cjs import()s on demand; they
// bundle their own copy of the core. Ship dist/ whole.
import type { Plugin } from 'esbuild';
import { defineConfig } from 'tsup';

/** The subcommands main.ts loads with import(), and the dist/ file each one is built to. */
const COMMAND_CHUNKS: Record<string, string> = {
  'cli-fastcgi': 'src/cli/fastcgi.ts',
  'cli-dev': 'src/cli/dev.ts',
};

/** Leaves main.ts's `import('./fastcgi.js')` and `import('./dev.js')` to the chunks built apart. */
const commandChunks: Plugin = {
  name: 'tsgi-command-chunks',
  setup(build) {
    build.onResolve({ filter: /^\.\/(fastcgi|dev)\.js$/ }, (args) =>
      args.importer.endsWith('src/cli/main.ts') ? { path: `./cli-${args.path.slice(2)}`, external: true } : undefined,
    );
  },
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
    entry: { cli: 'src/cli/main.ts' },
    // CommonJS (dist/cli.cjs): an ES module entry makes Node start its asynchronous ESM loader
    // before the first line runs, and loadApp's require() of the app then needs none of it.
    format: ['cjs'],
    target: 'node20',
    platform: 'node',
    // Inline everything else, import() targets too (as lazily run wrappers): one file to load.
    splitting: false,
    sourcemap: false,
    // import.meta.url (main.ts: the version, tsgi dev's path to this file) from __filename, escaped
    // by pathToFileURL (tsup's own shim is not: a '#' in the install path broke both). The banner
    // says "use strict" itself: the directive must come before the first statement.
    banner: {
      js: '#!/usr/bin/env node\n"use strict";\nconst __tsgiImportMetaUrl = require("node:url").pathToFileURL(__filename).href;',
    },
    esbuildOptions(options) {
      options.define = { ...options.define, 'import.meta.url': '__tsgiImportMetaUrl' };
    },
    esbuildPlugins: [commandChunks],
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
