// Serves HTTP in front of a FastCGI daemon from the web-server side, development only (like `php -S`).
import { Buffer } from 'node:buffer';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TsgiError } from '../core/errors.js';
import { endToEndHeaders } from '../core/headers.js';
import { HttpError, requestParams } from '../dev/params.js';
import { FastCgiClient, type FastCgiAddress, type FastCgiResponse } from '../fastcgi/client.js';

/** Settings for `startHttpFront`. */
export interface HttpFrontOptions {
  /** Where to accept HTTP, e.g. `{ host: '127.0.0.1', port: 8080 }`; port 0 picks a free port. */
  listen: { host: string; port: number };
  /** The FastCGI daemon: TCP host and port, or a Unix socket path. */
  upstream: FastCgiAddress;
  /** Where the app is mounted, `''` or `'/path'` without a trailing slash (default `''`). */
  scriptName?: string;
  /** Log sink, newline included as the daemon's: a line per request, stderr line and failure (default: stderr). */
  log?: (line: string) => void;
  /**
   * Log each line the daemon sends as FCGI_STDERR, as `tsgi-dev-front: FastCGI stderr: <line>`
   * (default true). `tsgi fastcgi --http` turns it off: the daemon runs in the same process and
   * writes those lines to the same stderr itself (see FastCgiServerOptions `echoErrors`), so
   * relaying them would show each one twice.
   */
  relayStderr?: boolean;
}

/** Idle keep-alive FastCGI connections kept for reuse; more are opened while all are busy. */
const POOL_MAX_IDLE = 8;

/** Keep-alive FastCGI connections (FCGI_KEEP_CONN, spec §5.1), one request each at a time. */
class ConnectionPool {
  #idle: FastCgiClient[] = [];
  readonly #all = new Set<FastCgiClient>();
  #closed = false;
  constructor(private readonly upstream: FastCgiAddress) {}

  async acquire(): Promise<{ client: FastCgiClient; reused: boolean }> {
    for (let client = this.#idle.pop(); client !== undefined; client = this.#idle.pop()) {
      if (client.idle) return { client, reused: true };
    }
    const client = await FastCgiClient.connect(this.upstream);
    this.#all.add(client);
    void client.closed.then(() => {
      this.#all.delete(client);
      this.#idle = this.#idle.filter((c) => c !== client);
    });
    return { client, reused: false };
  }

