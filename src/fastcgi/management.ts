// Answers management records and record types it does not know, from the application side (FastCGI spec §4): pure, no I/O.

import { ProtocolError } from '../core/errors.js';
import { RecordType, ValueName, recordTypeName } from './constants.js';
import { decodeParams, encodeParams } from './params.js';
import { encodeUnknownTypeBody } from './record.js';

/** A record the application sends back, on FCGI_NULL_REQUEST_ID. */
export interface ManagementReply {
  /** FCGI_GET_VALUES_RESULT or FCGI_UNKNOWN_TYPE. */
  type: number;
  content: Uint8Array;
}

/** The configuration FCGI_GET_VALUES reports. */
export interface GetValuesLimits {
  /** Connections served at once (FCGI_MAX_CONNS). */
  maxConns: number;
  /** Whether requests may share a connection (FCGI_MPXS_CONNS). */
  multiplex: boolean;
  /** Live requests per connection when multiplexing. */
  maxRequestsPerConnection: number;
}

/**
 * The content of the FCGI_GET_VALUES_RESULT answering `content` (spec §4.1): the names asked that
 * tsgi knows (FCGI_MAX_CONNS, FCGI_MAX_REQS = connections × requests per connection,
 * FCGI_MPXS_CONNS), each once however often it was asked, so the answer always fits one record;
 * names it does not know are left out.
 * @param content - the FCGI_GET_VALUES record's content: name-value pairs with empty values.
 * @returns the encoded pairs (at most three).
 * @throws {ProtocolError} from decodeParams when `content` is not well-formed pairs.
 */
export function answerGetValues(content: Uint8Array, limits: GetValuesLimits): Uint8Array {
  const perConnection = limits.multiplex ? limits.maxRequestsPerConnection : 1;
  const known = new Map<string, string>([
    [ValueName.FCGI_MAX_CONNS, String(limits.maxConns)],
    [ValueName.FCGI_MAX_REQS, String(limits.maxConns * perConnection)],
    [ValueName.FCGI_MPXS_CONNS, limits.multiplex ? '1' : '0'],
  ]);
  const answer: Array<[string, string]> = [];
  for (const [name] of decodeParams(content)) {
    const value = known.get(name);
    if (value === undefined) continue;
    known.delete(name);
    answer.push([name, value]);
  }
  return encodeParams(answer);
}

/**
 * The answer to a management record (request id 0, spec §4): FCGI_GET_VALUES gets its result
 * (see {@link answerGetValues}); any other type that is not a request's gets FCGI_UNKNOWN_TYPE
 * (§4.2), FCGI_GET_VALUES_RESULT and FCGI_UNKNOWN_TYPE included.
 * @param type - the record's type.
 * @param content - the record's content.
 * @throws {ProtocolError} `FCGI_NULL_REQUEST_ID` for a request's record type (BEGIN_REQUEST to
 *   DATA) sent with id 0; from decodeParams for a malformed FCGI_GET_VALUES.
 */
export function answerManagementRecord(type: number, content: Uint8Array, limits: GetValuesLimits): ManagementReply {
  if (type === RecordType.FCGI_GET_VALUES) {
    return { type: RecordType.FCGI_GET_VALUES_RESULT, content: answerGetValues(content, limits) };
  }
  if (type >= RecordType.FCGI_BEGIN_REQUEST && type <= RecordType.FCGI_DATA) {
    throw new ProtocolError('FCGI_NULL_REQUEST_ID', `fastcgi: ${recordTypeName(type)} with request id 0`);
  }
  // FCGI_GET_VALUES_RESULT and FCGI_UNKNOWN_TYPE included: answers an application sends, which a
  // web server has no business sending; answered, not fatal, on the management id.
  return { type: RecordType.FCGI_UNKNOWN_TYPE, content: encodeUnknownTypeBody(type) };
}

/**
 * The answer to a record of a type tsgi does not know (spec §4.2: FCGI_UNKNOWN_TYPE, whatever the
 * request id).
 * @throws {ProtocolError} `FCGI_UNEXPECTED_RECORD` for a type the spec defines that a web server
 *   never sends to an application (END_REQUEST, STDOUT, STDERR, GET_VALUES_RESULT, UNKNOWN_TYPE,
 *   or a management type with a request id).
 */
export function unknownTypeReply(type: number): ManagementReply {
  if (type >= RecordType.FCGI_BEGIN_REQUEST && type <= RecordType.FCGI_UNKNOWN_TYPE) {
    throw new ProtocolError('FCGI_UNEXPECTED_RECORD', `fastcgi: unexpected ${recordTypeName(type)} from the web server`);
  }
  return { type: RecordType.FCGI_UNKNOWN_TYPE, content: encodeUnknownTypeBody(type) };
}
