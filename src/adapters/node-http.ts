// Runs node:http request listeners (Express, Koa, Fastify, a bare (req, res) function) as TSGI apps, from the app side.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { TsgiError } from '../core/errors.js';
import { isToken } from '../core/headers.js';
import type { App, Body, Environ, HeaderList } from '../core/types.js';
import { isFieldValue, requestHost } from './environ-request.js';
import { ExchangeSocket } from './node-socket.js';
import { statusLine } from './reason-phrase.js';
import { endToEndHeaders } from './response-headers.js';

/** A node:http `'request'` listener: Express apps, `koaApp.callback()`, `fastify.routing`. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/** Options for {@link fromNodeHttp}. */
export interface NodeHttpOptions {
  /** Awaited once before the first request, e.g. `() => fastify.ready()`. Retried if it rejects. */
  ready?: () => unknown;
  /**
   * Whether `req.url` starts with SCRIPT_NAME. Default false: `req.url` is the path below the mount
   * point (PATH_INFO re-quoted, `?` query), while `req.originalUrl` holds the whole path and
   * `req.baseUrl` the mount point, which is how Express presents a sub-app mounted with `app.use()`
   * (Fastify reads `originalUrl` too). True: `req.url` is the whole path, for an app whose routes
   * already include its mount point.
   */
  includeScriptName?: boolean;
  /** Response bytes queued before `res.write()` returns false. Default 16384 (Node 20's socket default). */
  highWaterMark?: number;
}

/** A node-style app found in a module export by {@link nodeListenerOf}. */
export interface NodeTarget {
  /** Which shape was recognised. */
  kind: 'function' | 'koa' | 'fastify' | 'http.Server';
  listener: NodeListener;
  /** For Fastify: boot its plugins and routes before the first request. */
  ready?: () => unknown;
}

/** Largest request head node:http accepts here; the front server already enforced its own limit. */
const MAX_REQUEST_HEAD_BYTES = 1024 * 1024;
const DEFAULT_HIGH_WATER_MARK = 16384;
const TEXT_PLAIN: HeaderList = [['Content-Type', 'text/plain; charset=utf-8']];

/**
 * Turns a node:http listener into a TSGI app, using only public Node APIs and patching nothing.
 * Each request gets a real `http.IncomingMessage` and `http.ServerResponse`, made by a private
 * `http.Server` (never listening) from an in-memory connection: the request is rebuilt as HTTP/1.1
 * (method, `req.url` as {@link NodeHttpOptions.includeScriptName} says, headers from `HTTP_*` and
 * CONTENT_*, HTTP/1.0 or 1.1 from SERVER_PROTOCOL) and what the response writes is parsed back. So
 * every framework sees the objects it was written for, with their real behaviour:
 * - `req` is a Readable of the body, pulled from `tsgi.input` as the listener reads it (at most
 *   Node's 16 KiB request buffer plus one chunk ahead); `req.socket` carries `remoteAddress`,
 *   `remotePort` and `encrypted` (https) from the environ;
 * - `res` streams: each `res.write()` reaches the TSGI server as it happens (`flushHeaders()` sends
 *   the head at once), `res.write()` returns false when more than `highWaterMark` bytes wait for the
 *   client and 'drain' follows; 'finish' and 'close' fire as on a socket, and 'close' without
 *   'finish' when the client goes away (`tsgi.signal`).
 * - The status keeps its reason phrase; headers keep their order and repeats (each Set-Cookie), minus
 *   what belongs to the connection (Connection, Keep-Alive, Transfer-Encoding). `Date` is left to the
 *   front server (`res.sendDate = false`).
 * - `environOf(req)` gives the listener the TSGI environ.
 * A listener that throws or rejects before its head is answered 500 by the driver; after, the
 * response is cut off. A method or header node:http refuses is answered 400 and logged.
 * `node:http` is imported on the first request, so a CGI process pays for it only if it uses it.
 * @param listener - `(req, res) => void`, e.g. an Express app or `koaApp.callback()`.
 * @param options - see {@link NodeHttpOptions}.
 * @returns the TSGI app.
 * @throws {TsgiError} code `TSGI_LOAD_APP` when `listener` is not a function.
 * @see docs/adapters.md
 * @example
 * import express from 'express';
 * const app = express().get('/', (req, res) => res.send('hi'));
 * export default fromNodeHttp(app);
 */
