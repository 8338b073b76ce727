// The standard reason phrases of HTTP status codes, for adapters that receive a status without one.

// RFC 9110 §15 (and, where marked, the later RFCs that registered the code in the IANA HTTP Status
// Code Registry). Kept here rather than read from node:http's STATUS_CODES so that a fetch-style app
// under CGI does not load node:http just to name its status.
const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Continue',
  101: 'Switching Protocols',
  103: 'Early Hints', // RFC 8297
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  203: 'Non-Authoritative Information',
  204: 'No Content',
  205: 'Reset Content',
  206: 'Partial Content',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  305: 'Use Proxy',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  425: 'Too Early', // RFC 8470
  426: 'Upgrade Required',
  428: 'Precondition Required', // RFC 6585
  429: 'Too Many Requests', // RFC 6585
  431: 'Request Header Fields Too Large', // RFC 6585
  451: 'Unavailable For Legal Reasons', // RFC 7725
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
  511: 'Network Authentication Required', // RFC 6585
};

/**
 * The reason phrase for `status` (RFC 9110 §15), or `""` for a code without a registered one (TSGI
 * allows an empty reason: docs/spec.md "status").
 * @example reasonPhrase(404) // "Not Found"
 */
export function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? '';
}

/** A TSGI status line: `"404 Not Found"`, with `reason` when given, else the standard phrase. */
export function statusLine(status: number, reason = ''): string {
  return `${status} ${reason !== '' ? reason : reasonPhrase(status)}`;
}