  release(client: FastCgiClient): void {
    if (!this.#closed && client.idle && this.#idle.length < POOL_MAX_IDLE) this.#idle.push(client);
    else client.close();
  }

  closeAll(): void {
    this.#closed = true;
    for (const client of this.#all) client.close();
  }
}

function waitForDrain(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function sendError(res: http.ServerResponse, status: number, message: string): void {
  if (res.headersSent) return void res.destroy();
  const body = `${status} ${http.STATUS_CODES[status] ?? ''}: ${message}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Sends the request upstream, retrying when a pooled connection turns out to be stale. */
async function forward(req: http.IncomingMessage, params: Record<string, string>, pool: ConnectionPool) {
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  for (;;) {
    const { client, reused } = await pool.acquire();
    try {
      const body = hasBody ? (req as AsyncIterable<Uint8Array>) : undefined;
      const response = await client.request({ params, body, keepConn: true });
      return { client, response };
    } catch (error) {
      client.close();
      // Like nginx, retry only what is safe to resend: a request without a body, on a stale connection.
      const stale = error instanceof TsgiError && error.code === 'FCGI_CONNECTION_CLOSED';
      if (!(reused && stale && !hasBody)) throw error;
    }
  }
}

/** What every request of one front shares. */
interface FrontContext {
  pool: ConnectionPool;
  scriptName: string;
  relayStderr: boolean;
  log: (line: string) => void;
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, { pool, scriptName, relayStderr, log }: FrontContext) {
  const started = Date.now();
  const done = (status: number | string): void => log(`${req.method} ${req.url} ${status} ${Date.now() - started}ms`);
  let params: Record<string, string>;
  try {
    // Built as nginx's fastcgi_params would (shared with the dev server).
    params = requestParams(req, { scriptName, software: 'tsgi-dev-front' });
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    sendError(res, error.status, error.message);
    return done(error.status);
  }
  let client: FastCgiClient;
  let response: FastCgiResponse;
  try {
    ({ client, response } = await forward(req, params, pool));
  } catch (error) {
    log(`tsgi-dev-front: upstream failed before the response head: ${errorText(error)}`);
    sendError(res, 502, 'the FastCGI application is unreachable or failed');
    return done(502);
  }
  // The HTTP client went away mid-response: closing the FastCGI connection aborts the request.
  let released = false;
  res.on('close', () => {
    if (!released) client.close();
  });
  try {
    res.statusCode = response.status;
    if (response.statusText !== '') res.statusMessage = response.statusText;
    // Connection-level fields are this front's own; a 426's Upgrade passes, as nginx passes it.
    for (const [name, value] of endToEndHeaders(response.headers, response.status)) res.appendHeader(name, value);
  } catch (error) {
    client.close();
    log(`tsgi-dev-front: the app sent a header Node cannot relay: ${errorText(error)}`);
    sendError(res, 502, 'the FastCGI application sent an invalid response head');
    return done(502);
  }
  try {
    for await (const chunk of response.body) {
      if (res.destroyed) break;
      if (!res.write(chunk)) await waitForDrain(res);
    }
  } catch (error) {
    client.close();
    if (res.destroyed) return done('client-gone');
    log(`tsgi-dev-front: upstream failed mid-response: ${errorText(error)}`);
    if (res.headersSent) res.destroy(error instanceof Error ? error : undefined);
    else sendError(res, 502, 'the FastCGI application failed mid-response');
    return done(res.headersSent ? 'aborted' : 502);
  }
  if (relayStderr) for (const line of response.stderr.split('\n')) if (line !== '') log(`tsgi-dev-front: FastCGI stderr: ${line}`);
  if (res.destroyed) {
    client.close();
    return done('client-gone');
  }
  res.end();
  released = true;
  pool.release(client);
  done(response.status);
}

/**
 * Starts a development-only HTTP server that forwards every request to a FastCGI daemon, the way
 * nginx does with `fastcgi_pass` and `include fastcgi_params`, so an app can be tried with a
 * browser without a front server. Not hardened for production: no limits, no TLS, no static files.
 * - Request and response bodies are streamed with backpressure; every Set-Cookie is relayed.
 * - 502 when the daemon is unreachable or fails before the response head; when it fails after the
 *   head was sent, the HTTP response is destroyed so the client sees an incomplete response.
 * - A pool of keep-alive FastCGI connections (FCGI_KEEP_CONN); a new one opens when all are busy.
 * - Logs a line per request, and each FCGI_STDERR line the daemon sends unless `relayStderr` is false.
 * @returns the bound address and `close()`, which stops listening and drops every connection.
 * @throws the listen error (e.g. EADDRINUSE) when the port cannot be bound.
 * @example
 * const front = await startHttpFront({ listen: { host: '127.0.0.1', port: 8080 }, upstream: { host: '127.0.0.1', port: 9000 } });
 */
export async function startHttpFront(
  options: HttpFrontOptions,
): Promise<{ close(): Promise<void>; address: { host: string; port: number } }> {
  const sink = options.log ?? ((text: string) => void process.stderr.write(text));
  const log = (line: string): void => sink(`${line}\n`);
  const pool = new ConnectionPool(options.upstream);
  const context: FrontContext = { pool, scriptName: options.scriptName ?? '', relayStderr: options.relayStderr ?? true, log };
  const server = http.createServer((req, res) => {
    handle(req, res, context).catch((error: unknown) => {
      log(`tsgi-dev-front: internal error: ${errorText(error)}`);
      sendError(res, 500, 'internal error in the development front');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        pool.closeAll();
      }),
  };
}
