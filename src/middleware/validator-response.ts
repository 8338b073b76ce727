// Validator rules for the app side: startResponse, write() and the bytes it sends (the start.* and write.* rules).
/*
 * Also the state both write() and the body feed: whether startResponse was called, the status, the declared
 * Content-Length and the bytes so far. validator-body.ts passes each body chunk and the body's end through
 * chunk() and end(), so body.chunk-type, body.start-response-missing and body.content-length are checked here.
 */
import type { HeaderList, StartResponse, Write } from '../core/types.js';
import { DIGITS, TOKEN, describe, equalBytes, type Reporter } from './validator-shared.js';

const STATUS = /^[2-5]\d\d [\t\x20-\x7e\x80-\xff]*$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'trailers',
  'transfer-encoding', 'upgrade',
]);
/** 426 Upgrade Required, which MUST carry Upgrade (RFC 9110 §15.5.22): the one hop-by-hop field an app sends. */
const UPGRADE_REQUIRED = 426;

/** The response of one request as the validator sees it: what the app declared and what it produced. */
export class ResponseCheck {
  readonly #env: Record<string, unknown>;
  readonly #report: Reporter;
  #started = false;
  #statusCode = 0;
  #declaredLength: number | null = null;
  #bytes = 0;
  #ended = false; // the server has finished with the body: no more write() calls

  constructor(env: Record<string, unknown>, report: Reporter) {
    this.#env = env;
    this.#report = report;
  }

  startResponse(inner: StartResponse): StartResponse {
    return (status, headers, excInfo) => {
      if (this.#started && (excInfo === undefined || excInfo === null)) {
        this.#report.fail('start.already-started', 'startResponse was called a second time without excInfo; call it once, or pass the caught error as the third argument from an error handler');
      }
      if (typeof status !== 'string' || !STATUS.test(status)) {
        this.#report.fail('start.status', `status ${describe(status)} is not "NNN Reason"; use a final code 200-599 (1xx are the front server's), one space and a reason without control characters, e.g. "404 Not Found"`);
      }
      const code = Number.parseInt(String(status), 10) || 0;
      const length = this.#checkHeaders(headers, code);
      const write = inner(status, headers, excInfo);
      this.#started = true;
      this.#statusCode = code;
      this.#declaredLength = length;
      return this.#write(write);
    };
  }

