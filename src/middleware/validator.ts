// Lints a TSGI app and the server hosting it against docs/spec.md, from both sides (like wsgiref.validate).
/*
 * Wrap an app with `validator(app)` in development and tests. Every rule below has a stable id; each
 * violation says what is wrong and what to do instead. Section names refer to docs/spec.md.
 *
 * Server side: the environ ("environ")
 *   environ.type                 the environ is a plain object
 *   environ.missing-key          REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING, SERVER_NAME, SERVER_PORT,
 *                                SERVER_PROTOCOL and every tsgi.* key of the Environ type are present
 *   environ.not-string           every key without a dot (a CGI meta-variable, HTTP_*) holds a string
 *   environ.request-method       REQUEST_METHOD is an HTTP token (RFC 9110 §5.6.2)
 *   environ.script-name-slash    SCRIPT_NAME is never "/" (it is "" with "/" in PATH_INFO)
 *   environ.script-name          SCRIPT_NAME is "" or starts with "/", and does not end with "/"
 *   environ.path-info            PATH_INFO is "" or starts with "/"
 *   environ.content-length       CONTENT_LENGTH, when present, is decimal digits (RFC 3875 §4.1.2)
 *   environ.content-empty        CONTENT_TYPE / CONTENT_LENGTH are absent rather than "" (nginx sends "")
 *   environ.http-content         HTTP_CONTENT_TYPE / HTTP_CONTENT_LENGTH are absent (RFC 3875 §4.1.18)
 *   environ.version              tsgi.version is [1, 0]
 *   environ.url-scheme           tsgi.url_scheme is "http" or "https"
 *   environ.input                tsgi.input has read(), readAll() and async iteration
 *   environ.errors               tsgi.errors has write()
 *   environ.flags                tsgi.multithread, tsgi.multiprocess and tsgi.run_once are booleans
 *   environ.signal               tsgi.signal is an AbortSignal
 * Server side: iterating and closing the body ("Closing")
 *   server.iterate-twice         the server iterates the body at most once
 *   server.close-twice           close() (or, for bodies without close(), return()) is called at most once
 *   server.close-missing         once the server is done with the body it calls close() if the body has one,
 *                                else return() when it stopped early (client gone). Checked closeGraceMs after
 *                                the server stopped iterating; reported through onViolation or tsgi.errors
 * App side ("The application side", "startResponse", "write", "The body")
 *   app.return-type              the app returns (a promise of) an iterable or async iterable, not a string,
 *                                a Uint8Array, null or a fetch Response
 *   start.status                 status is "NNN Reason": 100-599, one space, a reason of tab, printable ASCII
 *                                or U+0080-U+00FF (no other control characters)
 *   start.headers                headers is an array of [name, value] string pairs
 *   start.header-name            each name is an HTTP token
 *   start.header-value           no control character but tab, nothing above U+00FF
 *   start.status-header          no "Status" header (the CGI field; the status is the first argument)
 *   start.hop-by-hop             no hop-by-hop header (Connection, Transfer-Encoding, ...; PEP 3333)
 *   start.content-length         at most one Content-Length, decimal digits
 *   start.already-started        a second startResponse call passes excInfo (neither undefined nor null)
 *   write.chunk-type             write() takes a Uint8Array or a string
 *   write.after-end              write() is not called once the server is done with the body
 *   write.chunk-mutated          a Uint8Array passed to write() is unchanged until its promise resolves
 *   body.chunk-type              the body yields Uint8Array or string chunks
 *   body.chunk-mutated           a yielded Uint8Array is unchanged until the server pulls the next chunk
 *   body.start-response-missing  startResponse was called before the body yields its first non-empty chunk
 *                                or ends
 *   body.content-length          write() + body bytes equal Content-Length when the app set it (not checked
 *                                for HEAD and 1xx/204/304, which carry no body)
 *
 * By default a violation throws ValidationError: from the environ check or startResponse/write (so it reaches
 * the server's error policy), from the body's next() or from close(). With `onViolation` every violation is
 * reported there instead and the call goes through unchanged, so the server's own checks run as well.
 */
import { TsgiError } from '../core/errors.js';
import type { App, Body, Environ, HeaderList, StartResponse, Write } from '../core/types.js';

