// Implements one FastCGI transport connection from the application side: records in, requests out.

import type { Socket } from 'node:net';
import { ProtocolError, RequestAbortedError } from '../core/errors.js';
import type { App } from '../core/types.js';
import type { ConnectionOptions } from './connection-options.js';
import { ConnectionTimeouts } from './connection-timeouts.js';
import { FCGI_KEEP_CONN, FCGI_NULL_REQUEST_ID, RecordType } from './constants.js';
import { RecordParser } from './parser.js';
import { decodeBeginRequestBody } from './record.js';
import { Replies, refusalFor } from './replies.js';
import { FastCgiRequest, type RequestHost } from './request.js';
import { RequestTable } from './request-table.js';
import { RecordWriter } from './writer.js';

/** Stream records from the web server, handed on piece by piece (see RecordParserOptions). */
const STREAM_TYPES_IN: readonly number[] = [RecordType.FCGI_PARAMS, RecordType.FCGI_STDIN, RecordType.FCGI_DATA];

/**
 * Milliseconds between sending the last bytes of a response being cut off and resetting the
 * connection (see `#cut`): a reset makes the peer's kernel drop what it has not read yet.
 */
const RESET_DELAY_MS = 50;

/**
 * How long a graceful stop waits for the first request of a connection accepted just before it
 * (see `shutdown`), in ms. Web servers send their request as soon as they have connected.
 */
const FIRST_REQUEST_GRACE_MS = 1000;

/**
 * One connection from a web server (FastCGI spec §3). Requests are multiplexed by id when
 * `multiplex` is on (FCGI_MPXS_CONNS=1); when it is off, a BEGIN_REQUEST while another request is
 * live is refused with FCGI_CANT_MPX_CONN (spec §5.5). A request's body never stalls its
 * neighbours: bodies are always read (spooled beyond a window) and responses share the socket's
 * backpressure. The connection closes after a request without FCGI_KEEP_CONN (spec §5.1), after an
 * idle timeout, or when a request's PARAMS, STDIN or DATA stall or the web server stops taking
 * response bytes (see `checkTimeout`); once our side has ended, the web server has `lingerMs` to
 * close its own.
 * Malformed input closes this connection only, with one log line. Closing is also the only way to
 * mark a response incomplete (`#cut`); whatever the reason, every request on the connection goes.
 */
export class FastCgiConnection implements RequestHost {
  readonly app: App;
  readonly writer: RecordWriter;
  readonly connectionId: number;
  readonly multiprocess: boolean;
  readonly scriptName: string | undefined;
  readonly echoErrors: boolean;
  readonly maxParamsBytes: number;
  readonly maxBodyBytes: number;
  readonly bodyMemoryBytes: number;
  readonly #socket: Socket;
  readonly #options: ConnectionOptions;
  readonly #parser: RecordParser;
  readonly #requests = new RequestTable<FastCgiRequest>();
  #closing = false;
  #closed = false;
  /** No request has begun on this connection yet (while stopping, its first one may still: `shutdown`). */
  #fresh = true;
  /**
   * A read is being parsed. A request answered within it (runAppNow answers a sync app at once) must
   * not end the connection before the read's later records are seen: a BEGIN_REQUEST among them is
   * refused with FCGI_OVERLOADED, as when the answer came a turn later.
   */
  #parsing = false;
  /** The connection is to end once the read being parsed is done (see #parsing; done(), #cut). */
  #endAfterParse = false;
  readonly #timeouts: ConnectionTimeouts;
  #drainWaiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  /** The records the connection sends on its own (refusals, answers), bounded. */
  readonly #replies: Replies;
  readonly #closedPromise: Promise<void>;