export function fromNodeHttp(listener: NodeListener, options: NodeHttpOptions = {}): App {
  if (typeof listener !== 'function') {
    throw new TsgiError('TSGI_LOAD_APP', `tsgi: fromNodeHttp expects a (req, res) function, got ${typeof listener}`);
  }
  const includeScriptName = options.includeScriptName ?? false;
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  let host: Promise<Server> | undefined;
  return async (environ, startResponse) => {
    host ??= hostServer(listener, options).catch((error: unknown) => {
      host = undefined; // let the next request try again
      throw error;
    });
    const server = await host;
    const hostHeader = requestHost(environ);
    if (!isToken(environ.REQUEST_METHOD) || !isFieldValue(hostHeader)) {
      environ['tsgi.errors'].write(
        `tsgi: node adapter: cannot express ${JSON.stringify(environ.REQUEST_METHOD)} to ${JSON.stringify(hostHeader)} as HTTP/1.1\n`,
      );
      startResponse('400 Bad Request', TEXT_PLAIN);
      return ['Bad Request\n'];
    }
    const socket = new ExchangeSocket(environ, { includeScriptName, highWaterMark, host: hostHeader });
    socket.connect(server);
    try {
      const head = await socket.head();
      startResponse(statusLine(head.status, head.reason), endToEndHeaders(head.headers));
    } catch (error) {
      socket.close();
      throw error;
    }
    const body: Body = { [Symbol.asyncIterator]: () => socket, close: () => socket.close() };
    return body;
  };
}

/**
 * The TSGI environ of a request handled through {@link fromNodeHttp}, or `undefined` for a request
 * that came from elsewhere. Gives a listener what the front server said (REMOTE_USER, SCRIPT_NAME,
 * `tsgi.errors`).
 */
export function environOf(req: IncomingMessage): Environ | undefined {
  return req.socket instanceof ExchangeSocket ? req.socket.environ : undefined;
}

/**
 * Finds the node:http listener in a module export, for the CLI and `toApp`:
 * - a Fastify instance (`routing`, `ready`, `server`): `fastify.routing`, after `ready()`;
 * - a Koa app (`callback`, `use`, `middleware`): `app.callback()`, built at the first request so
 *   that middleware added after the export still counts;
 * - a function (an Express or Connect app, a bare listener): itself;
 * - an `http.Server` / `https.Server` (`listen`, `listeners`) with 'request' listeners: each of them
 *   in turn, as the server itself would call them (it need not, and should not, be listening).
 * @returns the listener and how to get it ready, or `undefined` when `value` is none of these.
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

/** The private server whose parser and ServerResponse every request of this app goes through. */
async function hostServer(listener: NodeListener, options: NodeHttpOptions): Promise<Server> {
  const http = await import('node:http');
  if (options.ready !== undefined) await options.ready();
  const includeScriptName = options.includeScriptName ?? false;
  const server = http.createServer({ maxHeaderSize: MAX_REQUEST_HEAD_BYTES }, (req, res) =>
    dispatch(listener, req, res, includeScriptName),
  );
  server.on('clientError', (error: Error, socket: unknown) => {
    if (socket instanceof ExchangeSocket) socket.refuse(error);
  });
  return server;
}

function dispatch(listener: NodeListener, req: IncomingMessage, res: ServerResponse, includeScriptName: boolean): void {
  const socket = req.socket;
  if (!(socket instanceof ExchangeSocket)) {
    res.destroy();
    return;
  }
  res.sendDate = false; // the front server dates the response (nginx, Apache); two Date fields would conflict
  if (!includeScriptName) {
    const extra = req as IncomingMessage & { originalUrl?: string; baseUrl?: string };
    extra.originalUrl = socket.originalUrl;
    if (socket.environ.SCRIPT_NAME !== '') extra.baseUrl = socket.environ.SCRIPT_NAME;
  }
  try {
    const result = listener(req, res);
    if (isThenable(result)) result.then(undefined, (error: unknown) => socket.fail(error));
  } catch (error) {
    socket.fail(error);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