/** One broken rule. */
export interface Violation {
  /** Stable id, e.g. `'environ.script-name-slash'` (listed at the top of src/middleware/validator.ts). */
  rule: string;
  /** What is wrong and what to do instead. */
  message: string;
}

/** Options for {@link validator}. */
export interface ValidatorOptions {
  /** Where violations are reported; when given, nothing is thrown. Default: throw ValidationError. */
  onViolation?: (violation: Violation) => void;
  /**
   * How long after the server stopped iterating the body it may take to close it before
   * `server.close-missing` is reported. Milliseconds; default 1000.
   */
  closeGraceMs?: number;
}

/** Thrown for a violation when no `onViolation` is given. `code` is `TSGI_VALIDATION`. */
export class ValidationError extends TsgiError {
  /** The rule id, as in {@link Violation.rule}. */
  readonly rule: string;
  constructor(violation: Violation) {
    super('TSGI_VALIDATION', `tsgi: ${violation.message} [${violation.rule}]`);
    this.name = 'ValidationError';
    this.rule = violation.rule;
  }
}

/**
 * Wraps an app so that both it and the server calling it are checked against TSGI 1.0.
 * Development and test use: it copies every Uint8Array chunk to detect mutation.
 * @throws {ValidationError} code `TSGI_VALIDATION`, unless `options.onViolation` is given.
 * @see docs/spec.md "Middleware", and the rule list at the top of this file.
 * @example
 * const checked = validator(app, { onViolation: (v) => console.warn(v.rule, v.message) });
 */
export function validator(app: App, options: ValidatorOptions = {}): App {
  return (environ, startResponse) => {
    const check = new RequestCheck(environ, options);
    check.environ();
    const result: unknown = app(environ, check.startResponse(startResponse));
    if (isThenable(result)) return Promise.resolve(result).then((body: unknown) => check.body(body));
    return check.body(result);
  };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS = /^[1-5]\d\d [\t\x20-\x7e\x80-\xff]*$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const DIGITS = /^\d+$/;
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'trailers',
  'transfer-encoding', 'upgrade',
]);
const REQUIRED_KEYS = [
  'REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL',
  'tsgi.version', 'tsgi.url_scheme', 'tsgi.input', 'tsgi.errors', 'tsgi.multithread', 'tsgi.multiprocess',
  'tsgi.run_once', 'tsgi.signal',
];
const DEFAULT_CLOSE_GRACE_MS = 1000;

type AnyIterator = Iterator<unknown> | AsyncIterator<unknown>;
type StopReason = 'done' | 'threw' | 'return' | 'close' | 'aborted';

/** The state of one request as the validator sees it from between the server and the app. */
class RequestCheck {
  readonly #raw: unknown;
  readonly #env: Record<string, unknown>;
  readonly #onViolation: ((v: Violation) => void) | undefined;
  readonly #graceMs: number;
  #started = false;
  #statusCode = 0;
  #declaredLength: number | null = null;
  #bytes = 0;
  #ended = false; // the server has finished with the body: no more write() calls
  #completed = false; // iteration ran to its end or threw: no return() needed
  #hasClose = false;
  #opened = false; // the server asked for an iterator
  #abandoned = false; // the validator closed the inner iterator itself after a violation
  #closes = 0;
  #returns = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastChunk: { chunk: Uint8Array; copy: Uint8Array } | undefined;

  constructor(environ: Environ, options: ValidatorOptions) {
    this.#raw = environ;
    this.#env = (typeof environ === 'object' && environ !== null ? environ : {}) as Record<string, unknown>;
    this.#onViolation = options.onViolation;
    this.#graceMs = options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
  }

  #fail(rule: string, message: string): void {
    if (this.#onViolation) this.#onViolation({ rule, message });
    else throw new ValidationError({ rule, message });
  }

  /** For violations found when nobody can be thrown to: onViolation, else a line on tsgi.errors. */
  #late(rule: string, message: string): void {
    if (this.#onViolation) return this.#onViolation({ rule, message });
    const errors = this.#env['tsgi.errors'] as { write?: unknown } | undefined;
    if (typeof errors?.write === 'function') errors.write(`tsgi: ${message} [${rule}]\n`);
  }

