// Implements FastCGI from the web-server side: a client for one connection, one request at a time.
import net from 'node:net';
import { TsgiError } from '../core/errors.js';
import { ClientExchange, deferred, type Deferred, type FastCgiResponse } from './client-exchange.js';
import { FCGI_KEEP_CONN, FCGI_NULL_REQUEST_ID, RecordType, Role } from './constants.js';
import { decodeParams, encodeParams } from './params.js';
import { RecordParser } from './parser.js';
import { decodeEndRequestBody, encodeBeginRequestBody } from './record.js';
import { RecordWriter } from './writer.js';

export type { FastCgiResponse } from './client-exchange.js';

/** Where a FastCGI application listens: TCP host and port, or a Unix socket path. */
export type FastCgiAddress = { host: string; port: number } | { path: string };

/** One request to send (FastCGI spec §5.1–5.3, §6.2). */
export interface FastCgiRequestOptions {
  /** CGI meta-variables, sent as FCGI_PARAMS in this order. */
  params: Record<string, string> | Array<[string, string]>;
  /** FCGI_STDIN content; streamed with backpressure when an async iterable. Default: empty. */
  body?: Uint8Array | AsyncIterable<Uint8Array>;
  /** Default `Role.FCGI_RESPONDER`. */
  role?: number;
  /** Sets FCGI_KEEP_CONN so the application keeps the connection open (spec §5.1). Default false. */
  keepConn?: boolean;
}

/** Request id of every request: this client does not multiplex (FastCGI spec §3.3). */
const REQUEST_ID = 1;
/** How long `close()` waits for pending writes to flush before destroying the socket. */
const CLOSE_GRACE_MS = 2000;

function describe(address: FastCgiAddress): string {
  return 'path' in address ? address.path : `${address.host}:${address.port}`;
}

/**
 * A FastCGI client (the web-server side of the protocol), for tests, health probes and the
 * development HTTP front. One connection; one request at a time with request id 1; responder role
 * by default.
 * @example
 * const client = await FastCgiClient.connect({ host: '127.0.0.1', port: 9000 });
 * const res = await client.request({ params: { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/' } });
 * for await (const chunk of res.body) process.stdout.write(chunk);
 */
