// Tells what kind of app a module exported (TSGI, fetch-style, node:http) and adapts it, from the loader's side.

import { TsgiError } from '../core/errors.js';
import { isThenable } from '../core/thenable.js';
import type { App } from '../core/types.js';
import { closeHookOf, withCloseHook } from './close-hook.js';
import { fromFetch, type FetchHandler } from './fetch.js';
import { fromNodeHttp } from './node-http.js';
import { nodeListenerOf } from './node-target.js';

/** The three shapes an app can have; `--type` on the command line names one to skip detection. */
export type AppType = 'tsgi' | 'fetch' | 'node';

/** What {@link detectApp} recognised. */
export interface DetectedApp {
  type: AppType;
  /** For messages: `"Express app"`, `"Hono app (fetch)"`, `"TSGI app"`, … */
  kind: string;
}

/**
 * The detection rules, in order (docs/adapters.md "Which adapter"). The ambiguous case is a function
 * of two parameters: `(environ, startResponse)` and `(req, res)` look alike, so it is TSGI unless
 * told otherwise (`--type node`); frameworks are recognised by the properties they always have.
 * 1. an object or function with a `fetch` method (Hono, a `{ fetch }` module-worker export) → fetch;
 * 2. a Fastify instance (`routing`, `ready`, `server`) → node, after `await ready()`;
 * 3. a Koa app (`callback`, `use`, `middleware`) → node, through `callback()`;
 * 4. a function with `handle` and `use` (Express, Connect) → node;
 * 5. a function of 2 parameters, or of 0 (`(...args) =>`, a wrapper) → TSGI;
 * 6. a function of 1 parameter (`(request) => Response`) → fetch;
 * 7. an `http.Server` with 'request' listeners → node;
 * anything else, including a function of 3+ parameters (`(req, res, next)` or `(request, env, ctx)`),
 * is not guessed.
 * @returns what `value` is, or `undefined` when the rules cannot tell.
 */
export function detectApp(value: unknown): DetectedApp | undefined {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  const candidate = value as Record<string, unknown>;
  if (typeof candidate.fetch === 'function') {
    return { type: 'fetch', kind: `${constructorName(value) ?? 'object'} with fetch()` };
  }
  const node = nodeListenerOf(value);
  if (node?.kind === 'fastify') return { type: 'node', kind: 'Fastify app' };
  if (node?.kind === 'koa') return { type: 'node', kind: 'Koa app' };
  if (typeof value === 'function') {
    if (typeof candidate.handle === 'function' && typeof candidate.use === 'function') {
      return { type: 'node', kind: typeof candidate.set === 'function' ? 'Express app' : 'Connect app' };
    }
    const arity = (value as (...args: unknown[]) => unknown).length;
    if (arity === 2 || arity === 0) return { type: 'tsgi', kind: 'TSGI app' };
    if (arity === 1) return { type: 'fetch', kind: 'fetch handler' };
    return undefined;
  }
  if (node?.kind === 'http.Server') return { type: 'node', kind: 'http.Server' };
  return undefined;
}

/**
 * Adapts a module export to a TSGI app, detecting its shape unless `type` says it.
 * @param value - the export (`default`, `app` or the named one).
 * @param type - `'tsgi'`, `'fetch'` or `'node'` to override detection (the CLI's `--type`).
 * @param label - how messages name the export, e.g. `"export 'default' of ./app.mjs"`.
 * @returns an App: `value` itself for TSGI (with its own `close()`, if any), else wrapped by
 *   `fromFetch` or `fromNodeHttp`, with a `close()` that closes the export when it has a way to be
 *   closed: `fastify.close()`, `server.close()` for an http.Server, the export's own `close()`
 *   (see `closeHookOf` in close-hook.ts; docs/spec.md "Closing the app").
 * @throws {TsgiError} code `TSGI_LOAD_APP` when `value` is a promise (await it in the module), does
 *   not fit the forced `type`, or cannot be told apart (the message lists the accepted shapes).
 * @see detectApp for the rules; docs/adapters.md
 * @example
 * const app = toApp((await import('./server.mjs')).default); // an Express, Koa, Fastify or Hono app
 */
