// Tests the app loader: how modules are loaded (require where Node can, else import) and the fast path
// that takes a plain TSGI function as it is, without loading the adapters.

import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { toApp, type AppType } from '../../src/adapters/detect.js';
import { TsgiError } from '../../src/core/errors.js';
import { isPlainTsgiApp, loadApp } from '../../src/cli/load-app.js';

/** What toApp makes of `value`: itself, a wrapper, or an error. */
function viaToApp(value: unknown, type?: AppType): 'itself' | 'wrapped' | 'error' {
  try {
    return toApp(value, type) === value ? 'itself' : 'wrapped';
  } catch {
    return 'error';
  }
}

/** A function of `arity` parameters carrying `props`, as a module might export it. */
function fnWith(arity: number, props: Record<string, unknown>): unknown {
  const fns = [() => [], (_a: unknown) => [], (_a: unknown, _b: unknown) => [], (_a: unknown, _b: unknown, _c: unknown) => []];
  return Object.assign(fns[arity]!.bind(null), props);
}

describe('isPlainTsgiApp', () => {
  it.each([
    ['a TSGI app (environ, startResponse)', (_e: unknown, _s: unknown) => [], undefined, true],
    ['a wrapper (...args)', (...args: unknown[]) => args, undefined, true],
    ['an async generator function of 2', async function* (_e: unknown, _s: unknown) {}, undefined, true],
    ['any function with --type tsgi', (_request: unknown) => [], 'tsgi', true],
    ['a fetch handler (request)', (_request: unknown) => [], undefined, false],
    ['a (req, res, next) function', (_a: unknown, _b: unknown, _c: unknown) => [], undefined, false],
    ['a TSGI-shaped function with --type node', (_e: unknown, _s: unknown) => [], 'node', false],
    ['an Express-like app (use, handle)', fnWith(2, { use() {}, handle() {}, set() {} }), undefined, false],
    ['a function with fetch()', fnWith(2, { fetch() {} }), undefined, false],
    ['a thenable function', fnWith(0, { then() {} }), 'tsgi', false],
    ['an object', { fetch() {} }, undefined, false],
  ] as const)('%s -> %s', (_name, value, type, expected) => {
    expect(isPlainTsgiApp(value, type)).toBe(expected);
  });

  it('says yes only where toApp would return the export itself (docs/adapters.md "Which adapter")', () => {
    const marker = fc.constantFrom('then', 'fetch', 'use', 'handle', 'routing', 'ready', 'callback', 'listen', 'set', 'other');
    const props = fc.dictionary(marker, fc.constantFrom<unknown>(() => {}, [], 1, 'x', undefined, {}), { maxKeys: 4 });
    const shape = fc.oneof(
      fc.record({ arity: fc.integer({ min: 0, max: 3 }), props }).map(({ arity, props: p }) => fnWith(arity, p)),
      props.map((p) => ({ ...p })),
      fc.constantFrom<unknown>(null, undefined, 42, 'app'),
    );
    const type = fc.constantFrom<AppType | undefined>(undefined, 'tsgi', 'fetch', 'node');
    fc.assert(
      fc.property(shape, type, (value, forced) => {
        // The fast path may decline (then toApp decides), but when it accepts, toApp agrees.
        if (isPlainTsgiApp(value, forced)) expect(viaToApp(value, forced)).toBe('itself');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('loadApp: loading the module', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-load-app-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** How often each fixture's top level ran, by name (the fixtures count themselves). */
  const runs = (): Record<string, number> => ((globalThis as Record<string, unknown>).__tsgiLoadRuns ??= {}) as Record<string, number>;
  const COUNT = (name: string): string => `(globalThis.__tsgiLoadRuns ??= {})[${JSON.stringify(name)}] = (globalThis.__tsgiLoadRuns[${JSON.stringify(name)}] ?? 0) + 1;`;
  const fixture = (name: string, source: string): string => {
    const file = join(dir, name);
    writeFileSync(file, `${COUNT(name)}\n${source}\n`);
    return file;
  };
  // Node 20.19+ (and 22.12+) can require() an ES module; earlier ones take the import() path only.
  const requiresEsm = (process.features as { require_module?: boolean }).require_module === true;
  const APP = 'function app(environ, startResponse) { startResponse("200 OK", []); return []; }';

  it('loads an ES module once, with require() where Node can (no asynchronous loader)', async () => {
    const file = fixture('esm.mjs', `export default ${APP}`);
    const app = await loadApp(file);
    expect(app.name).toBe('app');
    expect(runs()['esm.mjs']).toBe(1);
    // Only a module loaded by require() is in require's cache.
    expect(createRequire(file).cache[file] !== undefined).toBe(requiresEsm);
  });

  it('boots a Fastify app when asked (the daemon does), so a plugin that fails fails the load', async () => {
    const fastify = pathToFileURL(createRequire(import.meta.url).resolve('fastify')).href;
    const file = fixture(
      'fastify-broken.mjs',
      `import Fastify from ${JSON.stringify(fastify)};\n` +
        `const app = Fastify();\napp.register(async () => { throw new Error('the plugin broke'); });\n` +
        `app.get('/', async () => 'hi');\nexport default app;`,
    );
    // Without boot (CGI): loaded; the failure would come with the first request.
    expect(typeof (await loadApp(file))).toBe('function');
    const error = await loadApp(`${file}#default`, undefined, undefined, { boot: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TsgiError);
    expect((error as TsgiError).code).toBe('TSGI_LOAD_APP');
    expect((error as Error).message).toMatch(/fastify-broken\.mjs: fastify\.ready\(\) failed: the plugin broke/);
  });

  it('loads an ES module with top-level await through import(), running it once', async () => {
    const file = fixture('tla.mjs', `await new Promise((resolve) => setTimeout(resolve, 1));\nexport const app = ${APP}`);
    const app = await loadApp(file);
    expect(app.name).toBe('app');
    expect(runs()['tla.mjs']).toBe(1);
    expect(createRequire(file).cache[file]).toBeUndefined();
  });

  it('loads an ES module .js under "type": "module" with require() too', async () => {
    const pkgDir = join(dir, 'esm-package');
    mkdirSync(pkgDir);
    writeFileSync(join(pkgDir, 'package.json'), '{"type":"module"}\n');
    const file = join(pkgDir, 'app.js');
    writeFileSync(file, `${COUNT('esm-package/app.js')}\nexport default ${APP}\n`);
    expect((await loadApp(file)).name).toBe('app');
    expect(runs()['esm-package/app.js']).toBe(1);
    expect(createRequire(file).cache[file] !== undefined).toBe(requiresEsm);
  });

  it('runs a CommonJS app once even when it require()s an ES module with top-level await', async () => {
    fixture('tla-dep.mjs', 'await 0;\nexport const x = 1;');
    const file = fixture('requires-tla.cjs', `require(${JSON.stringify(join(dir, 'tla-dep.mjs'))});\nmodule.exports = ${APP};`);
    const error = await loadApp(file).catch((caught: unknown) => caught);
    expect((error as TsgiError).code).toBe('TSGI_LOAD_APP');
    expect(runs()['requires-tla.cjs']).toBe(1);
  });

  it('runs a CommonJS app reached through a symlink from a "type": "module" package once (Node resolves the link)', async () => {
    const site = join(dir, 'site');
    mkdirSync(site);
    writeFileSync(join(site, 'package.json'), '{"type":"module"}\n');
    fixture('tla-dep2.mjs', 'await 0;\nexport const x = 1;');
    const real = fixture('linked.js', `require(${JSON.stringify(join(dir, 'tla-dep2.mjs'))});\nmodule.exports = ${APP};`);
    symlinkSync(real, join(site, 'app.js'));
    const error = await loadApp(join(site, 'app.js')).catch((caught: unknown) => caught);
    expect((error as TsgiError).code).toBe('TSGI_LOAD_APP');
    expect(runs()['linked.js']).toBe(1);
  });

  it('gives a CommonJS module the namespace import() makes (default: module.exports), running it once', async () => {
    const file = fixture('app.cjs', `module.exports = ${APP};\nmodule.exports.extra = 1;`);
    const app = await loadApp(file);
    expect(app.name).toBe('app');
    expect(runs()['app.cjs']).toBe(1);
  });

  it('finds no export named after an Object.prototype member in a CommonJS module, as import() finds none', async () => {
    const file = fixture('proto.cjs', `module.exports = { handler: ${APP} };`);
    for (const name of ['constructor', 'valueOf', 'toString']) {
      const error = await loadApp(`${file}#${name}`).catch((caught: unknown) => caught);
      expect((error as Error).message).toContain(`has no export '${name}'`);
    }
  });

  it('loads a CommonJS app with require(): .cjs, and .js that never says import or export', async () => {
    const cjs = fixture('plain.cjs', `module.exports = ${APP};`);
    const js = fixture('plain.js', `module.exports = ${APP};`);
    for (const [file, name] of [[cjs, 'plain.cjs'], [js, 'plain.js']] as const) {
      const imported: string[] = [];
      const app = await loadApp(file, undefined, undefined, { importModule: async (url) => void imported.push(url) });
      expect(app.name).toBe('app');
      expect(runs()[name]).toBe(1);
      expect(imported).toEqual([]);
      expect(createRequire(file).cache[file]).toBeDefined();
    }
  });

  it('leaves a .js outside a "type": "module" package that says export to import() (Node may detect it as an ES module)', async () => {
    const file = fixture('detected.js', `export default ${APP}`);
    const imported: string[] = [];
    const app = await loadApp(file, undefined, undefined, {
      importModule: async (url) => {
        imported.push(url);
        return import(url);
      },
    });
    expect(app.name).toBe('app');
    expect(imported).toEqual([pathToFileURL(file).href]);
    expect(runs()['detected.js']).toBe(1);
  });

  it('reports a module that throws while it runs as TSGI_LOAD_APP, having run it once', async () => {
    for (const name of ['throws.mjs', 'throws.cjs']) {
      const file = fixture(name, 'throw new Error("no database");');
      const error = await loadApp(file).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TsgiError);
      expect((error as TsgiError).code).toBe('TSGI_LOAD_APP');
      const [first, ...frames] = (error as Error).message.split('\n');
      expect(first).toBe(`tsgi: cannot load app: importing ${file} failed: Error: no database`);
      // Where it was thrown, in the app's own file; none of Node's internal frames.
      expect(frames[0]).toMatch(new RegExp(`^    at .*${name.replace('.', '\\.')}:\\d+:\\d+`));
      expect(frames.join('\n')).not.toContain('node:internal');
      expect(runs()[name]).toBe(1);
    }
  });

  it('says where the syntax error of a CommonJS app is, as Node prints it, without the frames of tsgi itself', async () => {
    const file = fixture('broken.cjs', 'module.exports = function app() {\n  return [ "x" +];\n};');
    const error = await loadApp(file).catch((caught: unknown) => caught);
    expect((error as TsgiError).code).toBe('TSGI_LOAD_APP');
    const message = (error as Error).message;
    expect(message).toContain(`importing ${file} failed: ${file}:3\n  return [ "x" +];\n`);
    expect(message).toMatch(/\n +\^\nSyntaxError: Unexpected token '\]'\n/);
    expect(message).not.toContain('src/cli/'); // tsgi's own frames (dist/ when built)
  });

  it('points at how to see the line of a syntax error in an ES module the app imports', async () => {
    const lib = fixture('broken-lib.mjs', 'const x = ;\n');
    const file = fixture('imports-broken.mjs', `import ${JSON.stringify(lib)};\nexport default ${APP};`);
    const error = await loadApp(file).catch((caught: unknown) => caught);
    expect((error as TsgiError).code).toBe('TSGI_LOAD_APP');
    expect((error as Error).message).toBe(
      `tsgi: cannot load app: importing ${file} failed: Unexpected token ';' (in ${file} or a module it imports; \`node ${file}\` shows the line)`,
    );
  });
});
