// Validator rules for the body between both sides: what the app returns and yields, how the server iterates and closes it.
import type { Body } from '../core/types.js';
import type { ResponseCheck } from './validator-response.js';
import { describe, equalBytes, hasMethod, isSignal, type Reporter } from './validator-shared.js';

type AnyIterator = Iterator<unknown> | AsyncIterator<unknown>;
type StopReason = 'done' | 'threw' | 'return' | 'close' | 'aborted';

/**
 * The body of one request as the validator sees it (app.return-type, body.chunk-mutated, server.*).
 * Each chunk and the end go through the ResponseCheck, which counts them against Content-Length.
 */
export class BodyCheck {
  readonly #response: ResponseCheck;
  readonly #report: Reporter;
  readonly #env: Record<string, unknown>;
  readonly #graceMs: number;
  #completed = false; // iteration ran to its end or threw: no return() needed
  #hasClose = false;
  #opened = false; // the server asked for an iterator
  #abandoned = false; // the validator closed the inner iterator itself after a violation
  #closes = 0;
  #returns = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastChunk: { chunk: Uint8Array; copy: Uint8Array } | undefined;

  constructor(response: ResponseCheck, report: Reporter, env: Record<string, unknown>, graceMs: number) {
    this.#response = response;
    this.#report = report;
    this.#env = env;
    this.#graceMs = graceMs;
  }

  /** Checks what the app returned and wraps it so the server's iterating and closing are checked too. */
  wrap(body: unknown): Body {
    if (!isIterable(body)) {
      this.#report.fail('app.return-type', returnTypeMessage(body));
      return body as Body;
    }
    const inner = body as Body;
    const isAsync = typeof (inner as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function';
    this.#hasClose = typeof inner.close === 'function';
    const open = (): AnyIterator => {
      if (this.#opened) this.#report.fail('server.iterate-twice', 'the server iterated the body a second time; iterate it once and keep that iterator');
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

  #checkLastChunk(): void {
    const last = this.#lastChunk;
    this.#lastChunk = undefined;
    if (last && !equalBytes(last.copy, last.chunk)) {
      this.#report.fail('body.chunk-mutated', 'a Uint8Array yielded by the body changed before the server pulled the next chunk; yield a fresh buffer (or a copy) each time');
    }
  }

  /** Handles one result of the inner iterator; on a violation, leaves the inner iterator closed. */
  #result<R extends IteratorResult<unknown>>(result: R, it: AnyIterator): R {
    try {
      if (result.done) this.#response.end();
      else {
        this.#response.chunk(result.value, 'body');
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
      this.#report.fail('server.close-twice', 'the server called the body iterator\'s return() twice; call it once when iteration stops early');
    }
    this.#lastChunk = undefined; // the server is done with it
    this.#stop('return');
  }

  #close(inner: Body): void | Promise<void> {
    if (++this.#closes > 1) this.#report.fail('server.close-twice', 'the server called the body\'s close() twice; call it exactly once, in a finally block');
    this.#lastChunk = undefined;
    this.#stop('close');
    return inner.close!();
  }

  /** The server has stopped (or been told to stop) iterating: from here on it owes close() / return(). */
  #stop(reason: StopReason): void {
    if (reason !== 'aborted') this.#response.endWrites();
    if (reason === 'done' || reason === 'threw') this.#completed = true;
    if (!this.#owesClose()) {
      clearTimeout(this.#timer);
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      if (!this.#owesClose()) return;
      this.#report.late('server.close-missing', this.#hasClose
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

function isIterable(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return false;
  return hasMethod(value, Symbol.iterator) || hasMethod(value, Symbol.asyncIterator);
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
