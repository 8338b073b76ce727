// Resolves "path/to/module[#export]" to a TSGI app for the CLI, with one clear message per failure.

import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { types } from 'node:util';
import type { AppType } from '../adapters/detect.js';
import { isOutsideNode } from '../core/describe.js';
import { TsgiError } from '../core/errors.js';
import type { App } from '../core/types.js';

/**
 * Imports the app module, picks the export (the named one after `#`, else `default`, else `app`)
 * and adapts it: a TSGI app as it is, a fetch handler or `{ fetch }` (Hono) through `fromFetch`, a
 * node:http app (Express, Koa, Fastify, http.Server) through `fromNodeHttp` (docs/adapters.md).
 * @param spec - `"./app.mjs"` or `"./app.mjs#myApp"`, relative to `cwd`.
 * @param type - skip detection: `'tsgi'`, `'fetch'` or `'node'` (the CLI's `--type`).
 * @param options - see {@link LoadOptions}.
 * @throws {TsgiError} code `TSGI_LOAD_APP` whose message names the file and what was expected:
 *   the file is missing, the import failed, the export is missing or is no app of a known shape,
 *   or importing the module started a server (it called `listen()`; export the app instead).
 */
export async function loadApp(spec: string, type?: AppType, cwd = process.cwd(), options: LoadOptions = {}): Promise<App> {
  const { file, exportName } = parseAppSpec(spec, cwd);
  const stat = statSync(file, { throwIfNoEntry: false });
  if (stat === undefined) throw new TsgiError('TSGI_LOAD_APP', `tsgi: cannot load app: ${file} does not exist`);
  if (!stat.isFile()) {
    throw new TsgiError('TSGI_LOAD_APP', `tsgi: cannot load app: ${file} is not a file; name the app's module, e.g. ${join(file, 'app.mjs')}`);
  }
  let module: Record<string, unknown>;
  const listening = listeningServers();
  try {
    module = await importModule(file, options.importModule ?? nativeImport);
  } catch (error) {
    throw new TsgiError('TSGI_LOAD_APP', `tsgi: cannot load app: importing ${file} failed: ${loadFailure(error, file)}`, {
      cause: error,
    });
  }
  // listen(port, host) binds after a DNS lookup tick: give it one before counting listeners.
  await new Promise((resolve) => setImmediate(resolve));
  if (listeningServers() > listening) (await import('../adapters/detect.js')).assertNotListening(file, listening);
  const names = exportName !== undefined ? [exportName] : ['default', 'app'];
  const name = names.find((n) => module[n] !== undefined);
  if (name === undefined) {
    // `__esModule` is the marker Node's require() adds to an ES module with a default export.
    const exported = Object.keys(module).filter((key) => key !== '__esModule');
    throw new TsgiError(
      'TSGI_LOAD_APP',
      `tsgi: cannot load app: ${file} has no export ${names.map((n) => `'${n}'`).join(' or ')}` +
        ` (it exports: ${exported.length > 0 ? exported.join(', ') : 'nothing'}); ` +
        `export your app function, e.g. "export default function app(environ, startResponse) { ... }"`,
    );
  }
  const value = module[name];
  if (isPlainTsgiApp(value, type)) return value;
  // Anything else goes through detection and the adapters, loaded only now: a CGI process serving
  // a plain TSGI app never compiles them (docs/performance.md "CGI start-up").
  const { bootApp, toApp } = await import('../adapters/detect.js');
  const app = toApp(value, type, `export '${name}' of ${file}`);
  if (options.boot === true) await bootApp(value, `export '${name}' of ${file}`);
  return app;
}

/**
 * Splits `"path/to/module.mjs#exportName"`: the module's absolute path (resolved against `cwd`) and
 * the export named after the last `#`, if any (a `#` at the start is part of the path).
 */
export function parseAppSpec(spec: string, cwd = process.cwd()): { file: string; exportName: string | undefined } {
  const hash = spec.lastIndexOf('#');
  return { file: resolve(cwd, hash > 0 ? spec.slice(0, hash) : spec), exportName: hash > 0 ? spec.slice(hash + 1) : undefined };
}

/** Options for {@link loadApp}. */
export interface LoadOptions {
  /**
   * Boot a framework that needs it (Fastify's `ready()`) now, failing the load if it fails, rather
   * than before the first request. The daemon sets it; a CGI request, which serves one request
   * anyway, does not. Default false.
   */
  boot?: boolean;
  /**
   * Loads an ES module by its file URL, where `require()` cannot: the caller's `import()`. Default:
   * this module's own, which works where this module is built as an ES module (the daemon and dev
   * chunks). In dist/cli-core.cjs, compiled by vm with `import()` lowered to `require()`, the
   * default cannot load a file URL: callers there must pass one, as the CGI entry passes the bin's
   * (src/cli/bin.ts).
   */
  importModule?: (specifier: string) => Promise<unknown>;
}

const nativeImport = (specifier: string): Promise<unknown> => import(specifier);

/**
 * Where this module's code is (dist/ when built), as a path and a URL: its frames are tsgi's, not
 * the app's. Made on the error path only, not at every CGI start-up.
 */
function ownDir(): { dir: string; url: string } {
  const dir = dirname(fileURLToPath(import.meta.url));
  return { dir, url: pathToFileURL(dir).href };
}

/**
 * What went wrong importing the app, for a person reading the error log: the error, where Node
 * says a CommonJS file's syntax error is (file:line, the line, a caret), and where it was thrown in
 * the app's own files (Node's and tsgi's frames left out). An ES module's syntax error carries no
 * location Node lets a program read: the message says how to see it.
 */
