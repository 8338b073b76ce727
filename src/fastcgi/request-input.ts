// Takes in one request's input streams from the application side: FCGI_PARAMS, then FCGI_STDIN and a filter's FCGI_DATA.

import { compactView } from '../core/bytes.js';
import { ProtocolError } from '../core/errors.js';
import { BodyInput } from '../core/input.js';
import { Role } from './constants.js';
import { decodeParamList, type ParamList } from './params.js';

/** The limits a request's input is held to (FastCgiServerOptions), all in bytes. */
export interface InputLimits {
  /** Largest PARAMS stream accepted. */
  readonly maxParamsBytes: number;
  /** Largest request body (and filter data) accepted. */
  readonly maxBodyBytes: number;
  /** Body bytes held in memory; the rest waits in a temp file. */
  readonly bodyMemoryBytes: number;
}

/** What a {@link RequestInput} tells its request. */
export interface InputOwner {
  /** The params stream ended (its empty record): the decoded pairs, names and values alternating. */
  paramsEnded(params: ParamList): void;
  /** FCGI_STDIN and, for a filter, FCGI_DATA have both reached their empty record. */
  bodiesEnded(): void;
}

/**
 * The input a request still waits for, named after its stream(s) (FastCGI spec §3.3), as the stall
 * line says it; undefined when it has it all.
 */
export type AwaitedInput = 'FCGI_PARAMS' | 'FCGI_STDIN' | 'FCGI_DATA' | 'FCGI_STDIN and FCGI_DATA' | undefined;

/**
 * The input side of one request (FastCGI spec §3.3 stream records). PARAMS are collected until
 * their empty record (a name-value pair may straddle records, spec §3.4), counted against
 * `maxParamsBytes`, then decoded once. FCGI_STDIN goes into `tsgi.input` and a filter's FCGI_DATA
 * (spec §6.4) into `fastcgi.data`, both {@link BodyInput}s made when the environ is built; both
 * streams may arrive at once, in any order, once the params have ended. An authorizer takes no
 * STDIN (spec §6.3), and only a filter takes DATA: those streams count as ended from the start.
 * Records out of order throw a ProtocolError, which closes the connection.
 */
export class RequestInput {
  readonly #owner: InputOwner;
  readonly #limits: InputLimits;
  readonly #id: number;
  readonly #role: number;
  /** Until the params' empty record: the pieces received; then undefined. */
  #params: Uint8Array[] | undefined = [];
  #paramsBytes = 0;
  #input: BodyInput | undefined;
  #data: BodyInput | undefined;
  #stdinEnded: boolean;
  #dataEnded: boolean;

  /**
   * @param owner - told when the params end and when the bodies are in.
   * @param limits - the connection's limits.
   * @param id - the request id, for error messages.
   * @param role - FCGI_RESPONDER, FCGI_AUTHORIZER or FCGI_FILTER.
   */
  constructor(owner: InputOwner, limits: InputLimits, id: number, role: number) {
    this.#owner = owner;
    this.#limits = limits;
    this.#id = id;
    this.#role = role;
    this.#stdinEnded = role === Role.FCGI_AUTHORIZER;
    this.#dataEnded = role !== Role.FCGI_FILTER;
  }

