// Recognises a node:http app in a module export (Express, Connect, Koa, Fastify, an http.Server), from the loader's side.

import type { Server } from 'node:http';
import type { NodeListener } from './node-http.js';

/** A node-style app found in a module export by {@link nodeListenerOf}. */
export interface NodeTarget {
  /** Which shape was recognised. */
  kind: 'function' | 'koa' | 'fastify' | 'http.Server';
  /** The `(req, res)` function that serves a request, as `fromNodeHttp` takes it. */
  listener: NodeListener;
  /** For Fastify: boot its plugins and routes before the first request. */
  ready?: () => unknown;
}

/**
 * Finds the node:http listener in a module export, for the CLI and `toApp`:
 * - a Fastify instance (`routing`, `ready`, `server`): `fastify.routing`, after `ready()`;
 * - a Koa app (`callback`, `use`, `middleware`): `app.callback()`, built at the first request so
 *   that middleware added after the export still counts;
 * - a function (an Express or Connect app, a bare listener): itself;
 * - an `http.Server` / `https.Server` (`listen`, `listeners`) with 'request' listeners: each of them
 *   in turn, as the server itself would call them (it need not, and should not, be listening).
 * @param value - a module's export, anything.
 * @returns the listener and how to get it ready, or `undefined` when `value` is none of these.
 * @example
 * const target = nodeListenerOf(expressApp); // { kind: 'function', listener: expressApp }
 * const app = target === undefined ? undefined : fromNodeHttp(target.listener);
 */
export function nodeListenerOf(value: unknown): NodeTarget | undefined {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  const candidate = value as Record<string, unknown>;
  const routing = candidate.routing;
  const ready = candidate.ready;
  if (typeof routing === 'function' && typeof ready === 'function' && 'server' in candidate) {
    return {
      kind: 'fastify',
      listener: (req, res) => routing.call(value, req, res),
      ready: () => ready.call(value),
    };
  }
  const callback = candidate.callback;
  if (typeof callback === 'function' && typeof candidate.use === 'function' && Array.isArray(candidate.middleware)) {
    let handler: NodeListener | undefined;
    return { kind: 'koa', listener: (req, res) => (handler ??= callback.call(value) as NodeListener)(req, res) };
  }
  if (typeof value === 'function') return { kind: 'function', listener: value as NodeListener };
  if (typeof candidate.listen === 'function' && typeof candidate.listeners === 'function') {
    const server = value as Server;
    if (server.listenerCount('request') === 0) return undefined;
    return {
      kind: 'http.Server',
      listener: (req, res) => {
        for (const listener of server.listeners('request')) (listener as NodeListener).call(server, req, res);
      },
    };
  }
  return undefined;
}