function loadFailure(error: unknown, file: string): string {
  if (!(error instanceof Error)) return String(error);
  const lines = (error.stack ?? '').split('\n');
  const heading = `${error.name}: ${error.message}`;
  const headingAt = lines.indexOf(heading);
  const location = headingAt > 0 ? lines.slice(0, headingAt).join('\n').trimEnd() : '';
  const own = ownDir();
  const frames = lines
    .filter((line) => isOutsideNode(line) && !line.includes(own.url) && !line.includes(`${own.dir}/`))
    .slice(0, 5);
  if (location !== '' || frames.length > 0) return [location, heading, ...frames].filter((part) => part !== '').join('\n');
  if (error instanceof SyntaxError) return `${error.message} (in ${file} or a module it imports; \`node ${file}\` shows the line)`;
  return error.message;
}

/**
 * The module's namespace, as `import()` gives it, loaded with `require()` where that is the same:
 * a CGI process loads its app once per request, and `require()` skips the asynchronous ESM loader,
 * about 2 ms of each request's start-up (docs/performance.md "CGI start-up").
 * - An ES module by its name (`.mjs`, or `.js` under `"type": "module"`): Node 20.19+ loads it
 *   synchronously unless a module of its graph uses top-level await. When it cannot
 *   (ERR_REQUIRE_ASYNC_MODULE, or ERR_REQUIRE_ESM on older Node), none of its code has run, and
 *   `import()` loads it.
 * - CommonJS for certain (`.cjs`, or a `.js` outside a `"type": "module"` package whose source
 *   never says `import` or `export`, which Node's syntax detection needs to take it for an ES
 *   module): `require()`, and no fallback, since a CommonJS module that fails has already run.
 *   About 3 ms less than `import()`, which goes through the asynchronous loader for a CommonJS file too.
 * - Anything else: `import()`.
 * @throws whatever the module throws while it runs, or the loader's error.
 */
async function importModule(file: string, dynamicImport: (specifier: string) => Promise<unknown>): Promise<Record<string, unknown>> {
  // Node decides a module's format from its real path's package scope (symlinks resolved): so do we,
  // or a symlinked CommonJS app taken for an ES module would run again in the fallback below.
  const real = realpathSync.native(file);
  if (isEsModuleFile(real)) {
    let required: unknown;
    try {
      required = createRequire(file)(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') throw error;
      return (await dynamicImport(pathToFileURL(file).href)) as Record<string, unknown>;
    }
    // Node ran it as CommonJS after all (a package scope this lookup misread): it has run, so it is
    // not run again.
    return namespaceOf(required);
  }
  if (isCommonJsFile(real)) return namespaceOf(createRequire(file)(file));
  return (await dynamicImport(pathToFileURL(file).href)) as Record<string, unknown>;
}

/** What `import()` gives for what `require()` returned: an ES module's namespace, or module.exports as `default`. */
function namespaceOf(required: unknown): Record<string, unknown> {
  if (types.isModuleNamespaceObject(required)) return required as Record<string, unknown>;
  // No prototype, as a namespace has none: `#constructor` or `#valueOf` must not find Object's.
  const namespace: Record<string, unknown> = Object.create(null);
  if (typeof required === 'function' || (typeof required === 'object' && required !== null)) Object.assign(namespace, required);
  namespace.default = required;
  return namespace;
}

/**
 * Whether Node can only take `file` for CommonJS: `.cjs`; or a `.js` (not under `"type": "module"`,
 * which the caller checked) without the words `import` or `export`: an ES module app exports, and
 * syntax detection (Node 20.19+) runs a `.js` as an ES module only for ES module syntax. A comment or
 * string saying either word just sends the file to `import()`, which is right, a few ms slower.
 */
function isCommonJsFile(file: string): boolean {
  if (file.endsWith('.cjs')) return true;
  if (!file.endsWith('.js')) return false;
  try {
    return !/\b(?:import|export)\b/.test(readFileSync(file, 'utf8'));
  } catch {
    return false; // the loader says what is wrong
  }
}

/**
 * Whether Node takes `file` for an ES module by its name: `.mjs`, or `.js` whose nearest
 * package.json says `"type": "module"` (Node.js docs "Determining module system").
 */
function isEsModuleFile(file: string): boolean {
  if (file.endsWith('.mjs')) return true;
  if (!file.endsWith('.js')) return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type === 'module';
      } catch {
        return false; // Node will say what is wrong with it
      }
    }
    if (dirname(dir) === dir || basename(dir) === 'node_modules') return false;
  }
}

/**
 * Whether `toApp(value, type)` would return `value` itself as a TSGI app, decided without loading
 * the adapters: a function of 0 or 2 parameters (or any function with `type` `'tsgi'`) that has
 * none of the methods detection looks for first (`then`, `fetch`, Fastify's `routing`, Koa's and
 * Express's `use`; docs/adapters.md "Which adapter"). When in doubt it answers false and the full
 * detection decides.
 */
export function isPlainTsgiApp(value: unknown, type?: AppType): value is App {
  if (typeof value !== 'function' || (type !== undefined && type !== 'tsgi')) return false;
  const fn = value as ((...args: unknown[]) => unknown) & Record<string, unknown>;
  if (type === undefined && fn.length !== 0 && fn.length !== 2) return false;
  return (
    typeof fn.then !== 'function' &&
    typeof fn.fetch !== 'function' &&
    typeof fn.routing !== 'function' &&
    typeof fn.use !== 'function'
  );
}

/**
 * Listening sockets (TCP and Unix) the process holds, as `listeningServerCount` in
 * adapters/detect.ts counts them; repeated here so counting does not load the adapters.
 */
function listeningServers(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'TCPServerWrap' || name === 'PipeServerWrap').length;
}
