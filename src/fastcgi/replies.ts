// Sends the records an application writes on its own on one connection: refusals and answers to records, bounded.

import { ProtocolError } from '../core/errors.js';
import { FCGI_HEADER_LEN, FCGI_NULL_REQUEST_ID, ProtocolStatus, RecordType, Role } from './constants.js';
import { answerManagementRecord, unknownTypeReply, type GetValuesLimits } from './management.js';
import { encodeEndRequestBody, paddingFor } from './record.js';
import type { RecordWriter } from './writer.js';

/**
 * Bytes of the daemon's own replies (FCGI_UNKNOWN_TYPE, FCGI_GET_VALUES_RESULT, refusals) that may
 * pile up while the web server reads nothing; past this its connection is closed. A front server
 * that reads gets each turn's replies off the socket before the next read, so it never comes close.
 */
export const REPLY_BACKLOG_LIMIT_BYTES = 64 * 1024;

/** What decides whether a connection takes a new request (ConnectionOptions, in part). */
export interface AdmissionLimits {
  /** Whether requests may share the connection (FCGI_MPXS_CONNS). */
  readonly multiplex: boolean;
  /** Live requests per connection when multiplexing. */
  readonly maxRequestsPerConnection: number;
}

/**
 * Why a connection refuses an FCGI_BEGIN_REQUEST, as the protocolStatus of the FCGI_END_REQUEST
 * that answers it (FastCGI spec §5.5), or undefined when it takes the request.
 * @param role - the BEGIN_REQUEST's role.
 * @param live - requests live on the connection.
 * @param stopping - the connection takes no more requests (a graceful stop after its first).
 * @returns FCGI_CANT_MPX_CONN (another request is live and multiplexing is off), FCGI_OVERLOADED
 *   (stopping, or `maxRequestsPerConnection` live), FCGI_UNKNOWN_ROLE (not RESPONDER, AUTHORIZER
 *   or FILTER), in that order; undefined to accept.
 */
export function refusalFor(role: number, live: number, limits: AdmissionLimits, stopping: boolean): number | undefined {
  if (live > 0 && !limits.multiplex) return ProtocolStatus.FCGI_CANT_MPX_CONN;
  if (stopping || live >= limits.maxRequestsPerConnection) return ProtocolStatus.FCGI_OVERLOADED;
  if (role !== Role.FCGI_RESPONDER && role !== Role.FCGI_AUTHORIZER && role !== Role.FCGI_FILTER) {
    return ProtocolStatus.FCGI_UNKNOWN_ROLE;
  }
  return undefined;
}

/**
 * The records a connection sends in answer to records, not app output (which waits for 'drain').
 * Reads are never paused (bodies must keep flowing, see request-input.ts), so a web server that
 * sends records which each call for a reply and reads nothing could make the daemon queue without
 * bound: the bytes queued while the socket wants a 'drain' are counted, and past
 * {@link REPLY_BACKLOG_LIMIT_BYTES} each method throws, which closes the connection.
 */
export class Replies {
  readonly #writer: RecordWriter;
  readonly #socket: { readonly writableNeedDrain: boolean };
  readonly #limits: GetValuesLimits;
  /** Reply bytes queued since the socket last wanted a 'drain'. */
  #backlog = 0;

  /**
   * @param writer - the connection's record writer.
   * @param socket - its socket, for `writableNeedDrain`.
   * @param limits - the configuration FCGI_GET_VALUES reports.
   */
  constructor(writer: RecordWriter, socket: { readonly writableNeedDrain: boolean }, limits: GetValuesLimits) {
    this.#writer = writer;
    this.#socket = socket;
    this.#limits = limits;
  }

  /** The socket drained: the web server reads again. */
  drained(): void {
    this.#backlog = 0;
  }

  /**
   * FCGI_END_REQUEST refusing request `id` with `protocolStatus` (spec §5.5).
   * @throws {ProtocolError} `FCGI_REPLY_BACKLOG` past the limit.
   */
  refuse(id: number, protocolStatus: number): void {
    this.#send(RecordType.FCGI_END_REQUEST, id, encodeEndRequestBody(0, protocolStatus));
  }

  /**
   * The answer to a management record (spec §4).
   * @throws {ProtocolError} from answerManagementRecord; `FCGI_REPLY_BACKLOG` past the limit.
   */
  management(type: number, content: Uint8Array): void {
    const reply = answerManagementRecord(type, content, this.#limits);
    this.#send(reply.type, FCGI_NULL_REQUEST_ID, reply.content);
  }

  /**
   * FCGI_UNKNOWN_TYPE for a record type tsgi does not know, on a request id (spec §4.2).
   * @throws {ProtocolError} from unknownTypeReply; `FCGI_REPLY_BACKLOG` past the limit.
   */
  unknownType(type: number): void {
    const reply = unknownTypeReply(type);
    this.#send(reply.type, FCGI_NULL_REQUEST_ID, reply.content);
  }

  #send(type: number, id: number, content: Uint8Array): void {
    if (this.#socket.writableNeedDrain) {
      this.#backlog += FCGI_HEADER_LEN + content.byteLength + paddingFor(content.byteLength);
      if (this.#backlog > REPLY_BACKLOG_LIMIT_BYTES) {
        throw new ProtocolError(
          'FCGI_REPLY_BACKLOG',
          `fastcgi: the web server reads none of the replies to its records (over ${REPLY_BACKLOG_LIMIT_BYTES} bytes waiting)`,
        );
      }
    }
    this.#writer.record(type, id, content);
  }
}
