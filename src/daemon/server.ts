// Runs the FastCGI daemon's accept loop: sockets in, FastCgiConnections out, tracked for draining.

import { createServer, type Server, type Socket } from 'node:net';
import { closeApp } from '../core/app-close.js';
import type { App } from '../core/types.js';
import { FastCgiConnection } from '../fastcgi/connection.js';
import type { ConnectionOptions } from '../fastcgi/connection-options.js';
import { listenOn, type ListenAddress } from './listen.js';

/** Options for {@link FastCgiServer}. */
export interface FastCgiServerOptions {
  /** The app every request runs. Its `close()` hook, if it has one, is called by {@link FastCgiServer.close}. */
  app: App;
  /** Log line sink (newline included). Default: process.stderr. */
  log?: (line: string) => void;
  /**
   * Also pass what the app writes to `tsgi.errors` to `log`, as given (default false). It goes to
   * the web server as FCGI_STDERR either way, and tsgi's own lines about app errors go to both
   * anyway. `tsgi fastcgi --http` sets it, since its in-process front does not relay FCGI_STDERR
   * (HttpFrontOptions `relayStderr`): each line then reaches the terminal once. Requests from
   * another front server on the same socket are echoed too.
   */
  echoErrors?: boolean;
  /** Most connections served at once; more are closed on accept. Advertised as FCGI_MAX_CONNS. Default 1024. */
  maxConns?: number;
  /** Largest PARAMS stream per request, in bytes. Default 1 MiB. */
  maxParamsBytes?: number;
  /** Largest request body, in bytes: larger CONTENT_LENGTH → 413 before the app runs. Default 1 GiB. */
  maxBodyBytes?: number;
  /** Request body bytes kept in memory per request; unread bytes beyond go to a temp file. Default 256 KiB. */
  bodyMemoryBytes?: number;
  /** The app's mount point (`--script-name`); default: keep the front server's SCRIPT_NAME/PATH_INFO. */
  scriptName?: string;
  /** True when several daemon processes share the socket (sets `tsgi.multiprocess`). Default false. */
  multiprocess?: boolean;
  /** Accept concurrent requests on one connection (FCGI_MPXS_CONNS=1). Default true. */
  multiplex?: boolean;
  /** Live requests per connection when multiplexing; more get FCGI_OVERLOADED. Default 100. */
  maxRequestsPerConnection?: number;
  /**
   * Close a connection with no live request after this many ms of silence, and drop one whose
   * response bytes wait this long for the web server to take any (0: never). Default 120000.
   */
  idleTimeoutMs?: number;
  /**
   * Drop a connection whose request waits this many ms for its FCGI_PARAMS, FCGI_STDIN or (a
   * filter's) FCGI_DATA (slowloris; 0: never). Default 60000.
   */
  requestTimeoutMs?: number;
  /**
   * Once the daemon has ended its side of a connection (no FCGI_KEEP_CONN, idle timeout, graceful
   * stop), destroy it if the web server has not closed its own within this many ms (0: wait for
   * ever). Default 2000.
   */
  lingerMs?: number;
  /**
   * Addresses allowed to connect over TCP (FastCGI spec §3.2 FCGI_WEB_SERVER_ADDRS); others are
   * closed at once. Default: anyone who can reach the socket.
   */
  webServerAddrs?: string[];
  /** Called each time a request ends, whatever its outcome (a worker counts them for `--max-requests`). */
  onRequestDone?: () => void;
}

/**
 * How long the web server gets to close its side after the daemon ended its own. nginx closes an
 * upstream connection as soon as it reads the FIN; Apache mod_proxy_fcgi with enablereuse notices
 * only when it next picks the connection from its pool, so there the linger ends it routinely.
 * Short enough that a graceful stop is not held by a peer that never closes.
 */
const DEFAULT_LINGER_MS = 2000;

/** At most one log line per this many ms about connections refused or failed on accept. */
const ACCEPT_LOG_INTERVAL_MS = 1000;

/**
 * Parses FCGI_WEB_SERVER_ADDRS (FastCGI spec §3.2): a comma-separated list of IP addresses.
 * @returns the addresses, or undefined when the value is absent or empty.
 */