  /**
   * The input the web server still owes this request, up to each stream's empty record: its
   * FCGI_PARAMS first; then FCGI_STDIN (none for an authorizer) and, for a filter, FCGI_DATA, both
   * at once while neither has ended (a web server may send DATA before STDIN's end); undefined once
   * it has all of it.
   */
  get awaiting(): AwaitedInput {
    if (this.#params !== undefined) return 'FCGI_PARAMS';
    if (!this.#stdinEnded) return this.#dataEnded ? 'FCGI_STDIN' : 'FCGI_STDIN and FCGI_DATA';
    return this.#dataEnded ? undefined : 'FCGI_DATA';
  }

  /** True while FCGI_STDIN is input this request takes: never for an authorizer, and until its empty record. */
  get takesStdin(): boolean {
    return !this.#stdinEnded;
  }

  /** True while FCGI_DATA is input this request takes: a filter's, until its empty record. */
  get takesData(): boolean {
    return !this.#dataEnded;
  }

  /**
   * FCGI_PARAMS content; the empty record ends the stream and calls `owner.paramsEnded`.
   * @throws {ProtocolError} `FCGI_BAD_PARAMS` after the stream ended; `FCGI_PARAMS_TOO_LARGE` past
   *   `maxParamsBytes`; from decodeParamList when the pairs are malformed.
   */
  params(content: Uint8Array): void {
    const pieces = this.#params;
    if (pieces === undefined) {
      throw new ProtocolError('FCGI_BAD_PARAMS', `fastcgi: FCGI_PARAMS after the params stream ended (request ${this.#id})`);
    }
    if (content.byteLength > 0) {
      this.#paramsBytes += content.byteLength;
      if (this.#paramsBytes > this.#limits.maxParamsBytes) {
        throw new ProtocolError(
          'FCGI_PARAMS_TOO_LARGE',
          `fastcgi: params of request ${this.#id} exceed ${this.#limits.maxParamsBytes} bytes`,
        );
      }
      // A view into a socket chunk Node never reuses: no copy, unless it is a sliver of that chunk
      // (the params limit counts the bytes shown, so the views must not hold much more).
      pieces.push(compactView(content));
      return;
    }
    const list = decodeParamList(pieces.length === 1 ? (pieces[0] as Uint8Array) : Buffer.concat(pieces, this.#paramsBytes));
    this.#params = undefined;
    this.#owner.paramsEnded(list);
  }

  /**
   * FCGI_STDIN content; the empty record ends the body. Ignored once ended (an authorizer's).
   * @throws {ProtocolError} `FCGI_BAD_STDIN` before the params ended (spec §3.3).
   */
  stdin(content: Uint8Array): void {
    if (this.#stdinEnded) return;
    if (this.#params !== undefined) {
      // STDIN, even the empty record, before the params ended is out of order (spec §3.3).
      throw new ProtocolError('FCGI_BAD_STDIN', `fastcgi: FCGI_STDIN before the params ended (request ${this.#id})`);
    }
    if (content.byteLength === 0) {
      this.#stdinEnded = true;
      this.#input?.end();
      this.#ended();
      return;
    }
    this.#input?.push(content);
  }

  /**
   * FCGI_DATA content (FILTER role, spec §6.4); the empty record ends it. Ignored for other roles.
   * @throws {ProtocolError} `FCGI_BAD_DATA` before the params ended.
   */
  data(content: Uint8Array): void {
    if (this.#dataEnded) return;
    if (this.#params !== undefined || this.#data === undefined) {
      throw new ProtocolError('FCGI_BAD_DATA', `fastcgi: FCGI_DATA before the params ended (request ${this.#id})`);
    }
    if (content.byteLength === 0) {
      this.#dataEnded = true;
      this.#data.end();
      this.#ended();
      return;
    }
    this.#data.push(content);
  }

  /**
   * `tsgi.input`: FCGI_STDIN as it arrives. Never paused: nginx stops sending a request body for
   * good once the backend's socket blocks after the response started (docs/front-servers.md), and
   * other requests may share the connection; unread bytes beyond the memory window wait in a temp
   * file instead.
   * @param contentLength - CONTENT_LENGTH, if given (an authorizer's body is empty whatever it says).
   */
  makeInput(contentLength: number | undefined): BodyInput {
    this.#input = new BodyInput({
      contentLength: this.#role === Role.FCGI_AUTHORIZER ? 0 : contentLength,
      spool: { memoryBytes: this.#limits.bodyMemoryBytes },
      maxBytes: this.#limits.maxBodyBytes,
    });
    return this.#input;
  }

  /** `fastcgi.data`, the FILTER role's second input: FCGI_DATA, FCGI_DATA_LENGTH bytes long (spec §6.4). */
  makeData(params: ParamList): BodyInput {
    let length: string | undefined;
    for (let i = 0; i + 1 < params.length; i += 2) if (params[i] === 'FCGI_DATA_LENGTH') length = params[i + 1];
    this.#data = new BodyInput({
      contentLength: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
      spool: { memoryBytes: this.#limits.bodyMemoryBytes },
      maxBytes: this.#limits.maxBodyBytes,
    });
    return this.#data;
  }

  /** The request was aborted: readers of both inputs get `error`. */
  fail(error: unknown): void {
    this.#input?.fail(error);
    this.#data?.fail(error);
  }

  /** The app is done with its inputs: drop what they hold (a spool file too) and what still arrives. */
  discard(): void {
    this.#input?.discard();
    this.#data?.discard();
  }

  #ended(): void {
    if (this.#stdinEnded && this.#dataEnded) this.#owner.bodiesEnded();
  }
}
