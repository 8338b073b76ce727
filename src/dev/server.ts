// A development-only HTTP server hosting a TSGI app in-process, from the server side (like wsgiref.simple_server, `flask run`).

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runApp, type Outcome, type ResponseSink } from '../core/driver.js';
import { buildEnviron } from '../core/environ.js';
import { RequestAbortedError } from '../core/errors.js';
import { BodyInput } from '../core/input.js';
import type { App, Environ, HeaderList } from '../core/types.js';
import { HttpError, requestParams } from './params.js';

/** Options for {@link startDevServer}. */
export interface DevServerOptions {
  /** The app to serve (adapt framework apps with `toApp` first). */
  app: App;
  /** Interface to listen on. Default `'127.0.0.1'`: keep it on loopback. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 8000. */
  port?: number;
  /**
   * Where log text goes, newline included: one access-log line per request, the driver's error
   * lines, and what the app writes to `tsgi.errors`. Default: process.stderr.
   */
  log?: (text: string) => void;
  /** The app's mount point, `""` (default) or `"/path"`; requests outside it get 404. */
  scriptName?: string;
}

/** A running dev server. */
export interface DevServer {
  /** The bound address (the real port when 0 was asked). */
  address: { host: string; port: number };
  /** `http://host:port` with the mount point, for printing and for tests. */
  url: string;
  /** Stops listening, aborts requests in progress (their `tsgi.signal` fires) and resolves when closed. */
  close(): Promise<void>;
}

const SOFTWARE = 'tsgi-dev';
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Starts a development-only HTTP server that runs `app` in this process through the real driver
 * (`runApp`), as wsgiref.simple_server does for WSGI. Not for production: no TLS, no limits, no
 * static files, one process; deploy behind nginx or Apache with the CGI runner or FastCGI daemon.
 * - The environ is what nginx's `fastcgi_params` would give (see `requestParams`), with
 *   `tsgi.multithread` true (requests interleave) and `tsgi.run_once` false.
 * - Backpressure both ways: the upload is paused when `tsgi.input` holds its window (64 KiB), and
 *   the app is not pulled while the socket is behind (`res.write()` false → wait for 'drain').
 * - `tsgi.signal` fires when the client closes the connection before the response is complete.
 * - Responses stream chunk by chunk; HEAD is answered without a body; every Set-Cookie is sent.
 * - One access-log line per request: `127.0.0.1 - - [date] "GET /path HTTP/1.1" 200 512 3ms`.
 * Watching files and reloading belong to the CLI (`--watch`).
 * @returns the server, once it listens.
 * @throws the listen error (e.g. EADDRINUSE) when the port cannot be bound.
 * @example
 * const dev = await startDevServer({ app, port: 8000 });
 * console.log(`serving on ${dev.url}`);
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const log = options.log ?? ((text: string) => void process.stderr.write(text));
  const host = options.host ?? '127.0.0.1';
  const scriptName = (options.scriptName ?? '').replace(/\/+$/, '');
  const inFlight = new Set<AbortController>();
  const server = http.createServer((req, res) => {
    handle(options.app, req, res, { log, scriptName, inFlight }).catch((error: unknown) => {
      log(`tsgi dev server: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8000, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  if (!LOOPBACK.has(host)) log(`tsgi dev server: listening on ${host}: this server is for development only; do not expose it\n`);
  const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    address: { host: bound.address, port: bound.port },
    url: `http://${shownHost}:${bound.port}${scriptName}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const controller of inFlight) controller.abort(new RequestAbortedError('tsgi: dev server closing'));
        server.closeAllConnections();
      }),
  };
}

interface HandleContext {
  log: (text: string) => void;
  scriptName: string;
  inFlight: Set<AbortController>;
}

async function handle(app: App, req: http.IncomingMessage, res: http.ServerResponse, context: HandleContext): Promise<void> {
  const started = performance.now();
  const stats = { status: 0, bytes: 0 };
  const accessLog = (outcome: Outcome | 'refused'): void => {
    const status = outcome === 'aborted' ? `${stats.status || '-'} (client went away)` : String(stats.status);
    const line = `"${req.method} ${req.url} HTTP/${req.httpVersion}" ${status} ${stats.bytes} ${Math.round(performance.now() - started)}ms`;
    context.log(`${req.socket.remoteAddress ?? '-'} - - [${new Date().toISOString()}] ${line}\n`);
  };
  let environ: Environ;
  let input: BodyInput | undefined;
  const controller = new AbortController();
  try {
    const params = requestParams(req, { scriptName: context.scriptName, software: SOFTWARE });
    environ = buildEnviron(params, {
      input: (contentLength) => (input = requestInput(req, contentLength)),
      errors: { write: context.log },
      signal: controller.signal,
      multithread: true,
      multiprocess: false,
      runOnce: false,
    });
  } catch (error) {
    // A path the server refuses, or a CONTENT_LENGTH that is not a number (TSGI_BAD_CONTENT_LENGTH).
    const status = error instanceof HttpError ? error.status : 400;
    context.log(`tsgi dev server: ${error instanceof Error ? error.message : String(error)}\n`);
    const body = `${http.STATUS_CODES[status] ?? 'Error'}\n`;
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    stats.status = status;
    stats.bytes = Buffer.byteLength(body);
    accessLog('refused');
    return;
  }
  // The client closing before the response is complete is "the client went away" (docs/spec.md).
  const onClose = (): void => {
    if (!res.writableFinished) controller.abort(new RequestAbortedError('tsgi: the client closed the connection'));
  };
  res.on('close', onClose);
  context.inFlight.add(controller);
  const outcome = await runApp(app, environ, responseSink(res, controller.signal, stats), { log: context.log });
  context.inFlight.delete(controller);
  input?.discard(); // Node reads and drops the rest of an upload the app left unread
  accessLog(outcome);
}

/** tsgi.input over the request stream, pausing it when the app falls behind (docs/spec.md "tsgi.input"). */
function requestInput(req: http.IncomingMessage, contentLength: number | undefined): BodyInput {
  const input = new BodyInput({ contentLength, source: { pause: () => req.pause(), resume: () => req.resume() } });
  req.on('data', (chunk: Buffer) => input.push(chunk));
  req.on('end', () => input.end());
  req.on('error', (error) => input.fail(new RequestAbortedError('tsgi: the request body broke off', { cause: error })));
  return input;
}

function responseSink(res: http.ServerResponse, signal: AbortSignal, stats: { status: number; bytes: number }): ResponseSink {
  return {
    start(status: string, headers: HeaderList): void {
      stats.status = Number(status.slice(0, 3));
      for (const [name, value] of headers) res.appendHeader(name, value); // repeats kept: each Set-Cookie
      res.writeHead(stats.status, status.slice(4));
    },
    write(chunk: Uint8Array): boolean {
      stats.bytes += chunk.byteLength;
      // A copy: the app may reuse its buffer once the driver pulls again, while the socket may still
      // hold this one (docs/spec.md "The body").
      return res.write(Buffer.from(chunk));
    },
    drain(): Promise<void> {
      if (signal.aborted || res.destroyed) return Promise.reject(new RequestAbortedError());
      return new Promise((resolve, reject) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          if (res.destroyed && !res.writableFinished) reject(new RequestAbortedError());
          else resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    },
    end(): void {
      res.end();
    },
    abort(): void {
      // Headers sent: destroying the socket is how an HTTP/1.1 client learns the response is cut off.
      res.destroy();
    },
  };
}