  /** Returns the declared Content-Length, or null. @param status - the status code (0 when unparseable). */
  #checkHeaders(headers: HeaderList, status: number): number | null {
    if (!Array.isArray(headers)) {
      this.#report.fail('start.headers', `headers is ${describe(headers)}; pass an array of [name, value] pairs, e.g. [['Content-Type', 'text/plain']]`);
      return null;
    }
    const lengths = new Set<string>();
    let upgrade = false;
    for (const pair of headers as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        this.#report.fail('start.headers', `header ${describe(pair)} is not a [name, value] pair of strings; convert numbers with String(), e.g. ['Content-Length', String(n)]`);
        continue;
      }
      const [name, value] = pair as [string, string];
      const lower = name.toLowerCase();
      if (!TOKEN.test(name)) this.#report.fail('start.header-name', `header name ${JSON.stringify(name)} is not an HTTP token; use letters, digits and !#$%&'*+-.^_\`|~ only, e.g. "X-Request-Id"`);
      if (!FIELD_VALUE.test(value)) {
        this.#report.fail('start.header-value', `header ${name} has a value with a control character or a character above U+00FF (${JSON.stringify(value)}); remove CR/LF/NUL and percent-encode or RFC 8187-encode non-Latin-1 text`);
      }
      if (lower === 'status') this.#report.fail('start.status-header', 'a "Status" header is not allowed; pass the status as startResponse\'s first argument');
      if (lower === 'upgrade') {
        upgrade = true;
        if (status !== UPGRADE_REQUIRED) this.#report.fail('start.hop-by-hop', `${name} is a hop-by-hop header, sent by an app only with 426 Upgrade Required (RFC 9110 §15.5.22); leave it out of a ${status} response (the front server handles upgrades)`);
      } else if (HOP_BY_HOP.has(lower)) this.#report.fail('start.hop-by-hop', `${name} is a hop-by-hop header, which only the server sets; leave it out (the server frames the body and manages the connection)`);
      if (lower === 'content-length') lengths.add(value);
    }
    if (status === UPGRADE_REQUIRED && !upgrade) {
      this.#report.fail('start.upgrade-missing', "a 426 Upgrade Required response must say what to upgrade to (RFC 9110 §15.5.22); add e.g. ['Upgrade', 'websocket'], or answer with another status");
    }
    if (lengths.size === 0) return null;
    const [value] = lengths;
    if (lengths.size > 1 || !DIGITS.test(value!)) {
      this.#report.fail('start.content-length', `Content-Length ${[...lengths].map((v) => JSON.stringify(v)).join(' and ')} is not one decimal byte count; set it to the body's length in bytes (Buffer.byteLength for strings) or leave it out`);
      return null;
    }
    return Number(value);
  }

  #write(inner: Write): Write {
    return (chunk) => {
      if (this.#ended) this.#report.fail('write.after-end', 'write() was called after the server finished with the body; write only while the app or its body is running, or yield the data from the body');
      this.chunk(chunk, 'write');
      const copy = chunk instanceof Uint8Array ? new Uint8Array(chunk) : undefined; // not .slice(): a Buffer's slice is a view
      const sent = inner(chunk);
      if (!copy) return sent;
      const checked = Promise.resolve(sent).then(() => {
        if (!equalBytes(copy, chunk as Uint8Array)) this.#report.fail('write.chunk-mutated', 'a Uint8Array passed to write() changed before its promise resolved; await write() before reusing the buffer, or pass a copy');
      });
      checked.catch(() => {}); // an app need not await write(): its rejection must not become unhandled
      return checked;
    };
  }

  /** Checks one chunk from write() or the body, and counts its bytes against Content-Length. */
  chunk(chunk: unknown, from: 'write' | 'body'): void {
    if (!(chunk instanceof Uint8Array) && typeof chunk !== 'string') {
      return this.#report.fail(`${from}.chunk-type`, `${from === 'write' ? 'write() got' : 'the body yielded'} ${describe(chunk)}; chunks are Uint8Array or string: ${chunkHint(chunk)}`);
    }
    if (from === 'body' && !this.#started && chunk.length > 0) {
      this.#report.fail('body.start-response-missing', 'the body yielded data before startResponse was called; call startResponse(status, headers) before returning the body or before its first yield');
    }
    this.#bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk, 'utf8') : chunk.byteLength;
    if (this.#declaredLength !== null && !this.#bodyless() && this.#bytes > this.#declaredLength) {
      this.#report.fail('body.content-length', `the app produced ${this.#bytes} bytes, more than its Content-Length of ${this.#declaredLength}; fix the header (count bytes, not characters) or leave it out`);
    }
  }

  /** The body ran to its end: startResponse must have been called and Content-Length reached. */
  end(): void {
    if (!this.#started) {
      return this.#report.fail('body.start-response-missing', 'the body ended but startResponse was never called; call startResponse(status, headers) before returning the body or before it ends');
    }
    if (this.#declaredLength !== null && !this.#bodyless() && this.#bytes < this.#declaredLength) {
      this.#report.fail('body.content-length', `the app produced ${this.#bytes} bytes, fewer than its Content-Length of ${this.#declaredLength}; fix the header (count bytes, not characters) or leave it out`);
    }
  }

  /** The server has finished with the body: from here on write() is a violation. */
  endWrites(): void {
    this.#ended = true;
  }

  #bodyless(): boolean {
    const code = this.#statusCode;
    return this.#env.REQUEST_METHOD === 'HEAD' || code < 200 || code === 204 || code === 304;
  }
}

function chunkHint(chunk: unknown): string {
  if (chunk instanceof ArrayBuffer) return 'wrap it as new Uint8Array(buffer)';
  if (ArrayBuffer.isView(chunk)) return 'view its bytes as new Uint8Array(view.buffer, view.byteOffset, view.byteLength)';
  if (typeof chunk === 'number' || typeof chunk === 'boolean' || typeof chunk === 'bigint') return 'convert it with String()';
  return 'serialise it first, e.g. JSON.stringify(value)';
}
