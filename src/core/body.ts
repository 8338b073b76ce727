// The app's body as the driver sees it, from the server side: its shape (PEP 3333 "iterable"), its chunks as bytes, and closing it once (PEP 3333 "close").

import { describeError, describeValue, requestLine } from './describe.js';
import { TsgiError } from './errors.js';
import type { Body, Chunk, Environ } from './types.js';

/**
 * A body chunk as bytes: a Uint8Array as it is, a string as UTF-8.
 * @throws {TsgiError} code `TSGI_BAD_CHUNK` for anything else.
 */
export function toBytes(chunk: Chunk): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  throw new TsgiError(
    'TSGI_BAD_CHUNK',
    `tsgi: body chunks must be Uint8Array or string, got ${describeValue(chunk)}`,
  );
}

/**
 * Checks what the app returned: an iterable or async iterable of chunks (docs/spec.md "The body").
 * @throws {TsgiError} code `TSGI_BAD_BODY` naming what came instead (with a hint for a bare string
 *   or bytes, and for a fetch `Response`).
 */
export function checkBody(body: unknown): asserts body is Body {
  if (typeof body === 'string' || body instanceof Uint8Array) {
    throw new TsgiError('TSGI_BAD_BODY', 'tsgi: the app returned a bare string/bytes; return [body] instead');
  }
  if (
    body === null ||
    typeof body !== 'object' ||
    !(Symbol.iterator in body || Symbol.asyncIterator in body)
  ) {
    // A fetch handler of two parameters, `(request, context) => Response` (React Router's request
    // handler, for one), is taken for a TSGI app: say how to have it adapted.
    const hint = typeof Response === 'function' && body instanceof Response ? '; for a fetch handler (request, context) => Response, start tsgi with --type fetch (TSGI_TYPE=fetch under CGI) or wrap it in fromFetch()' : '';
    throw new TsgiError(
      'TSGI_BAD_BODY',
      `tsgi: the app must return an iterable or async iterable of chunks, got ${describeValue(body)}${hint}`,
    );
  }
}

/**
 * Whether the body has something to close: its `close()`, or an unfinished iterator's `return()`.
 * True also when looking throws (a getter, a Proxy): {@link closeBody} then logs it.
 */
export function mustClose(
  body: Body | undefined,
  iterator: Iterator<Chunk> | AsyncIterator<Chunk> | undefined,
  finished: boolean,
): boolean {
  try {
    if (body !== undefined && body !== null && typeof body.close === 'function') return true;
    return iterator !== undefined && !finished && typeof iterator.return === 'function';
  } catch {
    return true;
  }
}

/**
 * Closes the body once (PEP 3333: the server always calls close): its `close()`, else an unfinished
 * iterator's `return()`. Never throws: reading `close` may run the app's code (a getter, a Proxy),
 * so every step is inside the try, and a failure is a log line.
 */
export async function closeBody(
  body: Body | undefined,
  iterator: Iterator<Chunk> | AsyncIterator<Chunk> | undefined,
  finished: boolean,
  log: (line: string, level: 'error' | 'info') => void,
  environ: Environ,
): Promise<void> {
  try {
    const close = body === undefined || body === null ? undefined : body.close;
    if (typeof close === 'function') {
      await close.call(body);
    } else if (iterator !== undefined && !finished && typeof iterator.return === 'function') {
      await iterator.return();
    }
  } catch (error) {
    log(`tsgi: error closing the body of ${requestLine(environ)}: ${describeError(error)}\n`, 'error');
  }
}
