// Finds what "close the app" means for a module export (Fastify, http.Server, a close() method) and gives the adapted App that close(), from the loader's side.

import type { Server } from 'node:http';
import type { App } from '../core/types.js';
import type { NodeTarget } from './node-target.js';

/** An app's shutdown hook (docs/spec.md "Closing the app"). */
export type CloseHook = () => Promise<void>;

/**
 * What closing `value` means, by the shape detection found (docs/adapters.md "Closing the app"):
 * - an `http.Server` / `https.Server`: `server.close()`, which emits 'close', so the listeners the
 *   module added for it run. On a server that never listened (the normal case: tsgi hosts its
 *   'request' listeners on a server of its own) Node 20 still emits 'close' and then calls back
 *   with ERR_SERVER_NOT_RUNNING, which only says it was not listening: not an error here. A
 *   listening one closes once its connections are gone. 'close' listeners are called as Node calls
 *   them, not awaited;
 * - anything else with a `close` method (a Fastify instance: `await fastify.close()` runs its
 *   preClose and onClose hooks; an object with `fetch()` and `close()`; a function with `close`):
 *   that method, called on `value`, awaited;
 * - anything without one (Express, Connect and Koa apps have no close): undefined.
 * @param value - the module export.
 * @param node - what `nodeListenerOf(value)` found, if anything (it tells an http.Server).
 * @returns the hook (at most once: later calls return the first call's promise), or undefined.
 */
export function closeHookOf(value: unknown, node: NodeTarget | undefined): CloseHook | undefined {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  const close = (value as { close?: unknown }).close;
  if (typeof close !== 'function') return undefined;
  if (node?.kind === 'http.Server') return once(() => closeServer(value as Server));
  return once(async () => {
    await (close as () => unknown).call(value);
  });
}

/**
 * Gives `app` (an adapter's own function, made for this export) `hook` as its `close()`; without
 * a hook, returns `app` unchanged.
 */
export function withCloseHook(app: App, hook: CloseHook | undefined): App {
  if (hook !== undefined) app.close = hook;
  return app;
}

/** `server.close()`, resolved once 'close' was emitted (its listeners have run by then). */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    // The callback is itself a 'close' listener, added after the module's own: it runs after them.
    server.close((error) => {
      if (error === undefined || (error as NodeJS.ErrnoException).code === 'ERR_SERVER_NOT_RUNNING') resolve();
      else reject(error);
    });
  });
}

/** `fn`, called at most once: later calls get the first call's promise. */
function once(fn: () => Promise<void>): CloseHook {
  let called: Promise<void> | undefined;
  return () => (called ??= fn());
}