export function parseWebServerAddrs(value: string | undefined): string[] | undefined {
  const list = (value ?? '').split(',').map((address) => address.trim()).filter((address) => address !== '');
  return list.length > 0 ? list : undefined;
}

/**
 * A FastCGI application server hosting one TSGI app in every role: RESPONDER, AUTHORIZER and FILTER
 * (FastCGI spec §6.2–§6.4).
 * @example
 * const server = new FastCgiServer({ app });
 * await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 9000 });
 */
export class FastCgiServer {
  readonly #server: Server;
  readonly #connections = new Set<FastCgiConnection>();
  readonly #options: ConnectionOptions;
  readonly #allowed: Set<string> | undefined;
  #nextConnectionId = 1;
  #closing = false;
  /** The first close()'s grace period (ms) and when it ends (ms since the epoch). */
  #grace: { ms: number; deadline: number } | undefined;
  /** The app's close() hook, once called (see close()). */
  #appClosed: Promise<unknown> | undefined;
  /** One timer for all connections' timeouts (see FastCgiConnection.checkTimeout). */
  #sweep: NodeJS.Timeout | undefined;
  /** When the last accept line was logged (ms), and how many were left out since. */
  #acceptLoggedAt = 0;
  #acceptUnlogged = 0;

  constructor(options: FastCgiServerOptions) {
    this.#options = {
      app: options.app,
      log: options.log ?? ((line) => void process.stderr.write(line)),
      echoErrors: options.echoErrors ?? false,
      maxConns: options.maxConns ?? 1024,
      maxParamsBytes: options.maxParamsBytes ?? 1024 * 1024,
      maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024 * 1024,
      bodyMemoryBytes: options.bodyMemoryBytes ?? 256 * 1024,
      multiprocess: options.multiprocess ?? false,
      scriptName: options.scriptName,
      multiplex: options.multiplex ?? true,
      maxRequestsPerConnection: options.maxRequestsPerConnection ?? 100,
      idleTimeoutMs: options.idleTimeoutMs ?? 120_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
      lingerMs: options.lingerMs ?? DEFAULT_LINGER_MS,
      onRequestDone: options.onRequestDone,
    };
    this.#allowed = options.webServerAddrs === undefined ? undefined : new Set(options.webServerAddrs.map(plainAddress));
    // allowHalfOpen: the connection decides what a half-close means (an abort when a request is
    // live, spec §3.5; otherwise a close) instead of Node ending our side on its own.
    this.#server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
    this.#server.maxConnections = this.#options.maxConns;
  }

  /**
   * Runs every connection's timeout check at a quarter of the shortest timeout (10 ms to 1 s): a
   * timeout fires up to that much late, and no timer is touched per request or per read.
   */
  #startSweep(): void {
    if (this.#sweep !== undefined) return;
    const options = this.#options;
    // A timeout of 0 is off (never in force) and does not speed the sweep up.
    const timeouts = [options.idleTimeoutMs, options.requestTimeoutMs, options.lingerMs].filter((ms) => ms > 0);
    const every = Math.max(10, Math.min(1000, Math.floor(Math.min(4000, ...timeouts) / 4)));
    this.#sweep = setInterval(() => {
      const now = Date.now();
      for (const connection of this.#connections) connection.checkTimeout(now);
    }, every);
    this.#sweep.unref();
  }

  #stopSweep(): void {
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  /** Connections currently open. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Starts listening.
   * @param socketMode - permissions for a new unix socket (default 0660).
   * @param shared - true in a worker process: the socket is shared with the other workers (see
   *   {@link listenOn}). Default false.
   * @returns the bound address (with the real port when 0 was asked); saying where it listens is
   *   the caller's (the CLI logs "tsgi: fastcgi listening on …").
   * @throws {TsgiError} code `TSGI_LISTEN` (see {@link listenOn}).
   */
  async listen(address: ListenAddress, socketMode?: number, shared = false): Promise<ListenAddress> {
    const bound = await listenOn(this.#server, address, socketMode, shared);
    // Added once listening, so a bind failure stays listenOn's error. Node emits 'error' when
    // accept() fails (ENOBUFS, ENOMEM; EMFILE/ENFILE only when libuv's spare descriptor is gone:
    // usually libuv accepts and closes those connections itself, unseen). Without a listener the
    // daemon would die; the listening socket stays usable.
    this.#server.on('error', (error: Error) =>
      this.#logAccept(`fastcgi: accepting a connection failed: ${error.message}; still listening\n`),
    );
    // --max-conns reached: Node closes the new connection on accept and says so only here.
    this.#server.on('drop', () =>
      this.#logAccept(`fastcgi: closing a new connection: --max-conns ${this.#options.maxConns} reached\n`),
    );
    this.#startSweep();
    return bound;
  }

  /**
   * Graceful stop: accept nothing more, close idle connections, let running requests finish; at
   * the deadline, `graceMs` milliseconds after the first call, drop what is left. Then close the
   * app: call its `close()` hook, if it has one, once, and wait for it until the same deadline
   * (docs/spec.md "Closing the app"; `closeApp` logs a hook that fails or is still running).
   * Calling it again waits for the same stop, with the first call's deadline.
   * @param graceMs - the whole stop's time limit, requests and the app's `close()` together, in
   *   milliseconds; default 30000.
   * @returns once the connections are closed and the app's `close()` settled or was given up on;
   *   never rejects.
   */
  async close(graceMs = 30_000): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#server.close();
      for (const connection of this.#connections) connection.shutdown();
    }
    const grace = (this.#grace ??= { ms: graceMs, deadline: Date.now() + graceMs });
    const deadline = grace.deadline;
    const all = Promise.all([...this.#connections].map((c) => c.closed));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), Math.max(0, deadline - Date.now()));
    });
    const result = await Promise.race([all, late]);
    clearTimeout(timer);
    this.#stopSweep();
    if (result === 'late') {
      this.#options.log(`tsgi: ${this.#connections.size} connection(s) still busy after ${grace.ms} ms; closing them\n`);
      this.destroy();
    }
    // Once, after the last request: a second close() (or a second caller) waits for the same hook.
    this.#appClosed ??= closeApp(this.#options.app, {
      timeoutMs: deadline - Date.now(),
      log: this.#options.log,
      limit: `what was left of the ${grace.ms} ms grace period`,
    });
    await this.#appClosed;
  }

  /** Immediate stop: close the listener and every connection. The app's `close()` is not called. */
  destroy(): void {
    this.#closing = true;
    this.#stopSweep();
    this.#server.close();
    for (const connection of this.#connections) connection.destroy();
  }

  /** Logs a line about accepting, at most one per ACCEPT_LOG_INTERVAL_MS: a flood must not flood the log. */
  #logAccept(line: string): void {
    const now = Date.now();
    if (now - this.#acceptLoggedAt < ACCEPT_LOG_INTERVAL_MS) {
      this.#acceptUnlogged++;
      return;
    }
    const left = this.#acceptUnlogged;
    this.#acceptLoggedAt = now;
    this.#acceptUnlogged = 0;
    this.#options.log(left === 0 ? line : `${line.slice(0, -1)} (${left} more since the last such line)\n`);
  }

  #accept(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    // remoteAddress is a getpeername() syscall: only asked when FCGI_WEB_SERVER_ADDRS is in force.
    const remote = this.#allowed === undefined ? undefined : socket.remoteAddress;
    if (this.#allowed !== undefined && remote !== undefined && !this.#allowed.has(plainAddress(remote))) {
      // Spec §3.2: close connections from addresses not in FCGI_WEB_SERVER_ADDRS at once.
      this.#options.log(`fastcgi: refusing a connection from ${remote}: not in FCGI_WEB_SERVER_ADDRS\n`);
      socket.destroy();
      return;
    }
    const connection = new FastCgiConnection(socket, this.#nextConnectionId++, this.#options);
    this.#connections.add(connection);
    void connection.closed.then(() => this.#connections.delete(connection));
  }
}

/** `::ffff:127.0.0.1` (an IPv4 peer on a dual-stack socket) compares as `127.0.0.1`. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