  environ(): void {
    const environ = this.#raw;
    if (typeof environ !== 'object' || environ === null || Array.isArray(environ) || environ instanceof Map) {
      return this.#fail('environ.type', `environ is ${describe(environ)}; pass a plain object of meta-variables and tsgi.* keys`);
    }
    const env = this.#env;
    for (const key of REQUIRED_KEYS) {
      if (!(key in env)) this.#fail('environ.missing-key', `environ has no ${key}; the server must always set it (use "" for an empty path or query)`);
    }
    for (const [key, value] of Object.entries(env)) {
      if (!key.includes('.') && typeof value !== 'string') {
        this.#fail('environ.not-string', `environ.${key} is ${describe(value)}; meta-variables are strings: convert the value, or delete the key when there is none`);
      }
    }
    const str = (key: string): string | undefined => (typeof env[key] === 'string' ? (env[key] as string) : undefined);
    const method = str('REQUEST_METHOD');
    if (method !== undefined && !TOKEN.test(method)) {
      this.#fail('environ.request-method', `REQUEST_METHOD ${JSON.stringify(method)} is not an HTTP token; pass the method as the request line has it, e.g. "GET"`);
    }
    const script = str('SCRIPT_NAME');
    if (script === '/') this.#fail('environ.script-name-slash', "SCRIPT_NAME cannot be '/'; use '' and put '/' in PATH_INFO");
    else if (script !== undefined && script !== '' && !script.startsWith('/')) {
      this.#fail('environ.script-name', `SCRIPT_NAME ${JSON.stringify(script)} must be '' or start with '/'; prefix it with '/'`);
    } else if (script?.endsWith('/')) {
      this.#fail('environ.script-name', `SCRIPT_NAME ${JSON.stringify(script)} ends with '/'; drop the trailing '/' and start PATH_INFO with it`);
    }
    const pathInfo = str('PATH_INFO');
    if (pathInfo !== undefined && pathInfo !== '' && !pathInfo.startsWith('/')) {
      this.#fail('environ.path-info', `PATH_INFO ${JSON.stringify(pathInfo)} must be '' or start with '/'; prefix it with '/'`);
    }
    for (const key of ['CONTENT_TYPE', 'CONTENT_LENGTH']) {
      if (env[key] === '') this.#fail('environ.content-empty', `${key} is ""; delete the key when the request has no ${key === 'CONTENT_TYPE' ? 'content type' : 'body length'}`);
    }
    const length = str('CONTENT_LENGTH');
    if (length !== undefined && length !== '' && !DIGITS.test(length)) {
      this.#fail('environ.content-length', `CONTENT_LENGTH ${JSON.stringify(length)} is not decimal digits; pass the byte count, or delete the key`);
    }
    for (const key of ['HTTP_CONTENT_TYPE', 'HTTP_CONTENT_LENGTH']) {
      if (key in env) this.#fail('environ.http-content', `environ has ${key}; the value belongs in ${key.slice(5)} only: delete ${key}`);
    }
    const version = env['tsgi.version'];
    if ('tsgi.version' in env && !(Array.isArray(version) && version.length === 2 && version[0] === 1 && version[1] === 0)) {
      this.#fail('environ.version', `tsgi.version is ${describe(version)}; set it to [1, 0]`);
    }
    const scheme = env['tsgi.url_scheme'];
    if ('tsgi.url_scheme' in env && scheme !== 'http' && scheme !== 'https') {
      this.#fail('environ.url-scheme', `tsgi.url_scheme is ${describe(scheme)}; set it to "http" or "https"`);
    }
    const input = env['tsgi.input'] as Record<PropertyKey, unknown> | undefined;
    if ('tsgi.input' in env && !(hasMethod(input, 'read') && hasMethod(input, 'readAll') && hasMethod(input, Symbol.asyncIterator))) {
      this.#fail('environ.input', `tsgi.input is ${describe(input)}; give an InputStream with read(), readAll() and [Symbol.asyncIterator]()`);
    }
    if ('tsgi.errors' in env && !hasMethod(env['tsgi.errors'], 'write')) {
      this.#fail('environ.errors', `tsgi.errors is ${describe(env['tsgi.errors'])}; give an object with write(text)`);
    }
    for (const key of ['tsgi.multithread', 'tsgi.multiprocess', 'tsgi.run_once']) {
      if (key in env && typeof env[key] !== 'boolean') this.#fail('environ.flags', `${key} is ${describe(env[key])}; set it to true or false`);
    }
    if ('tsgi.signal' in env && !isSignal(env['tsgi.signal'])) {
      this.#fail('environ.signal', `tsgi.signal is ${describe(env['tsgi.signal'])}; give an AbortSignal (new AbortController().signal)`);
    }
  }