export function toApp(value: unknown, type?: AppType, label = 'the export'): App {
  // A Fastify instance is thenable too (awaiting it waits for ready()); any other promise is a mistake.
  if (isThenable(value) && nodeListenerOf(value)?.kind !== 'fastify') {
    throw loadError(`${label} is a Promise; await it in the module (top-level await) and export the app itself`);
  }
  const resolved = type ?? detectApp(value)?.type;
  if (resolved === undefined) {
    const arity = typeof value === 'function' ? (value as () => unknown).length : undefined;
    throw loadError(
      arity !== undefined
        ? `${label} is a function of ${arity} parameters, which could be (req, res, next) or (request, env, ctx); ` +
            `say which with --type node or --type fetch`
        : `${label} is ${describe(value)}, not an app: export a TSGI app (environ, startResponse) => body, ` +
            `a fetch handler or an object with fetch() (Hono), or a node:http app (Express, Koa, Fastify, http.Server)`,
    );
  }
  if (resolved === 'tsgi') {
    if (typeof value !== 'function') throw loadError(`${label} is ${describe(value)}; a TSGI app is a function (environ, startResponse) => body`);
    return value as App;
  }
  // The adapter's app closes what the module exported (docs/spec.md "Closing the app").
  if (resolved === 'fetch') return withCloseHook(fromFetch(fetchHandlerOf(value, label)), closeHookOf(value, undefined));
  const node = nodeListenerOf(value);
  if (node === undefined) {
    throw loadError(`${label} is ${describe(value)}; --type node expects a (req, res) function, an Express/Koa/Fastify app or an http.Server with a 'request' listener`);
  }
  return withCloseHook(fromNodeHttp(node.listener, node.ready === undefined ? {} : { ready: node.ready }), closeHookOf(value, node));
}

/**
 * Boots an app that must be booted before it can serve: a Fastify instance's `ready()` (its plugins
 * and routes). The adapter awaits it before the first request anyway; the daemon calls this before
 * it listens, so a plugin that fails stops the start (and a worker reload) instead of turning every
 * request into a 500.
 * @param value - the export, as given to {@link toApp}.
 * @param label - how the message names the export.
 * @throws {TsgiError} code `TSGI_LOAD_APP` naming the export and the error `ready()` rejected with.
 */
export async function bootApp(value: unknown, label = 'the export'): Promise<void> {
  const node = nodeListenerOf(value);
  if (node?.kind !== 'fastify' || node.ready === undefined) return;
  try {
    await node.ready();
  } catch (error) {
    throw loadError(`${label}: fastify.ready() failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * The one-line fix for a module that starts its own server, for the CLI to print: under tsgi the
 * front server owns the socket, so the module must export the app instead.
 * @param file - the module, as the user named it.
 * @example explainListen('server.mjs')
 * // "tsgi: server.mjs calls listen() itself; export the app instead of calling app.listen(): replace `app.listen(...)` with `export default app`"
 */
export function explainListen(file: string): string {
  return (
    `tsgi: ${file} calls listen() itself; export the app instead of calling app.listen(): ` +
    'replace `app.listen(...)` with `export default app` (for a node:http server, export the server without listening)'
  );
}

/**
 * How many listening sockets the process has (TCP and Unix): take it before importing the app
 * module and pass it to {@link assertNotListening} after. Uses `process.getActiveResourcesInfo()`
 * (Node ≥ 17.3), which names each live libuv handle.
 */
export function listeningServerCount(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'TCPServerWrap' || name === 'PipeServerWrap').length;
}

/**
 * Throws when importing the app module opened a listening socket (it called `listen()`), which would
 * keep a CGI process alive and compete with the front server for a port.
 * @param file - the module, for the message.
 * @param before - {@link listeningServerCount} taken before the import.
 * @throws {TsgiError} code `TSGI_LOAD_APP` with {@link explainListen}'s text.
 */
export function assertNotListening(file: string, before: number): void {
  if (listeningServerCount() > before) throw loadError(explainListen(file).replace(/^tsgi: /, ''));
}

function fetchHandlerOf(value: unknown, label: string): FetchHandler {
  if (typeof value === 'object' && value !== null && typeof (value as { fetch?: unknown }).fetch === 'function') {
    const target = value as { fetch: FetchHandler };
    return (request, environ) => target.fetch(request, environ); // keep `this` for { fetch() { this... } }
  }
  if (typeof value === 'function') {
    const fn = value as FetchHandler & { fetch?: FetchHandler };
    return typeof fn.fetch === 'function' ? (request, environ) => (fn.fetch as FetchHandler).call(fn, request, environ) : fn;
  }
  throw loadError(`${label} is ${describe(value)}; --type fetch expects (request) => Response or an object with fetch()`);
}

function loadError(message: string): TsgiError {
  return new TsgiError('TSGI_LOAD_APP', `tsgi: cannot load app: ${message}`);
}

function constructorName(value: unknown): string | undefined {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== 'Object' && name !== 'Function' ? `${name} instance` : undefined;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `a function of ${(value as () => unknown).length} parameters`;
  if (typeof value === 'object') return `an object (${Object.keys(value).slice(0, 5).join(', ') || 'no keys'})`;
  return `a ${typeof value}`;
}
