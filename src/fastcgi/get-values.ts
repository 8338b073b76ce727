// Answers FCGI_GET_VALUES from the application side (FastCGI spec §4.1): pure, no I/O.

import { ValueName } from './constants.js';
import { decodeParams, encodeParams } from './params.js';

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
