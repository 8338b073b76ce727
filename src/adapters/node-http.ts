// Runs node:http request listeners (Express, Koa, Fastify, a bare (req, res) function) as TSGI apps, from the app side.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { TsgiError } from '../core/errors.js';
import { endToEndHeaders, isToken } from '../core/headers.js';
import { isThenable } from '../core/thenable.js';
import type { App, Environ, HeaderList } from '../core/types.js';
import { isFieldValue, requestHost } from './environ-request.js';
import { ExchangeSocket } from './node-socket.js';
import { statusLine } from './reason-phrase.js';

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

/** Largest request head node:http accepts here; the front server already enforced its own limit. */
const MAX_REQUEST_HEAD_BYTES = 1024 * 1024;
const DEFAULT_HIGH_WATER_MARK = 16384;
/** Idle in-memory connections kept for reuse, per app. */
const MAX_IDLE_CONNECTIONS = 64;
/** Where `req` keeps its environ, for {@link environOf}. */
const ENVIRON = Symbol('tsgi.environ');
const TEXT_PLAIN: HeaderList = [['Content-Type', 'text/plain; charset=utf-8']];
const CONNECT_REFUSED =
  "tsgi: node adapter: CONNECT answered 501 Not Implemented: a tunnel cannot pass through TSGI, so no 'connect' listener is called (RFC 9110 §9.3.6)\n";

/**
 * Turns a node:http listener into a TSGI app, patching no global and no prototype. Each request
 * gets a real `http.IncomingMessage` and `http.ServerResponse`, made by a private `http.Server`
 * (never listening) from an in-memory connection: the request is rebuilt as HTTP/1.1 (method,
 * `req.url` as {@link NodeHttpOptions.includeScriptName} says, headers from `HTTP_*` and CONTENT_*,
 * HTTP/1.0 or 1.1 from SERVER_PROTOCOL). The response's status and fields are taken from the head
 * Node builds (its `_storeHeader`, wrapped on each response instance) and its body bytes come over
 * the connection unframed. Connections are reused for the next request from the same client
 * connection of the front server, as keep-alive connections are (docs/adapters.md). So every
 * framework sees the objects it was written for, with their real behaviour:
 * - `req` is a Readable of the body, pulled from `tsgi.input` as the listener reads it (at most
 *   Node's 16 KiB request buffer plus one chunk ahead); `req.socket` carries `remoteAddress`,
 *   `remotePort` and `encrypted` (https) from the environ;
 * - `res` streams: each `res.write()` reaches the TSGI server as it happens (`flushHeaders()` sends
 *   the head at once), `res.write()` returns false when more than `highWaterMark` bytes wait for the
 *   client and 'drain' follows; 'finish' and 'close' fire as on a socket, and 'close' without
 *   'finish' when the client goes away (`tsgi.signal`).
 * - The status keeps its reason phrase; headers keep their order and repeats (each Set-Cookie), minus
 *   what belongs to the connection (Connection, Keep-Alive, Transfer-Encoding, and Upgrade but in a
 *   426, where RFC 9110 §15.5.22 requires it). `Date` is left to the front server (`res.sendDate = false`).
 * - `environOf(req)` gives the listener the TSGI environ.
 * A listener that throws or rejects before its head is answered 500 by the driver; after, the
 * response is cut off. A method or header node:http refuses is answered 400 and logged. CONNECT is
 * answered 501 and logged without calling the listener (a tunnel cannot pass through TSGI; RFC 9110
 * §9.3.6); an `Upgrade` request field is not forwarded, so the listener serves such a request as
 * plain HTTP (RFC 9110 §7.8 lets a server ignore it).
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
  let starting: Promise<Host> | undefined;
  let started: Host | undefined;
  const start = (): Promise<Host> =>
    (starting ??= hostServer(listener, options, highWaterMark).then(
      (host) => (started = host),
      (error: unknown) => {
        starting = undefined; // let the next request try again
        throw error;
      },
    ));
  return async (environ, startResponse) => {
    // Node's parser hands a CONNECT to the server's 'connect' listeners, or destroys the socket when
    // there are none: either way no response. TSGI has no tunnel to give such a listener, so no
    // resource here can implement CONNECT: 501 (RFC 9110 §9.1), not 405, which would owe an Allow
    // field listing the app's methods (§15.5.6).
    if (environ.REQUEST_METHOD === 'CONNECT') {
      environ['tsgi.errors'].write(CONNECT_REFUSED);
      startResponse('501 Not Implemented', TEXT_PLAIN);
      return ['Not Implemented\n'];
    }
    const host = started ?? (await start());
    const hostHeader = requestHost(environ);
    if (!isToken(environ.REQUEST_METHOD) || !isFieldValue(hostHeader)) {
      environ['tsgi.errors'].write(
        `tsgi: node adapter: cannot express ${JSON.stringify(environ.REQUEST_METHOD)} to ${JSON.stringify(hostHeader)} as HTTP/1.1\n`,
      );
      startResponse('400 Bad Request', TEXT_PLAIN);
      return ['Bad Request\n'];
    }
    const key = connectionKey(environ);
    const socket = host.connection(key, environ);
    socket.send(host.server, environ, { includeScriptName, host: hostHeader });
    try {
      const pending = socket.head();
      const head = pending instanceof Promise ? await pending : pending;
      startResponse(statusLine(head.status, head.reason), endToEndHeaders(head.headers, head.status));
    } catch (error) {
      socket.close();
      throw error;
    }
    return new ExchangeBody(socket, host, key);
  };
}

/**
 * The TSGI environ of a request handled through {@link fromNodeHttp}, or `undefined` for a request
 * that came from elsewhere. Gives a listener what the front server said (REMOTE_USER, SCRIPT_NAME,
 * `tsgi.errors`).
 */
