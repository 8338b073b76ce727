// Implements one FastCGI transport connection from the application side: records in, requests out.

import type { Socket } from 'node:net';
import { ProtocolError, RequestAbortedError } from '../core/errors.js';
import type { App } from '../core/types.js';
import {
  FCGI_KEEP_CONN,
  FCGI_NULL_REQUEST_ID,
  ProtocolStatus,
  RecordType,
  Role,
  ValueName,
  recordTypeName,
} from './constants.js';
import { decodeParams, encodeParams } from './params.js';
import { RecordParser } from './parser.js';
import { decodeBeginRequestBody, encodeEndRequestBody, encodeUnknownTypeBody } from './record.js';
import { FastCgiRequest, type RequestHost } from './request.js';
import { RecordWriter } from './writer.js';

/** Settings a connection shares with its server. */
export interface ConnectionOptions {
  app: App;
  /** Server log line sink (newline included). */
  log: (line: string) => void;
  /** Advertised as FCGI_MAX_CONNS and FCGI_MAX_REQS (spec §4.1). */
  maxConns: number;
  /** Largest PARAMS stream accepted per request, in bytes. */
  maxParamsBytes: number;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** Request body bytes held in memory per request before the rest goes to a temp file. */
  bodyMemoryBytes: number;
  /** True when several daemon processes serve the same socket. */
  multiprocess: boolean;
  /** The app's mount point (`--script-name`), or undefined to keep the front server's split. */
  scriptName: string | undefined;
}

/**
 * One connection from a web server. Requests are not multiplexed: a BEGIN_REQUEST while another
 * request is live is refused with FCGI_CANT_MPX_CONN (spec §5.5), and GET_VALUES says
 * FCGI_MPXS_CONNS=0. The connection stays open after a request when it had FCGI_KEEP_CONN
 * (spec §5.1). Malformed input closes this connection only, with one log line.
 */
export class FastCgiConnection implements RequestHost {
  readonly app: App;
  readonly writer: RecordWriter;
  readonly connectionId: number;
  readonly multiprocess: boolean;
  readonly scriptName: string | undefined;
  readonly maxParamsBytes: number;
  readonly maxBodyBytes: number;
  readonly bodyMemoryBytes: number;
  readonly #socket: Socket;
  readonly #options: ConnectionOptions;
  readonly #parser: RecordParser;
  #request: FastCgiRequest | undefined;
  #closing = false;
  #closed = false;
  #drainWaiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  readonly #closedPromise: Promise<void>;

