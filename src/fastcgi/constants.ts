// FastCGI 1.0 constants (spec §8), named after the spec; shared by the application and web-server sides.

/** Value of the header's `version` byte (FastCGI spec §3.3, §8). */
export const FCGI_VERSION_1 = 1;

/** Bytes in a record header; "future versions of the protocol will not reduce this number" (spec §8). */
export const FCGI_HEADER_LEN = 8;

/** Most content bytes one record can carry: `contentLength` is 16 bits (FastCGI spec §3.3). */
export const MAX_RECORD_CONTENT = 65535;

/** Most padding bytes one record can carry: `paddingLength` is 8 bits (FastCGI spec §3.3). */
export const MAX_RECORD_PADDING = 255;

/** The request id of management records (FastCGI spec §3.3 "Types of Record Types", §8). */
export const FCGI_NULL_REQUEST_ID = 0;

/** The inherited listening socket's file descriptor, equal to stdin (FastCGI spec §2.2). */
export const FCGI_LISTENSOCK_FILENO = 0;

/** Mask for the BEGIN_REQUEST `flags` byte: keep the connection open after the request (spec §5.1). */
export const FCGI_KEEP_CONN = 1;

/**
 * Values of the header's `type` byte (FastCGI spec §8). Types 1, 2, 4, 5, 8, 9 flow web server →
 * application; 3, 6, 7, 10, 11 flow application → web server (spec appendix A).
 */
export const RecordType = {
  FCGI_BEGIN_REQUEST: 1,
  FCGI_ABORT_REQUEST: 2,
  FCGI_END_REQUEST: 3,
  FCGI_PARAMS: 4,
  FCGI_STDIN: 5,
  FCGI_STDOUT: 6,
  FCGI_STDERR: 7,
  FCGI_DATA: 8,
  FCGI_GET_VALUES: 9,
  FCGI_GET_VALUES_RESULT: 10,
  FCGI_UNKNOWN_TYPE: 11,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** Values of the BEGIN_REQUEST body's `role` field (FastCGI spec §5.1, §6). */
export const Role = {
  FCGI_RESPONDER: 1,
  FCGI_AUTHORIZER: 2,
  FCGI_FILTER: 3,
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/** Values of the END_REQUEST body's `protocolStatus` byte (FastCGI spec §5.5). */
export const ProtocolStatus = {
  FCGI_REQUEST_COMPLETE: 0,
  FCGI_CANT_MPX_CONN: 1,
  FCGI_OVERLOADED: 2,
  FCGI_UNKNOWN_ROLE: 3,
} as const;
export type ProtocolStatus = (typeof ProtocolStatus)[keyof typeof ProtocolStatus];

/** Variable names a web server may ask for with FCGI_GET_VALUES (FastCGI spec §4.1). */
export const ValueName = {
  FCGI_MAX_CONNS: 'FCGI_MAX_CONNS',
  FCGI_MAX_REQS: 'FCGI_MAX_REQS',
  FCGI_MPXS_CONNS: 'FCGI_MPXS_CONNS',
} as const;
export type ValueName = (typeof ValueName)[keyof typeof ValueName];

const recordTypeNames: ReadonlyMap<number, string> = new Map(
  Object.entries(RecordType).map(([name, value]) => [value, name]),
);

/**
 * The spec's name of a record type, for log lines.
 * @param type - the header's `type` byte.
 * @returns e.g. `recordTypeName(4) === 'FCGI_PARAMS'`; an unknown type gives `'type 42'`.
 * @see FastCGI spec §8
 */
export function recordTypeName(type: number): string {
  return recordTypeNames.get(type) ?? `type ${type}`;
}