export function environOf(req: IncomingMessage): Environ | undefined {
  return (req as IncomingMessage & { [ENVIRON]?: Environ })[ENVIRON];
}

/** The ServerResponse internals the adapter takes the response head from (see `storeHeader`). */
interface ResponseInternals {
  _header: string | null;
  _headerSent: boolean;
  chunkedEncoding: boolean;
  _storeHeader(firstLine: string, headers: unknown): void;
}

/** Node's own `_storeHeader`, which `storeHeader` runs first; set with the first host server. */
let nodeStoreHeader: ResponseInternals['_storeHeader'] | undefined;

/**
 * The private server whose parser and ServerResponse every request of this app goes through, and
 * its idle connections. A connection is reused only for the next request from the same client
 * connection of the front server (REMOTE_ADDR, REMOTE_PORT, SERVER_ADDR, SERVER_PORT, scheme): the
 * `req.socket` fields a listener may still read after its response are then the same for both,
 * as on a keep-alive TCP connection. At most {@link MAX_IDLE_CONNECTIONS} wait, the oldest go first.
 */
class Host {
  readonly server: Server;
  readonly #highWaterMark: number;
  readonly #idle = new Map<string, ExchangeSocket>();

  constructor(server: Server, highWaterMark: number) {
    this.server = server;
    this.#highWaterMark = highWaterMark;
  }

  /** An idle connection of this client connection that can carry a request, or a new one. */
  connection(key: string, environ: Environ): ExchangeSocket {
    const idle = this.#idle.get(key);
    if (idle !== undefined) {
      this.#idle.delete(key);
      if (idle.reusable()) return idle;
      idle.destroy();
    }
    return new ExchangeSocket(environ, this.#highWaterMark);
  }

  /** The driver is done with `socket`'s response: keep the connection for the next request, or close it. */
  release(socket: ExchangeSocket, key: string): void {
    if (!socket.close()) return; // closed already: the response was not complete
    // Node finishes the response ('finish', then it lets go of the connection) a tick or two from
    // now; `connection()` checks that it did before reusing it.
    if (!socket.poolable()) {
      setImmediate(destroySocket, socket);
      return;
    }
    const previous = this.#idle.get(key);
    if (previous !== undefined) {
      this.#idle.delete(key);
      previous.destroy();
    }
    this.#idle.set(key, socket);
    if (this.#idle.size > MAX_IDLE_CONNECTIONS) {
      const oldest = this.#idle.keys().next().value as string;
      this.#idle.get(oldest)?.destroy();
      this.#idle.delete(oldest);
    }
  }
}

/** The TSGI body of one response: the socket's chunks until the end of that response. */
class ExchangeBody implements AsyncIterator<Uint8Array> {
  readonly #socket: ExchangeSocket;
  readonly #host: Host;
  readonly #key: string;
  readonly #generation: number;

