// Build config: the library (with types) and the CLI as one self-contained file, so a CGI start-up
// loads a single module instead of resolving a tree of imports.
import { defineConfig } from 'tsup';

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
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    splitting: false,
    sourcemap: false,
    banner: { js: '#!/usr/bin/env node' },
  },
]);