  constructor(socket: Socket, connectionId: number, options: ConnectionOptions) {
    this.app = options.app;
    this.connectionId = connectionId;
    this.multiprocess = options.multiprocess;
    this.scriptName = options.scriptName;
    this.echoErrors = options.echoErrors;
    this.maxParamsBytes = options.maxParamsBytes;
    this.maxBodyBytes = options.maxBodyBytes;
    this.bodyMemoryBytes = options.bodyMemoryBytes;
    this.#socket = socket;
    this.#options = options;
    this.#timeouts = new ConnectionTimeouts(options, Date.now());
    this.writer = new RecordWriter(socket);
    this.#replies = new Replies(this.writer, socket, options);
    // Stream records are handed on in pieces as they arrive: a 32 KiB STDIN record that spans two
    // socket reads is not copied (142 µs per 1 MiB upload before: docs/performance.md).
    this.#parser = new RecordParser((type, id, content) => this.#onRecord(type, id, content), {
      splitTypes: STREAM_TYPES_IN,
    });
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => {
      this.#replies.drained();
      this.#timeouts.drained();
      this.#settleDrain(false);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A web server resetting the connection is routine (client gone, nginx reload).
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') this.log(`fastcgi: connection ${connectionId}: ${error.message}\n`);
    });
    socket.on('end', () => this.#onEnd());
    this.#closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.#onClose();
        resolve();
      }),
    );
  }

  /** True while a request is being served. */
  get busy(): boolean {
    return this.#requests.size > 0;
  }

  /** Resolves once the socket has closed. */
  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  log(line: string): void {
    this.#options.log(line);
  }

  drain(): Promise<void> {
    if (this.#closed) return Promise.reject(new RequestAbortedError('fastcgi: connection closed'));
    // What the writer has queued (under 256 KiB: it flushes past that) leaves at the end of the
    // turn with the rest of the response: flushing it here would split a 64 KiB response from its
    // END_REQUEST into two syscalls.
    if (!this.#socket.writableNeedDrain) return Promise.resolve();
    this.writer.flush();
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  /**
   * Enforces the connection's timeouts (idle, a request's stall, send, linger: see
   * ConnectionTimeouts); called by the server's sweep, so a timeout fires up to one sweep late.
   * @param now - `Date.now()` of the sweep.
   */
  checkTimeout(now: number): void {
    if (this.#closed) return;
    const action = this.#timeouts.check(now, this.#socket, this.#requests);
    if (action === undefined) return;
    if (action.kind === 'end') this.#end(); // idle: the web server opens a new one when it needs one
    else if (action.kind === 'destroy') this.#socket.destroy(); // lingered: nothing to say
    else this.#drop(action.reason);
  }

  /** Drops the connection at once, with one log line saying why; its requests are aborted. */
  #drop(reason: string): void {
    this.log(`fastcgi: closing connection ${this.connectionId}: ${reason}\n`);
    this.#socket.destroy();
  }

  done(request: FastCgiRequest, next: 'keep' | 'close' | 'cut'): void {
    if (this.#requests.get(request.id) === request) {
      this.#requests.delete(request.id);
      this.#timeouts.forget(request.id);
      this.#options.onRequestDone?.();
    }
    if (next === 'cut') {
      this.#cut(request.resetToCut);
      return;
    }
    if (next === 'close') this.#closing = true;
    if (this.#requests.size > 0) return;
    if (!this.#closing) this.#timeouts.idleSince(Date.now()); // not from the last byte the request received
    else if (this.#parsing) this.#endAfterParse = true;
    else this.#end();
  }

  /**
   * Ends the connection without FCGI_END_REQUEST, the protocol's only way to say "incomplete":
   * nginx with fastcgi_keep_conn and buffering on, Apache mod_proxy_fcgi and lighttpd then cut the
   * client's response off. nginx without keep_conn, or with buffering off, takes an orderly close
   * for the end of the response, and only a reset shows it the truth; a reset makes lighttpd mark
   * the backend dead and Apache mod_fcgid append an error page, though, so it is sent to nginx only
   * (`resetToCut`; docs/front-servers.md "Responses"), and only over TCP: a unix socket has no
   * reset. A reset drops what the kernel had not sent yet: nginx then shows its client less of the
   * partial body, or a 502. Other requests on the connection go with it.
   */
  #cut(reset: boolean): void {
    const socket = this.#socket;
    // A unix socket has no reset (resetAndDestroy throws ERR_INVALID_HANDLE_TYPE): close it in order,
    // once the read being parsed is (its later records may still queue replies: see #parsing).
    if (!reset || socket.remoteFamily === undefined) {
      if (this.#parsing) {
        this.#closing = true;
        this.#endAfterParse = true;
      } else {
        this.#end();
      }
      return;
    }
    this.#closing = true;
    this.writer.flush();
    // A reset discards what the web server has not read yet, the partial body included: give it
    // RESET_DELAY_MS to read what was sent (bytes still queued here go first, bounded by the sweep's
    // send timeout), then reset.
    const reset_ = (): void => {
      if (!socket.destroyed) socket.resetAndDestroy();
    };
    const later = (): void => void setTimeout(reset_, RESET_DELAY_MS);
    if (socket.writableLength === 0) later();
    else socket.once('drain', later);
  }

  /** Sends what the writer queued, then FIN (once: a second `end()` makes Node build an error). */
  #end(): void {
    if (this.#socket.writableEnded) return;
    this.writer.flush();
    this.#socket.end();
  }

  /**
   * Graceful stop: close now when idle, else after the live requests (no new requests accepted).
   * A connection on which no request has begun yet was accepted moments ago, and its web server is
   * sending the request: closing it now would be a 502 (nginx retries a request only on a
   * connection it reused). Its first request is served, and the connection closed after it, or
   * after FIRST_REQUEST_GRACE_MS if none comes.
   */
  shutdown(): void {
    this.#closing = true;
    if (this.#requests.size > 0) return;
    if (!this.#fresh) {
      this.#end();
      return;
    }
    setTimeout(() => {
      if (this.#requests.size === 0) this.#end();
    }, FIRST_REQUEST_GRACE_MS).unref();
  }

  /** Immediate stop: drop the connection and abort its requests. */
  destroy(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#timeouts.heard(Date.now());
    // Our side has ended (graceful stop, idle timeout): a request nginx sends on the keep-alive
    // connection meanwhile cannot be answered; it sees the FIN and retries on a new connection.
    if (this.#socket.writableEnded) return;
    this.#parsing = true;
    try {
      this.#parser.push(chunk);
    } catch (error) {
      this.#drop(error instanceof Error ? error.message : String(error));
    } finally {
      this.#parsing = false;
    }
    if (this.#endAfterParse) {
      this.#endAfterParse = false;
      if (!this.#socket.destroyed) this.#end();
    }
  }

  #onRecord(type: number, id: number, content: Uint8Array): void {
    if (id === FCGI_NULL_REQUEST_ID) {
      this.#replies.management(type, content);
      return;
    }
    if (type === RecordType.FCGI_BEGIN_REQUEST) {
      this.#begin(id, content);
      return;
    }
    // Spec §3.3: records for an id that is not live (e.g. the rest of a body the app did not
    // wait for) are ignored. A record counts as feeding its request (its timeout restarts) only
    // where the request still takes it; fed before it is handed on, as that may end the request
    // at once.
    const request = this.#requests.get(id);
    switch (type) {
      case RecordType.FCGI_PARAMS:
        if (request === undefined) return;
        this.#timeouts.fed(id);
        request.input.params(content);
        return;
      case RecordType.FCGI_STDIN:
        if (request === undefined) return;
        // Dropped, and no progress, where the request takes no STDIN: an authorizer gets no body
        // (spec §6.3), and a stream ends at its empty record (spec §3.3) however a filter's DATA goes.
        if (request.input.takesStdin) this.#timeouts.fed(id);
        request.input.stdin(content);
        return;
      case RecordType.FCGI_DATA:
        if (request === undefined) return;
        // Only a filter takes FCGI_DATA (spec §6.4), and only until its empty record; else dropped.
        if (request.input.takesData) this.#timeouts.fed(id);
        request.input.data(content);
        return;
      case RecordType.FCGI_ABORT_REQUEST:
        request?.abortRequest();
        return;
      default:
        this.#replies.unknownType(type);
    }
  }

  #begin(id: number, content: Uint8Array): void {
    const { role, flags } = decodeBeginRequestBody(content);
    // Our side ended while this read was being parsed (an onRequestDone hook that stops the
    // server, for one): as in #onData, a request cannot be answered now.
    if (this.#socket.writableEnded) return;
    if (this.#requests.has(id)) {
      throw new ProtocolError('FCGI_DUPLICATE_REQUEST', `fastcgi: FCGI_BEGIN_REQUEST for live request ${id}`);
    }
    const refusal = refusalFor(role, this.#requests.size, this.#options, this.#closing && !this.#fresh);
    if (refusal !== undefined) {
      this.#replies.refuse(id, refusal);
      return;
    }
    this.#requests.set(id, new FastCgiRequest(this, id, role, (flags & FCGI_KEEP_CONN) !== 0));
    this.#timeouts.fed(id);
    this.#fresh = false;
  }

  #onEnd(): void {
    // Spec §3.5: a web server closes a connection only when no request is active, unless it is
    // aborting; nginx closes instead of sending FCGI_ABORT_REQUEST when its client goes away.
    if (this.#parser.midRecord) this.log(`fastcgi: connection ${this.connectionId} ended inside a record\n`);
    if (this.#requests.size === 0) this.#end();
    else this.#socket.destroy();
  }

  #onClose(): void {
    this.#closed = true;
    for (const request of this.#requests.takeAll()) request.connectionClosed();
    this.#settleDrain(true);
  }

  /** Settles the writers waiting for 'drain': resolved, or rejected when the connection closed. */
  #settleDrain(closed: boolean): void {
    const waiters = this.#drainWaiters;
    if (waiters.length === 0) return;
    this.#drainWaiters = [];
    // Made only when someone waits: an Error's stack costs microseconds on every closed connection.
    const error = closed ? new RequestAbortedError('fastcgi: connection closed') : undefined;
    for (const waiter of waiters) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
  }
}