  constructor(socket: ExchangeSocket, host: Host, key: string) {
    this.#socket = socket;
    this.#host = host;
    this.#key = key;
    this.#generation = socket.generation;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    return this.#socket.next();
  }

  close(): void {
    if (this.#socket.generation === this.#generation) this.#host.release(this.#socket, this.#key);
  }
}

/** Which client connection of the front server a request came on (see {@link Host}). */
function connectionKey(environ: Environ): string {
  return `${environ.REMOTE_ADDR} ${environ.REMOTE_PORT} ${environ.SERVER_ADDR} ${environ.SERVER_PORT} ${environ['tsgi.url_scheme']}`;
}

function destroySocket(socket: ExchangeSocket): void {
  socket.destroy();
}

async function hostServer(listener: NodeListener, options: NodeHttpOptions, highWaterMark: number): Promise<Host> {
  const http = await import('node:http');
  if (options.ready !== undefined) await options.ready();
  nodeStoreHeader ??= (http.OutgoingMessage.prototype as unknown as ResponseInternals)._storeHeader;
  const includeScriptName = options.includeScriptName ?? false;
  const server = http.createServer({ maxHeaderSize: MAX_REQUEST_HEAD_BYTES }, (req, res) =>
    dispatch(listener, req, res, includeScriptName),
  );
  server.on('clientError', (error: Error, socket: unknown) => {
    if (socket instanceof ExchangeSocket) socket.refuse(error);
  });
  return new Host(server, highWaterMark);
}

/**
 * `res._storeHeader` of every response, set on the instance (it survives Express swapping the
 * prototype): Node builds the head as always, then the exchange takes status and fields from it,
 * and the response is told the head is sent and the body unchunked, so neither is written only to
 * be parsed back. A response on anything but an exchange socket is left as Node made it.
 */
function storeHeader(this: ServerResponse & ResponseInternals, firstLine: string, headers: unknown): void {
  (nodeStoreHeader as ResponseInternals['_storeHeader']).call(this, firstLine, headers);
  const socket = this.socket;
  if (socket instanceof ExchangeSocket && socket.takeHead(this)) {
    this._headerSent = true;
    this.chunkedEncoding = false;
  }
}

/** 'prefinish' of every response: its last byte went to the connection. */
function onPrefinish(this: ServerResponse): void {
  const socket = this.socket;
  if (socket instanceof ExchangeSocket) socket.endOfResponse();
}

function dispatch(listener: NodeListener, req: IncomingMessage, res: ServerResponse, includeScriptName: boolean): void {
  const socket = req.socket;
  if (!(socket instanceof ExchangeSocket)) {
    res.destroy();
    return;
  }
  res.sendDate = false; // the front server dates the response (nginx, Apache); two Date fields would conflict
  (res as ServerResponse & ResponseInternals)._storeHeader = storeHeader;
  res.on('prefinish', onPrefinish);
  (req as IncomingMessage & { [ENVIRON]?: Environ })[ENVIRON] = socket.environ;
  if (!includeScriptName) {
    const extra = req as IncomingMessage & { originalUrl?: string; baseUrl?: string };
    extra.originalUrl = socket.originalUrl;
    if (socket.environ.SCRIPT_NAME !== '') extra.baseUrl = socket.environ.SCRIPT_NAME;
  }
  try {
    const result = listener(req, res);
    if (isThenable(result)) {
      const environ = socket.environ;
      result.then(undefined, (error: unknown) => socket.fail(error, environ));
    }
  } catch (error) {
    socket.fail(error);
  }
}