export class FastCgiClient {
  /** Resolves when the socket has closed, for whatever reason. Never rejects. */
  readonly closed: Promise<void>;
  readonly #socket: net.Socket;
  readonly #writer: RecordWriter;
  readonly #parser: RecordParser;
  #exchange: ClientExchange | null = null;
  #valueWaiters: Array<Deferred<Record<string, string>>> = [];
  #isClosed = false;
  /** No new request may start: the application or we are closing the connection. */
  #ending = false;
  #closeError: unknown = null;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    this.#writer = new RecordWriter(socket);
    this.#parser = new RecordParser((type, id, content) => this.#onRecord(type, id, content));
    let onClosed!: () => void;
    this.closed = new Promise<void>((resolve) => (onClosed = resolve));
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#parser.push(chunk);
      } catch (error) {
        socket.destroy(error instanceof Error ? error : new Error(String(error)));
      }
    });
    socket.on('error', (error) => (this.#closeError ??= error));
    socket.on('close', () => {
      this.#onClose();
      onClosed();
    });
  }

  /**
   * Opens a connection to a FastCGI application.
   * @throws {TsgiError} code `FCGI_CONNECT_FAILED` (with the socket error as `cause`) when the
   *   connection is refused or fails.
   */
  static connect(address: FastCgiAddress): Promise<FastCgiClient> {
    return new Promise((resolve, reject) => {
      const socket = 'path' in address ? net.connect(address.path) : net.connect(address.port, address.host);
      const onError = (error: Error): void => {
        socket.destroy();
        reject(new TsgiError('FCGI_CONNECT_FAILED', `fastcgi: cannot connect to ${describe(address)}: ${error.message}`, { cause: error }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        socket.setNoDelay(true);
        resolve(new FastCgiClient(socket));
      });
    });
  }

  /** True when a new request can start now: connected, nothing in flight, not closing. */
  get idle(): boolean {
    return !this.#isClosed && !this.#ending && this.#exchange === null && !this.#socket.destroyed;
  }

  /**
   * Sends one request: BEGIN_REQUEST, the PARAMS stream, then the STDIN stream (FastCGI spec §6.2),
   * and resolves once the CGI head has arrived on FCGI_STDOUT.
   * @throws {TsgiError} code `FCGI_CLIENT_BUSY` when a request is already in flight (no
   *   multiplexing); `FCGI_CONNECTION_CLOSED` when the connection is closed or closes before the
   *   head; `FCGI_REQUEST_REJECTED` when the application ends the request with a protocolStatus
   *   other than FCGI_REQUEST_COMPLETE (spec §5.5); `CGI_BAD_RESPONSE` / `CGI_HEAD_TOO_LARGE` when
   *   the head is malformed or missing; `FCGI_REQUEST_BODY_FAILED` when `body` throws.
   */
  async request(options: FastCgiRequestOptions): Promise<FastCgiResponse> {
    if (this.#isClosed || this.#ending || this.#socket.destroyed) {
      throw new TsgiError('FCGI_CONNECTION_CLOSED', 'fastcgi: the connection is closed or closing');
    }
    if (this.#exchange !== null) {
      throw new TsgiError('FCGI_CLIENT_BUSY', 'fastcgi: a request is already in flight on this connection (no multiplexing)');
    }
    const keepConn = options.keepConn ?? false;
    const exchange = new ClientExchange((paused) => (paused ? this.#socket.pause() : this.#socket.resume()));
    this.#exchange = exchange;
    // Without FCGI_KEEP_CONN the application closes the connection after this request (spec §5.1).
    if (!keepConn) this.#ending = true;
    const pairs = Array.isArray(options.params) ? options.params : Object.entries(options.params);
    const flags = keepConn ? FCGI_KEEP_CONN : 0;
    this.#writer.record(RecordType.FCGI_BEGIN_REQUEST, REQUEST_ID, encodeBeginRequestBody(options.role ?? Role.FCGI_RESPONDER, flags));
    this.#writer.stream(RecordType.FCGI_PARAMS, REQUEST_ID, encodeParams(pairs));
    this.#writer.endStream(RecordType.FCGI_PARAMS, REQUEST_ID);
    void this.#pumpStdin(exchange, options.body);
    return exchange.head.promise;
  }

  /**
   * Asks the application for variables with FCGI_GET_VALUES and waits for FCGI_GET_VALUES_RESULT
   * (FastCGI spec §4.1). Names the application does not know are missing from the result.
   * @param names - e.g. `[ValueName.FCGI_MPXS_CONNS]`.
   * @throws {TsgiError} code `FCGI_CONNECTION_CLOSED` when the connection closes first;
   *   `FCGI_UNKNOWN_TYPE` when the application answers FCGI_UNKNOWN_TYPE.
   */
  async getValues(names: string[]): Promise<Record<string, string>> {
    if (this.#isClosed || this.#socket.destroyed) {
      throw new TsgiError('FCGI_CONNECTION_CLOSED', 'fastcgi: the connection is closed');
    }
    const waiter = deferred<Record<string, string>>();
    this.#valueWaiters.push(waiter);
    const content = encodeParams(names.map((name): [string, string] => [name, '']));
    this.#writer.record(RecordType.FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID, content);
    return waiter.promise;
  }

  /** Sends raw bytes as they are, e.g. a malformed record in a protocol test. */
  rawWrite(bytes: Uint8Array): void {
    if (!this.#socket.destroyed) this.#socket.write(bytes);
  }

  /**
   * Closes the connection as a web server does: flushes what was written, then closes the socket
   * entirely, so a request in flight is aborted (the application sees end-of-file and its next
   * writes fail). Destroys the socket after 2 s if the flush never completes.
   */
  close(): void {
    this.#ending = true;
    if (this.#socket.destroyed) return;
    this.#writer.flush();
    this.#socket.end(() => this.#socket.destroy());
    setTimeout(() => this.#socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  async #pumpStdin(exchange: ClientExchange, body: FastCgiRequestOptions['body']): Promise<void> {
    try {
      if (body instanceof Uint8Array) {
        this.#writer.stream(RecordType.FCGI_STDIN, REQUEST_ID, body);
      } else if (body !== undefined) {
        for await (const chunk of body) {
          if (exchange.finished) break;
          if (!this.#writer.stream(RecordType.FCGI_STDIN, REQUEST_ID, chunk)) await this.#drained();
          if (exchange.finished) break;
        }
      }
      if (exchange.finished) return;
      this.#writer.endStream(RecordType.FCGI_STDIN, REQUEST_ID);
      exchange.stdinDone = true;
    } catch (error) {
      if (exchange.finished) return;
      const message = error instanceof Error ? error.message : String(error);
      this.#socket.destroy(new TsgiError('FCGI_REQUEST_BODY_FAILED', `fastcgi: reading the request body failed: ${message}`, { cause: error }));
    }
  }

  #drained(): Promise<void> {
    this.#writer.flush();
    return new Promise((resolve) => {
      if (this.#socket.destroyed || !this.#socket.writableNeedDrain) return resolve();
      const done = (): void => {
        this.#socket.off('drain', done);
        this.#socket.off('close', done);
        resolve();
      };
      this.#socket.on('drain', done);
      this.#socket.on('close', done);
    });
  }

  #onRecord(type: number, requestId: number, content: Uint8Array): void {
    if (requestId === FCGI_NULL_REQUEST_ID) return this.#onManagementRecord(type, content);
    const exchange = this.#exchange;
    // Records for other ids, or after END_REQUEST, belong to no request of ours: ignore them.
    if (requestId !== REQUEST_ID || exchange === null) return;
    if (type === RecordType.FCGI_STDOUT) exchange.onStdout(content);
    else if (type === RecordType.FCGI_STDERR) exchange.onStderr(content);
    else if (type === RecordType.FCGI_END_REQUEST) this.#onEndRequest(exchange, content);
  }

  #onManagementRecord(type: number, content: Uint8Array): void {
    if (type === RecordType.FCGI_GET_VALUES_RESULT) {
      this.#valueWaiters.shift()?.resolve(Object.fromEntries(decodeParams(content)));
    } else if (type === RecordType.FCGI_UNKNOWN_TYPE && content[0] === RecordType.FCGI_GET_VALUES) {
      this.#valueWaiters.shift()?.reject(new TsgiError('FCGI_UNKNOWN_TYPE', 'fastcgi: the application does not understand FCGI_GET_VALUES'));
    }
  }

  #onEndRequest(exchange: ClientExchange, content: Uint8Array): void {
    const { appStatus, protocolStatus } = decodeEndRequestBody(content);
    this.#exchange = null;
    if (!exchange.stdinDone) {
      // The application answered before reading all of stdin. Leftover STDIN records would be
      // ignored (spec §3.3 "Managing Request IDs"), but retiring the connection is simpler and safer.
      this.#ending = true;
      this.#writer.flush();
      this.#socket.end();
    }
    exchange.end(appStatus, protocolStatus);
  }

  #onClose(): void {
    this.#isClosed = true;
    const cause = this.#closeError ?? undefined;
    this.#exchange?.fail(this.#parser.midRecord, cause);
    this.#exchange = null;
    for (const waiter of this.#valueWaiters.splice(0)) {
      waiter.reject(new TsgiError('FCGI_CONNECTION_CLOSED', 'fastcgi: connection closed before FCGI_GET_VALUES_RESULT', { cause }));
    }
  }
}
