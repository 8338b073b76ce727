// Error classes with stable codes, shared by every transport (STYLE.md habit 9).

/**
 * Base class for errors tsgi raises. `code` is stable across versions and safe to branch on;
 * `message` starts with the subsystem (`"tsgi: "`, `"fastcgi: "`, `"cgi: "`) and names the bad value.
 */
export class TsgiError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TsgiError';
    this.code = code;
  }
}

/**
 * The client went away or the front server aborted the request (FastCGI FCGI_ABORT_REQUEST, a closed
 * connection, a request body that ended short of CONTENT_LENGTH). Informational: not an app bug.
 */
export class RequestAbortedError extends TsgiError {
  constructor(message = 'tsgi: request aborted by the client', options?: { cause?: unknown }) {
    super('TSGI_REQUEST_ABORTED', message, options);
    this.name = 'RequestAbortedError';
  }
}

/**
 * The request body is longer than allowed: `tsgi.input` past `--max-body-bytes` (a body without a
 * length), or `readAll(maxBytes)` past its `maxBytes`. The client's doing, so a server answers 413
 * if the app lets it escape (docs/spec.md "On the server side"); `status`/`statusCode` 413 and
 * `expose` follow the http-errors convention, so Express, Koa and Fastify answer 413 too.
 */
export class BodyTooLargeError extends TsgiError {
  readonly status = 413;
  readonly statusCode = 413;
  readonly expose = true;
  constructor(maxBytes: number) {
    super('TSGI_BODY_TOO_LARGE', `tsgi: request body exceeds ${maxBytes} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Malformed protocol input (e.g. a FastCGI record with a bad version). The transport closes the one
 * connection that sent it and logs one line; the process carries on.
 */
export class ProtocolError extends TsgiError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ProtocolError';
  }
}

/** True for errors that mean "the client went away": logged as info, never as an app failure. */
export function isAbort(error: unknown): boolean {
  return error instanceof RequestAbortedError;
}