  startResponse(inner: StartResponse): StartResponse {
    return (status, headers, excInfo) => {
      if (this.#started && (excInfo === undefined || excInfo === null)) {
        this.#fail('start.already-started', 'startResponse was called a second time without excInfo; call it once, or pass the caught error as the third argument from an error handler');
      }
      if (typeof status !== 'string' || !STATUS.test(status)) {
        this.#fail('start.status', `status ${describe(status)} is not "NNN Reason"; use a code 100-599, one space and a reason without control characters, e.g. "404 Not Found"`);
      }
      const length = this.#checkHeaders(headers);
      const write = inner(status, headers, excInfo);
      this.#started = true;
      this.#statusCode = Number.parseInt(String(status), 10) || 0;
      this.#declaredLength = length;
      return this.#write(write);
    };
  }

  /** Returns the declared Content-Length, or null. */
  #checkHeaders(headers: HeaderList): number | null {
    if (!Array.isArray(headers)) {
      this.#fail('start.headers', `headers is ${describe(headers)}; pass an array of [name, value] pairs, e.g. [['Content-Type', 'text/plain']]`);
      return null;
    }
    const lengths = new Set<string>();
    for (const pair of headers as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        this.#fail('start.headers', `header ${describe(pair)} is not a [name, value] pair of strings; convert numbers with String(), e.g. ['Content-Length', String(n)]`);
        continue;
      }
      const [name, value] = pair as [string, string];
      const lower = name.toLowerCase();
      if (!TOKEN.test(name)) this.#fail('start.header-name', `header name ${JSON.stringify(name)} is not an HTTP token; use letters, digits and !#$%&'*+-.^_\`|~ only, e.g. "X-Request-Id"`);
      if (!FIELD_VALUE.test(value)) {
        this.#fail('start.header-value', `header ${name} has a value with a control character or a character above U+00FF (${JSON.stringify(value)}); remove CR/LF/NUL and percent-encode or RFC 8187-encode non-Latin-1 text`);
      }
      if (lower === 'status') this.#fail('start.status-header', 'a "Status" header is not allowed; pass the status as startResponse\'s first argument');
      if (HOP_BY_HOP.has(lower)) this.#fail('start.hop-by-hop', `${name} is a hop-by-hop header, which only the server sets; leave it out (the server frames the body and manages the connection)`);
      if (lower === 'content-length') lengths.add(value);
    }
    if (lengths.size === 0) return null;
    const [value] = lengths;
    if (lengths.size > 1 || !DIGITS.test(value!)) {
      this.#fail('start.content-length', `Content-Length ${[...lengths].map((v) => JSON.stringify(v)).join(' and ')} is not one decimal byte count; set it to the body's length in bytes (Buffer.byteLength for strings) or leave it out`);
      return null;
    }
    return Number(value);
  }

  #write(inner: Write): Write {
    return (chunk) => {
      if (this.#ended) this.#fail('write.after-end', 'write() was called after the server finished with the body; write only while the app or its body is running, or yield the data from the body');
      this.#chunk(chunk, 'write');
      const copy = chunk instanceof Uint8Array ? new Uint8Array(chunk) : undefined; // not .slice(): a Buffer's slice is a view
      const sent = inner(chunk);
      if (!copy) return sent;
      const checked = Promise.resolve(sent).then(() => {
        if (!equalBytes(copy, chunk as Uint8Array)) this.#fail('write.chunk-mutated', 'a Uint8Array passed to write() changed before its promise resolved; await write() before reusing the buffer, or pass a copy');
      });
      checked.catch(() => {}); // an app need not await write(): its rejection must not become unhandled
      return checked;
    };
  }

  /** Checks one chunk from write() or the body, and counts its bytes against Content-Length. */
  #chunk(chunk: unknown, from: 'write' | 'body'): void {
    if (!(chunk instanceof Uint8Array) && typeof chunk !== 'string') {
      return this.#fail(`${from}.chunk-type`, `${from === 'write' ? 'write() got' : 'the body yielded'} ${describe(chunk)}; chunks are Uint8Array or string: ${chunkHint(chunk)}`);
    }
    if (from === 'body' && !this.#started && chunk.length > 0) {
      this.#fail('body.start-response-missing', 'the body yielded data before startResponse was called; call startResponse(status, headers) before returning the body or before its first yield');
    }
    this.#bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk, 'utf8') : chunk.byteLength;
    if (this.#declaredLength !== null && !this.#bodyless() && this.#bytes > this.#declaredLength) {
      this.#fail('body.content-length', `the app produced ${this.#bytes} bytes, more than its Content-Length of ${this.#declaredLength}; fix the header (count bytes, not characters) or leave it out`);
    }
  }

  #bodyless(): boolean {
    const code = this.#statusCode;
    return this.#env.REQUEST_METHOD === 'HEAD' || code < 200 || code === 204 || code === 304;
  }

  #end(): void {
    if (!this.#started) {
      return this.#fail('body.start-response-missing', 'the body ended but startResponse was never called; call startResponse(status, headers) before returning the body or before it ends');
    }
    if (this.#declaredLength !== null && !this.#bodyless() && this.#bytes < this.#declaredLength) {
      this.#fail('body.content-length', `the app produced ${this.#bytes} bytes, fewer than its Content-Length of ${this.#declaredLength}; fix the header (count bytes, not characters) or leave it out`);
    }
  }

  #checkLastChunk(): void {
    const last = this.#lastChunk;
    this.#lastChunk = undefined;
    if (last && !equalBytes(last.copy, last.chunk)) {
      this.#fail('body.chunk-mutated', 'a Uint8Array yielded by the body changed before the server pulled the next chunk; yield a fresh buffer (or a copy) each time');
    }
  }

  body(body: unknown): Body {
    if (!isIterable(body)) {
      this.#fail('app.return-type', returnTypeMessage(body));
      return body as Body;
    }
    const inner = body as Body;
    const isAsync = typeof (inner as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function';
    this.#hasClose = typeof inner.close === 'function';
    const open = (): AnyIterator => {
      if (this.#opened) this.#fail('server.iterate-twice', 'the server iterated the body a second time; iterate it once and keep that iterator');
      this.#opened = true;
      return isAsync
        ? (inner as AsyncIterable<unknown>)[Symbol.asyncIterator]()
        : (inner as Iterable<unknown>)[Symbol.iterator]();
    };
    const wrapper = (isAsync
      ? { [Symbol.asyncIterator]: () => this.#asyncIterator(open() as AsyncIterator<unknown>) }
      : { [Symbol.iterator]: () => this.#syncIterator(open() as Iterator<unknown>) }) as Body;
    if (this.#hasClose) wrapper.close = () => this.#close(inner);
    const signal = this.#env['tsgi.signal'];
    if (isSignal(signal)) {
      if (signal.aborted) this.#stop('aborted');
      else signal.addEventListener('abort', () => this.#stop('aborted'), { once: true });
    }
    return wrapper;
  }

  /** Handles one result of the inner iterator; on a violation, leaves the inner iterator closed. */
  #result<R extends IteratorResult<unknown>>(result: R, it: AnyIterator): R {
    try {
      if (result.done) this.#end();
      else {
        this.#chunk(result.value, 'body');
        if (result.value instanceof Uint8Array) this.#lastChunk = { chunk: result.value, copy: new Uint8Array(result.value) };
      }
    } catch (error) {
      if (!result.done) this.#abandon(it);
      this.#stop('threw');
      throw error;
    }
    if (result.done) this.#stop('done');
    return result;
  }

  /** A violation stops iteration from our side: the server sees next() throw and will not call return(). */
  #abandon(it: AnyIterator): void {
    if (this.#hasClose) return; // the server's close() reaches the inner body
    this.#abandoned = true;
    try {
      void Promise.resolve(it.return?.()).catch(() => {});
    } catch {
      // the inner body's own cleanup error is not the validator's to report
    }
  }

  #pull(it: AnyIterator): void {
    try {
      this.#checkLastChunk();
    } catch (error) {
      this.#abandon(it);
      this.#stop('threw');
      throw error;
    }
  }

  #syncIterator(it: Iterator<unknown>): Iterator<unknown> {
    return {
      next: () => {
        this.#pull(it);
        let result: IteratorResult<unknown>;
        try {
          result = it.next();
        } catch (error) {
          this.#stop('threw');
          throw error;
        }
        return this.#result(result, it);
      },
      return: (value?: unknown) => {
        this.#return();
        return it.return && !this.#abandoned ? it.return(value) : { done: true, value };
      },
    };
  }

  #asyncIterator(it: AsyncIterator<unknown>): AsyncIterator<unknown> {
    return {
      next: async () => {
        this.#pull(it);
        let result: IteratorResult<unknown>;
        try {
          result = await it.next();
        } catch (error) {
          this.#stop('threw');
          throw error;
        }
        return this.#result(result, it);
      },
      return: async (value?: unknown) => {
        this.#return();
        return it.return && !this.#abandoned ? it.return(value) : { done: true, value };
      },
    };
  }

  #return(): void {
    // A for-of loop calls return() on early exit even when the body has close(): only count it without close().
    if (!this.#hasClose && ++this.#returns > 1) {
      this.#fail('server.close-twice', 'the server called the body iterator\'s return() twice; call it once when iteration stops early');
    }
    this.#lastChunk = undefined; // the server is done with it
    this.#stop('return');
  }

  #close(inner: Body): void | Promise<void> {
    if (++this.#closes > 1) this.#fail('server.close-twice', 'the server called the body\'s close() twice; call it exactly once, in a finally block');
    this.#lastChunk = undefined;
    this.#stop('close');
    return inner.close!();
  }

  /** The server has stopped (or been told to stop) iterating: from here on it owes close() / return(). */
  #stop(reason: StopReason): void {
    if (reason !== 'aborted') this.#ended = true;
    if (reason === 'done' || reason === 'threw') this.#completed = true;
    if (!this.#owesClose()) {
      clearTimeout(this.#timer);
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      if (!this.#owesClose()) return;
      this.#late('server.close-missing', this.#hasClose
        ? 'the server finished with the body but never called its close(); call body.close() exactly once, in a finally block, whatever happened'
        : 'the server stopped iterating the body early (the client went away) but never called the iterator\'s return(); call it so the generator\'s finally blocks run');
    }, this.#graceMs);
    this.#timer.unref?.();
  }

  #owesClose(): boolean {
    // A body never iterated has no iterator to return(); one with close() is owed close() regardless.
    return this.#hasClose ? this.#closes === 0 : this.#opened && !this.#completed && this.#returns === 0;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function isIterable(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return false;
  return hasMethod(value, Symbol.iterator) || hasMethod(value, Symbol.asyncIterator);
}

function hasMethod(value: unknown, key: PropertyKey): boolean {
  return typeof value === 'object' && value !== null && typeof (value as Record<PropertyKey, unknown>)[key] === 'function';
}

function isSignal(value: unknown): value is AbortSignal {
  return hasMethod(value, 'addEventListener') && typeof (value as { aborted?: unknown }).aborted === 'boolean';
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value !== 'object' && typeof value !== 'function') return `${typeof value} ${String(value)}`;
  const name = (value as { constructor?: { name?: string } }).constructor?.name;
  return Array.isArray(value) ? `an array of length ${value.length}` : `a${/^[AEIOU]/.test(name ?? '') ? 'n' : ''} ${name ?? 'object'}`;
}

function chunkHint(chunk: unknown): string {
  if (chunk instanceof ArrayBuffer) return 'wrap it as new Uint8Array(buffer)';
  if (ArrayBuffer.isView(chunk)) return 'view its bytes as new Uint8Array(view.buffer, view.byteOffset, view.byteLength)';
  if (typeof chunk === 'number' || typeof chunk === 'boolean' || typeof chunk === 'bigint') return 'convert it with String()';
  return 'serialise it first, e.g. JSON.stringify(value)';
}

function returnTypeMessage(body: unknown): string {
  const got = `the app returned ${describe(body)}`;
  if (typeof body === 'string' || ArrayBuffer.isView(body)) return `${got}, not an iterable of chunks; return [body] instead`;
  if (body === null || body === undefined) return `${got}; return an iterable of chunks such as [body], or [] for an empty body`;
  if ((body as { constructor?: { name?: string } }).constructor?.name === 'Response') {
    return `${got}; a fetch-style handler must be wrapped with the fetch adapter, or return an iterable of chunks such as [body]`;
  }
  return `${got}, which is not iterable; return an iterable or async iterable of chunks, e.g. [body] or an async generator`;
}
