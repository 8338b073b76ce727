// Defines the TSGI 1.0 interface (docs/spec.md) from both sides: what an app is given and returns.

/**
 * One piece of a response body. Strings are encoded as UTF-8 by the server.
 * @see docs/spec.md "The body"
 */
export type Chunk = Uint8Array | string;

/**
 * A response body: a sync or async iterable of chunks. The server iterates it at most once and
 * always closes it exactly once: it calls `close()` when the body has one, otherwise the iterator's
 * `return()` when iteration stopped early (PEP 3333 "close"; docs/spec.md "Closing").
 */
export type Body = (Iterable<Chunk> | AsyncIterable<Chunk>) & {
  close?: () => void | Promise<void>;
};

/** Response headers as `[name, value]` pairs, in order; a name may repeat (e.g. Set-Cookie). */
export type HeaderList = Array<[name: string, value: string]>;

/**
 * What an app passes as `excInfo` when it calls `startResponse` again from an error handler:
 * the error being handled (PEP 3333 `exc_info`, which is a (type, value, traceback) triple in Python).
 */
export type ExcInfo = unknown;

/**
 * Writes one body chunk imperatively (PEP 3333 `write`). Returns a promise that resolves once the
 * server can take more: awaiting it is how an app honours backpressure. Rejects with
 * `RequestAbortedError` when the client has gone away. `write` is only obtainable from
 * `startResponse`, so PEP 3333's "write before start_response" error cannot arise in TSGI.
 */
export type Write = (chunk: Chunk) => Promise<void>;

/**
 * Starts the response (PEP 3333 `start_response`).
 * @param status - `"200 OK"` form: three digits, a space, a reason phrase (no CR/LF/NUL).
 * @param headers - `[name, value]` pairs; names are HTTP tokens, values have no CR/LF/NUL.
 * @param excInfo - only from an error handler: replaces headers not yet sent; if they were sent,
 *   `excInfo` is thrown again.
 * @returns the `write` callable.
 * @throws {TsgiError} code `TSGI_ALREADY_STARTED` when called a second time without `excInfo`;
 *   code `TSGI_BAD_STATUS` / `TSGI_BAD_HEADER` when status or headers are malformed.
 */
export type StartResponse = (status: string, headers: HeaderList, excInfo?: ExcInfo) => Write;

/**
 * The request body (`tsgi.input`): a byte stream that ends after CONTENT_LENGTH bytes (or at the
 * end of the transport's stream when the front server sent no length, as nginx does with
 * `fastcgi_request_buffering off`). Bytes are pulled from the transport as the app reads, so an app
 * that does not read does not make the server buffer the upload.
 */
export interface InputStream extends AsyncIterable<Uint8Array> {
  /**
   * Resolves with the next chunk of the body, or `null` at its end.
   * @throws {RequestAbortedError} when the client went away or the body ended short of CONTENT_LENGTH.
   */
  read(): Promise<Uint8Array | null>;
  /**
   * Reads the rest of the body into one buffer.
   * @param maxBytes - refuse bodies longer than this (default: no limit beyond the server's own).
   * @throws {TsgiError} code `TSGI_BODY_TOO_LARGE` when the body exceeds `maxBytes`.
   */
  readAll(maxBytes?: number): Promise<Uint8Array>;
}

/** The error stream (`tsgi.errors`): stderr under CGI, FCGI_STDERR records under FastCGI. */
export interface ErrorStream {
  /** Writes text as-is (add the newline yourself). */
  write(text: string): void;
}

/**
 * The request environment: RFC 3875 meta-variables as strings, plus `tsgi.*` keys.
 * Keys a server did not send are absent (never `undefined`-valued), except that the keys typed as
 * required below are always present after normalisation (docs/spec.md "environ").
 * @see RFC 3875 §4.1
 */
export interface Environ {
  /** RFC 3875 §4.1.12, e.g. `"GET"`. */
  REQUEST_METHOD: string;
  /** RFC 3875 §4.1.13: the mount point of the app, `""` or `"/path"` with no trailing slash. */
  SCRIPT_NAME: string;
  /** RFC 3875 §4.1.5: the path below SCRIPT_NAME, `""` or starting with `/`; percent-decoded. */
  PATH_INFO: string;
  /** RFC 3875 §4.1.7: the raw query string without `?`, `""` when there is none. */
  QUERY_STRING: string;
  /** RFC 3875 §4.1.3: present only when the request has a content type. */
  CONTENT_TYPE?: string;
  /** RFC 3875 §4.1.2: decimal byte count, present only when the request has a body length. */
  CONTENT_LENGTH?: string;
  /** RFC 3875 §4.1.14. */
  SERVER_NAME: string;
  /** RFC 3875 §4.1.15, decimal. */
  SERVER_PORT: string;
  /** RFC 3875 §4.1.16, e.g. `"HTTP/1.1"`. */
  SERVER_PROTOCOL: string;
  /** RFC 3875 §4.1.8. */
  REMOTE_ADDR?: string;
  /** RFC 3875 §4.1.18: one key per request header, `HTTP_` + name upper-cased with `-` → `_`. */
  [httpHeader: `HTTP_${string}`]: string | undefined;
  /** Always `[1, 0]` for this version of the interface. */
  'tsgi.version': readonly [1, 0];
  /** `"https"` when the front server says the request came over TLS, else `"http"`. */
  'tsgi.url_scheme': 'http' | 'https';
  /** The request body, bounded by CONTENT_LENGTH. */
  'tsgi.input': InputStream;
  /** Where the app logs errors. */
  'tsgi.errors': ErrorStream;
  /** True when the server may run several requests of this app at once in one process. */
  'tsgi.multithread': boolean;
  /** True when several processes may run this app at once. */
  'tsgi.multiprocess': boolean;
  /** True when this process serves only this one request (CGI). */
  'tsgi.run_once': boolean;
  /** Aborts when the client goes away (or the front server aborts the request). */
  'tsgi.signal': AbortSignal;
  /** Any other meta-variable or server extension (extension keys use a `server_name.` prefix). */
  [key: string]: unknown;
}

/**
 * A TSGI application (PEP 3333 "application object"): called once per request, returns the body
 * (or a promise of it). It calls `startResponse` before returning its body or before the body
 * yields its first chunk.
 *
 * It may have a `close()` method: the shutdown hook a long-running server calls once, on a graceful
 * stop, after its last request (close database pools there, flush queues). Awaited when it returns
 * a promise, for at most what is left of the server's grace period; errors are logged, not fatal.
 * Not called under CGI (one request per process, `tsgi.run_once`). See docs/spec.md "Closing the app".
 * @example
 * const app: App = (environ, startResponse) => {
 *   startResponse('200 OK', [['Content-Type', 'text/plain']]);
 *   return [`Hello from ${environ.PATH_INFO}\n`];
 * };
 * app.close = () => pool.end();
 */
export type App = ((environ: Environ, startResponse: StartResponse) => Body | Promise<Body>) & {
  close?: () => void | Promise<void>;
};