  constructor(socket: Socket, connectionId: number, options: ConnectionOptions) {
    this.app = options.app;
    this.connectionId = connectionId;
    this.multiprocess = options.multiprocess;
    this.scriptName = options.scriptName;
    this.maxParamsBytes = options.maxParamsBytes;
    this.maxBodyBytes = options.maxBodyBytes;
    this.bodyMemoryBytes = options.bodyMemoryBytes;
    this.#socket = socket;
    this.#options = options;
    this.writer = new RecordWriter(socket);
    this.#parser = new RecordParser((type, id, content) => this.#onRecord(type, id, content));
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => this.#settleDrain(undefined));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A web server resetting the connection is routine (client gone, nginx reload).
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') this.log(`fastcgi: connection ${connectionId}: ${error.message}\n`);
    });
    socket.on('end', () => this.#onEnd());
    this.#closedPromise = new Promise((resolve) => socket.once('close', () => {
      this.#onClose();
      resolve();
    }));
  }

  /** True while a request is being served. */
  get busy(): boolean {
    return this.#request !== undefined;
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
    if (!this.#socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  done(request: FastCgiRequest, closeConnection: boolean): void {
    if (this.#request === request) this.#request = undefined;
    if (closeConnection || this.#closing) {
      this.#closing = true;
      this.#socket.end(); // flushes what the writer queued, then FIN
    }
  }

  /**
   * Graceful stop: close now when idle, else after the current request (no new requests accepted).
   */
  shutdown(): void {
    this.#closing = true;
    if (this.#request === undefined) this.#socket.end();
  }

  /** Immediate stop: drop the connection and abort its request. */
  destroy(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    try {
      this.#parser.push(chunk);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.log(`fastcgi: closing connection ${this.connectionId}: ${message}\n`);
      this.#socket.destroy();
    }
  }

  #onRecord(type: number, id: number, content: Uint8Array): void {
    if (id === FCGI_NULL_REQUEST_ID) {
      this.#onManagementRecord(type, content);
      return;
    }
    const request = this.#request;
    switch (type) {
      case RecordType.FCGI_BEGIN_REQUEST:
        this.#begin(id, content);
        return;
      case RecordType.FCGI_PARAMS:
        if (request?.id === id) request.params(content);
        return;
      case RecordType.FCGI_STDIN:
        if (request?.id === id) request.stdin(content);
        return;
      case RecordType.FCGI_ABORT_REQUEST:
        if (request?.id === id) request.abortRequest();
        return;
      case RecordType.FCGI_DATA:
        return; // FILTER role only; responders ignore it
      default:
        if (type >= RecordType.FCGI_BEGIN_REQUEST && type <= RecordType.FCGI_UNKNOWN_TYPE) {
          throw new ProtocolError('FCGI_UNEXPECTED_RECORD', `fastcgi: unexpected ${recordTypeName(type)} from the web server`);
        }
        // Spec §4.2: answer record types we do not know with FCGI_UNKNOWN_TYPE.
        this.writer.record(RecordType.FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, encodeUnknownTypeBody(type));
    }
  }

  #begin(id: number, content: Uint8Array): void {
    const { role, flags } = decodeBeginRequestBody(content);
    if (this.#request !== undefined) {
      if (this.#request.id === id) {
        throw new ProtocolError('FCGI_DUPLICATE_REQUEST', `fastcgi: FCGI_BEGIN_REQUEST for live request ${id}`);
      }
      this.#refuse(id, ProtocolStatus.FCGI_CANT_MPX_CONN);
      return;
    }
    if (this.#closing) {
      this.#refuse(id, ProtocolStatus.FCGI_OVERLOADED);
      return;
    }
    if (role !== Role.FCGI_RESPONDER) {
      this.#refuse(id, ProtocolStatus.FCGI_UNKNOWN_ROLE);
      return;
    }
    this.#request = new FastCgiRequest(this, id, (flags & FCGI_KEEP_CONN) !== 0);
  }

  #refuse(id: number, protocolStatus: number): void {
    this.writer.record(RecordType.FCGI_END_REQUEST, id, encodeEndRequestBody(0, protocolStatus));
  }

  #onManagementRecord(type: number, content: Uint8Array): void {
    if (type !== RecordType.FCGI_GET_VALUES) {
      if (type >= RecordType.FCGI_BEGIN_REQUEST && type <= RecordType.FCGI_DATA) {
        throw new ProtocolError('FCGI_NULL_REQUEST_ID', `fastcgi: ${recordTypeName(type)} with request id 0`);
      }
      this.writer.record(RecordType.FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, encodeUnknownTypeBody(type));
      return;
    }
    // Spec §4.1: answer the names we know, truthfully; omit the others.
    const known: Record<string, string> = {
      [ValueName.FCGI_MAX_CONNS]: String(this.#options.maxConns),
      [ValueName.FCGI_MAX_REQS]: String(this.#options.maxConns),
      [ValueName.FCGI_MPXS_CONNS]: '0',
    };
    const answer: Array<[string, string]> = [];
    for (const [name] of decodeParams(content)) {
      const value = known[name];
      if (value !== undefined) answer.push([name, value]);
    }
    this.writer.record(RecordType.FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID, encodeParams(answer));
  }

  #onEnd(): void {
    // Spec §3.5: a web server closes a connection only when no request is active, unless it is
    // aborting; nginx closes instead of sending FCGI_ABORT_REQUEST when its client goes away.
    if (this.#parser.midRecord) this.log(`fastcgi: connection ${this.connectionId} ended inside a record\n`);
    if (this.#request === undefined) this.#socket.end();
    else this.#socket.destroy();
  }

  #onClose(): void {
    this.#closed = true;
    const request = this.#request;
    this.#request = undefined;
    request?.connectionClosed();
    this.#settleDrain(new RequestAbortedError('fastcgi: connection closed'));
  }

  #settleDrain(error: unknown): void {
    const waiters = this.#drainWaiters;
    if (waiters.length === 0) return;
    this.#drainWaiters = [];
    for (const waiter of waiters) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
  }
}
