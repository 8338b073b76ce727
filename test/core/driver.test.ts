// Tests the driver's state rules and error policy (docs/spec.md; PEP 3333 "start_response", "close").

import { describe, expect, it } from 'vitest';
import { runApp, runAppNow } from '../../src/core/driver.js';
import { BodyTooLargeError, RequestAbortedError, TsgiError } from '../../src/core/errors.js';
import type { App, Body } from '../../src/core/types.js';
import { recordingSink, testEnviron } from '../helpers/recording-sink.js';

async function drive(app: App, params: Record<string, string> = {}, writeReturns = true) {
  const { environ, controller } = testEnviron(params);
  const { sink, rec, drainNow } = recordingSink({ writeReturns });
  const logs: string[] = [];
  const outcome = runApp(app, environ, sink, { log: (line) => logs.push(line) });
  return { outcome, rec, logs, controller, drainNow };
}

const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString();

/** A body whose close() calls are counted (PEP 3333 "close"). */
function closable(chunks: string[], onClose: () => void): Body {
  return { [Symbol.iterator]: () => chunks[Symbol.iterator](), close: onClose };
}

describe('driver: runAppNow, a sync app with an array body answered before it returns', () => {
  /** runAppNow for a sync app that starts 200 and returns `body`, into a recording sink. */
  function answer(body: unknown, sink = recordingSink()) {
    const logs: string[] = [];
    const app = ((_env, start) => {
      start('200 OK', []);
      return body;
    }) as App;
    const outcome = runAppNow(app, testEnviron().environ, sink.sink, { log: (line) => logs.push(line) });
    return { outcome, rec: sink.rec, drainNow: sink.drainNow, logs };
  }

  it('returns the outcome itself, not a promise, with the whole response already in the sink', () => {
    const { outcome, rec } = answer(['a', 'b']);
    expect(outcome).toBe('complete');
    expect(rec.events).toEqual(['start 200 OK', 'write a', 'write b', 'end']);
    expect(rec.headers).toEqual([['Content-Length', '2']]);
  });

  it('answers a sync throw with a 500 at once', () => {
    const { sink, rec } = recordingSink();
    const logs: string[] = [];
    const thrower: App = () => {
      throw new Error('boom');
    };
    expect(runAppNow(thrower, testEnviron().environ, sink, { log: (line) => logs.push(line) })).toBe('failed');
    expect(rec.status).toBe('500 Internal Server Error');
    expect(logs.join('')).toContain('boom');
  });

  it('waits for drain where the sink is full, then sends the rest in order', async () => {
    const { outcome, rec, drainNow } = answer(['a', 'b', 'c'], recordingSink({ writeReturns: false }));
    expect(outcome).toBeInstanceOf(Promise);
    expect(rec.events).toEqual(['start 200 OK', 'write a', 'drain']);
    for (let i = 0; i < 3; i++) {
      drainNow();
      await new Promise((r) => setTimeout(r, 0));
    }
    expect(await outcome).toBe('complete');
    expect(rec.events).toEqual(['start 200 OK', 'write a', 'drain', 'write b', 'drain', 'write c', 'drain', 'end']);
  });

  it('ends as aborted when the drain it waits for fails (the client went away)', async () => {
    const sink = recordingSink({ writeReturns: false });
    sink.sink.drain = () => Promise.reject(new RequestAbortedError());
    const { outcome, rec } = answer(['a', 'b'], sink);
    expect(await outcome).toBe('aborted');
    expect(rec.events).toEqual(['start 200 OK', 'write a', 'abort']);
  });

  it('runApp, the public one, always returns a promise', async () => {
    const { sink } = recordingSink();
    const app: App = (_env, start) => {
      start('200 OK', []);
      return ['a'];
    };
    const outcome = runApp(app, testEnviron().environ, sink, { log: () => {} });
    expect(outcome).toBeInstanceOf(Promise);
    expect(await outcome).toBe('complete');
  });

  it('leaves an array that is also async iterable, or a thenable, to the general path (spec "The body")', async () => {
    class Chunks extends Array<string> {
      async *[Symbol.asyncIterator](): AsyncGenerator<string> {
        yield 'async';
      }
    }
    const both = new Chunks();
    both.push('sync');
    const asyncWins = answer(both);
    expect(await asyncWins.outcome).toBe('complete');
    expect(asyncWins.rec.events).toEqual(['start 200 OK', 'write async', 'end']);

    const thenable = Object.assign(['not this'], { then: (resolve: (body: string[]) => void) => resolve(['this']) });
    const awaited = answer(thenable);
    expect(await awaited.outcome).toBe('complete');
    expect(awaited.rec.body.map(String)).toEqual(['this']);
  });

  it('leaves an array with its own iterator, or with close(), to the general path', async () => {
    class Reversed extends Array<string> {
      override *[Symbol.iterator](): ArrayIterator<string> {
        for (let i = this.length - 1; i >= 0; i--) yield this[i] as string;
      }
    }
    const reversed = new Reversed();
    reversed.push('1', '2');
    const own = answer(reversed);
    expect(await own.outcome).toBe('complete');
    expect(own.rec.events).toEqual(['start 200 OK', 'write 2', 'write 1', 'end']);

    let closed = 0;
    const withClose = answer(Object.assign(['x'], { close: () => void closed++ }));
    expect(withClose.outcome).toBeInstanceOf(Promise);
    expect(await withClose.outcome).toBe('complete');
    expect(closed).toBe(1);
  });
});

describe('driver: normal responses', () => {
  it('sends an array body with a Content-Length computed from its chunks', async () => {
    const { outcome, rec } = await drive((_env, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return ['hello ', Buffer.from('wörld')];
    });
    expect(await outcome).toBe('complete');
    expect(rec.status).toBe('200 OK');
    expect(rec.headers).toEqual([
      ['Content-Type', 'text/plain'],
      ['Content-Length', String(Buffer.byteLength('hello wörld'))],
    ]);
    expect(text(rec.body)).toBe('hello wörld');
    expect(rec.events.at(-1)).toBe('end');
  });

  it('awaits a body returned as any thenable, not only a native Promise', async () => {
    const thenable = {
      then(resolve: (body: Body) => void) {
        resolve(['via a thenable']);
      },
    };
    const { outcome, rec } = await drive(((_env, start) => {
      start('200 OK', []);
      return thenable;
    }) as App);
    expect(await outcome).toBe('complete');
    expect(text(rec.body)).toBe('via a thenable');
  });

  it('sends headers lazily, with the first non-empty chunk (PEP 3333 "buffering")', async () => {
    const seen: string[] = [];
    const { outcome, rec } = await drive(async function* (_env, start) {
      start('200 OK', []);
      yield '';
      seen.push(rec.events.length === 0 ? 'nothing sent yet' : 'sent');
      yield 'a';
      seen.push(rec.events.join(','));
    });
    expect(await outcome).toBe('complete');
    expect(seen).toEqual(['nothing sent yet', 'start 200 OK,write a']);
  });

  it('sends headers at the end when the body yields no bytes', async () => {
    const { outcome, rec } = await drive(async function* (_env, start) {
      start('204 No Content', [['X-A', '1']]);
    });
    expect(await outcome).toBe('complete');
    expect(rec.events).toEqual(['start 204 No Content', 'end']);
  });

  it('lets excInfo replace headers that are not sent yet (PEP 3333 "exc_info")', async () => {
    const { outcome, rec } = await drive((_env, start) => {
      start('200 OK', [['X-First', '1']]);
      start('503 Busy', [['Retry-After', '5']], new Error('handled'));
      return ['later'];
    });
    expect(await outcome).toBe('complete');
    expect(rec.status).toBe('503 Busy');
    expect(rec.headers?.[0]).toEqual(['Retry-After', '5']);
  });

  it('honours backpressure: write() waits for drain when the sink is full', async () => {
    let resolved = false;
    const { outcome, rec, drainNow } = await drive(async (_env, start) => {
      const write = start('200 OK', []);
      await write('one').then(() => {
        resolved = true;
      });
      return [];
    }, {}, false);
    await new Promise((r) => setTimeout(r, 10));
    expect(resolved).toBe(false);
    expect(rec.events).toEqual(['start 200 OK', 'write one', 'drain']);
    drainNow();
    expect(await outcome).toBe('complete');
    expect(resolved).toBe(true);
  });

  it('iterates a HEAD body but sends no bytes, keeping Content-Length (RFC 9110 §9.3.2)', async () => {
    let iterated = false;
    const { outcome, rec } = await drive(
      (_env, start) => {
        start('200 OK', [['Content-Length', '5']]);
        return (function* () {
          iterated = true;
          yield 'hello';
        })();
      },
      { REQUEST_METHOD: 'HEAD' },
    );
    expect(await outcome).toBe('complete');
    expect(iterated).toBe(true);
    expect(rec.body).toEqual([]);
    expect(rec.headers).toEqual([['Content-Length', '5']]);
  });
});

describe('driver: the app breaks a rule', () => {
  it('throws TSGI_ALREADY_STARTED on a second startResponse without excInfo', async () => {
    let caught: unknown;
    const { outcome, rec } = await drive((_env, start) => {
      start('200 OK', []);
      try {
        start('201 Created', []);
      } catch (error) {
        caught = error;
      }
      return ['x'];
    });
    expect(await outcome).toBe('complete');
    expect((caught as TsgiError).code).toBe('TSGI_ALREADY_STARTED');
    expect(rec.status).toBe('200 OK');
  });

  it('fails the request when the app returns without ever calling startResponse', async () => {
    const { outcome, rec, logs } = await drive(() => []);
    expect(await outcome).toBe('failed');
    expect(rec.status).toBe('500 Internal Server Error');
    expect(logs.join('')).toContain('without calling startResponse');
  });

  it('answers 500 with a generic body when the app throws before starting, and logs the detail', async () => {
    const { outcome, rec, logs } = await drive(() => {
      throw new Error('secret-internal-detail');
    });
    expect(await outcome).toBe('failed');
    expect(rec.status).toBe('500 Internal Server Error');
    expect(text(rec.body)).toBe('Internal Server Error\n');
    expect(text(rec.body)).not.toContain('secret');
    expect(logs.join('')).toContain('secret-internal-detail');
  });

  it('cuts the response off when the app throws after the headers went out', async () => {
    const { outcome, rec } = await drive(async function* (_env, start) {
      start('200 OK', []);
      yield 'partial';
      throw new Error('late');
    });
    expect(await outcome).toBe('failed');
    expect(rec.events).toEqual(['start 200 OK', 'write partial', 'abort']);
    expect(rec.ended).toBe(false);
  });

  it('re-throws excInfo when headers were already sent (PEP 3333)', async () => {
    const original = new Error('boom');
    const { outcome, rec } = await drive(async function* (_env, start) {
      start('200 OK', []);
      yield 'sent';
      start('500 Oops', [], original);
    });
    expect(await outcome).toBe('failed');
    expect(rec.aborted).toBe(original);
  });

  it.each([
    ['a CR LF in a header value', '200 OK', [['X-Bad', 'a\r\nSet-Cookie: evil=1']]],
    ['a NUL in a header value', '200 OK', [['X-Bad', 'a\0b']]],
    ['a header name with a space', '200 OK', [['Bad Name', 'x']]],
    ['a Status header', '200 OK', [['Status', '302 Found']]],
    ['a hop-by-hop header', '200 OK', [['Transfer-Encoding', 'chunked']]],
    ['a status without a reason', '200', []],
    ['a non-numeric Content-Length', '200 OK', [['Content-Length', '12, 12']]],
    ['two Content-Length headers', '200 OK', [['Content-Length', '1'], ['Content-Length', '1']]],
    ['a status with CR LF', '200 OK\r\nX-Injected: 1', []],
    ['an interim 1xx status', '100 Continue', []],
    ['101 Switching Protocols', '101 Switching Protocols', [['X-Note', 'no upgrade through TSGI']]],
  ] as const)('rejects %s: 500, and the bad value never reaches the wire', async (_name, status, headers) => {
    const { outcome, rec } = await drive((_env, start) => {
      start(status, headers as unknown as Array<[string, string]>);
      return ['x'];
    });
    expect(await outcome).toBe('failed');
    expect(rec.status).toBe('500 Internal Server Error');
    expect(JSON.stringify(rec.headers)).not.toMatch(/evil|Injected|chunked/);
  });

  it('accepts Upgrade in a 426 response only (RFC 9110 §15.5.22), before and after the name is cached', async () => {
    const respond = async (status: string, name: string) => {
      const { outcome, rec, logs } = await drive((_env, start) => {
        start(status, [[name, 'websocket'], ['Content-Type', 'text/plain']]);
        return ['x'];
      });
      return { outcome: await outcome, rec, logs };
    };
    for (let i = 0; i < 2; i++) {
      for (const name of ['Upgrade', 'upgrade']) {
        const required = await respond('426 Upgrade Required', name);
        expect(required.outcome).toBe('complete');
        expect(required.rec.status).toBe('426 Upgrade Required');
        expect(required.rec.headers).toContainEqual([name, 'websocket']);
        const ok = await respond('200 OK', name);
        expect(ok.outcome).toBe('failed');
        expect(ok.rec.status).toBe('500 Internal Server Error');
        expect(ok.logs.join('')).toContain(`hop-by-hop header ${name}`);
      }
    }
  });

  it('checks names and status lines seen before as fully as new ones (those checks are cached)', async () => {
    const respond = async (status: string, headers: Array<[string, string]>, body = ['x']) =>
      (await drive((_env, start) => {
        start(status, headers);
        return body;
      })).outcome;
    expect(await respond('299 Seen', [['X-Seen', 'ok'], ['Content-Length', '1']])).toBe('complete');
    expect(await respond('299 Seen', [['X-Seen', 'a\r\nSet-Cookie: evil=1']])).toBe('failed');
    expect(await respond('299 Seen', [['Content-Length', '1'], ['Content-Length', '1']])).toBe('failed');
    expect(await respond('299 Seen', [['Content-Length', 'one']])).toBe('failed');
    for (let i = 0; i < 2; i++) {
      expect(await respond('200 OK', [['Status', '302 Found']])).toBe('failed');
      expect(await respond('200 OK', [['Connection', 'close']])).toBe('failed');
    }
    // Any spelling of the name declares the length, and the body is held to it.
    expect(await respond('200 OK', [['content-length', '3']], ['abc'])).toBe('complete');
    expect(await respond('200 OK', [['content-length', '3']], ['ab'])).toBe('failed');
    // Names and status lines too long to be kept are checked every time.
    const long = `X-${'a'.repeat(100)}`;
    expect(await respond(`200 ${'r'.repeat(100)}`, [[long, 'ok']])).toBe('complete');
    expect(await respond(`200 ${'r'.repeat(100)}`, [[long, 'bad\r\n']])).toBe('failed');
    expect(await respond(`200 ${'r'.repeat(100)}\r\n`, [])).toBe('failed');
    // Past the cache's bound, status lines are still parsed and checked.
    for (let i = 0; i < 300; i++) expect(await respond(`200 Reason ${i}`, [])).toBe('complete');
    expect(await respond('200 Reason 1\r\nX-Injected: 1', [])).toBe('failed');
    expect(await respond('600 Reason 1', [])).toBe('failed');
  });

  it('rejects a bare string body, saying to return [body]', async () => {
    const { outcome, logs } = await drive(((_env: unknown, start: (s: string, h: []) => void) => {
      start('200 OK', []);
      return 'hello';
    }) as unknown as App);
    expect(await outcome).toBe('failed');
    expect(logs.join('')).toContain('return [body]');
  });

  it('cuts off a body shorter than its Content-Length', async () => {
    const { outcome, rec } = await drive(async function* (_env, start) {
      start('200 OK', [['Content-Length', '10']]);
      yield 'short';
    });
    expect(await outcome).toBe('failed');
    expect(rec.events).toEqual(['start 200 OK', 'write short', 'abort']);
  });

  it('fails a body that yields data before startResponse', async () => {
    const { outcome, logs } = await drive(async function* () {
      yield 'too early';
    });
    expect(await outcome).toBe('failed');
    expect(logs.join('')).toContain('before startResponse was called');
  });
});

describe('driver: a request body too large (RFC 9110 §15.5.14)', () => {
  const readsAll: App = async (environ, start) => {
    const body = await environ['tsgi.input'].readAll(4);
    start('200 OK', []);
    return [body];
  };

  it("answers 413, not 500, when tsgi.input's BodyTooLargeError escapes the app, and logs no stack", async () => {
    const { environ } = testEnviron({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: '10' }, Buffer.from('0123456789'));
    const { sink, rec } = recordingSink();
    const logs: Array<[string, string]> = [];
    expect(await runApp(readsAll, environ, sink, { log: (line, level) => logs.push([line, level]) })).toBe('failed');
    expect(rec.status).toBe('413 Content Too Large');
    expect(text(rec.body)).toBe('Content Too Large\n');
    expect(logs).toEqual([['tsgi: 413 for POST /: tsgi: request body exceeds 4 bytes\n', 'info']]);
  });

  it('carries status 413 the way Express, Koa and Fastify read it (http-errors)', () => {
    const error = new BodyTooLargeError(4);
    expect(error).toBeInstanceOf(TsgiError);
    expect([error.code, error.status, error.statusCode, error.expose]).toEqual(['TSGI_BODY_TOO_LARGE', 413, 413, true]);
  });

  it('cuts the response off as for any error once the headers were sent', async () => {
    const { environ } = testEnviron({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: '10' }, Buffer.from('0123456789'));
    const { sink, rec } = recordingSink();
    const app: App = async function* (env, start) {
      start('200 OK', []);
      yield 'partial';
      await env['tsgi.input'].readAll(4);
    };
    expect(await runApp(app, environ, sink, { log: () => {} })).toBe('failed');
    expect(rec.status).toBe('200 OK');
    expect(rec.events.at(-1)).toMatch(/^abort/);
  });
});

describe('driver: an app that is not a TSGI app', () => {
  it('says to use --type fetch when a two-parameter function returned a fetch Response', async () => {
    const handler = (async (_request: unknown, _context: unknown) => new Response('hi')) as unknown as App;
    const { outcome, rec, logs } = await drive(handler);
    expect(await outcome).toBe('failed');
    expect(rec.status).toBe('500 Internal Server Error');
    expect(logs.join('')).toContain('got Response; for a fetch handler (request, context) => Response, start tsgi with --type fetch');
  });
});

describe('driver: details the validator found', () => {
  it('rejects write() after the response ended with TSGI_WRITE_AFTER_END, sending nothing', async () => {
    let kept: ((chunk: string) => Promise<void>) | undefined;
    const { outcome, rec } = await drive((_env, start) => {
      kept = start('200 OK', []);
      return ['done'];
    });
    expect(await outcome).toBe('complete');
    await expect(kept!('late')).rejects.toMatchObject({ code: 'TSGI_WRITE_AFTER_END' });
    expect(text(rec.body)).toBe('done');
  });

  it('adds no Content-Length to a HEAD response whose app returned []', async () => {
    const { outcome, rec } = await drive(
      (_env, start) => {
        start('200 OK', [['Content-Type', 'text/plain']]);
        return [];
      },
      { REQUEST_METHOD: 'HEAD' },
    );
    expect(await outcome).toBe('complete');
    expect(rec.headers).toEqual([['Content-Type', 'text/plain']]);
  });
});

describe('driver: closing the body exactly once (PEP 3333 "close")', () => {
  it('calls close() once on success', async () => {
    let closed = 0;
    const { outcome } = await drive((_env, start) => {
      start('200 OK', []);
      return closable(['a', 'b'], () => void closed++);
    });
    expect(await outcome).toBe('complete');
    expect(closed).toBe(1);
  });

  it('calls close() once when the body fails mid-way', async () => {
    let closed = 0;
    const { outcome } = await drive((_env, start) => {
      start('200 OK', []);
      const body: Body = {
        *[Symbol.iterator]() {
          yield 'a';
          throw new Error('mid-way');
        },
        close: () => void closed++,
      };
      return body;
    });
    expect(await outcome).toBe('failed');
    expect(closed).toBe(1);
  });

  it("runs a generator's finally block when the client goes away", async () => {
    let finallyRan = 0;
    const { outcome, controller } = await drive(async function* (_env, start) {
      start('200 OK', []);
      try {
        for (;;) {
          yield 'tick';
          await new Promise((r) => setTimeout(r, 1));
        }
      } finally {
        finallyRan++;
      }
    });
    setTimeout(() => controller.abort(new RequestAbortedError()), 20);
    expect(await outcome).toBe('aborted');
    expect(finallyRan).toBe(1);
  });

  it('logs an error thrown by close() without changing the response', async () => {
    const { outcome, rec, logs } = await drive((_env, start) => {
      start('200 OK', []);
      return closable(['ok'], () => {
        throw new Error('close failed');
      });
    });
    expect(await outcome).toBe('complete');
    expect(text(rec.body)).toBe('ok');
    expect(logs.join('')).toContain('close failed');
  });

  it('rejects write() after the client went away without an unhandled rejection', async () => {
    let rejection: unknown;
    const { outcome, controller } = await drive(async (_env, start) => {
      const write = start('200 OK', []);
      await new Promise((r) => setTimeout(r, 1));
      controller.abort();
      void write('ignored'); // not awaited: must not crash the process
      rejection = await write('awaited').catch((error: unknown) => error);
      return [];
    });
    expect(await outcome).toBe('aborted');
    expect(rejection).toBeInstanceOf(RequestAbortedError);
  });
});

describe('driver: values the app makes hostile (runApp never throws)', () => {
  // Each of these made runApp reject before: the FastCGI daemon ended with every request it served.
  const UNPRINTABLE = Object.create(null) as object; // String() throws: no toString
  const badStack = new Error('bad stack');
  Object.defineProperty(badStack, 'stack', {
    get() {
      throw new Error('stack getter');
    },
  });
  const bodyWithCloseGetter = {
    [Symbol.iterator]: () => ['x'][Symbol.iterator](),
    get close(): () => void {
      throw new Error('close getter');
    },
  };

  it.each([
    ['returns null after startResponse', (): unknown => null, 'failed', '500 Internal Server Error'],
    ['throws an object String() cannot convert', (): unknown => {
      throw UNPRINTABLE;
    }, 'failed', '500 Internal Server Error'],
    ['throws an Error whose stack getter throws', (): unknown => {
      throw badStack;
    }, 'failed', '500 Internal Server Error'],
    ['returns a body whose close getter throws', (): unknown => bodyWithCloseGetter, 'complete', '200 OK'],
    ['returns a revoked Proxy', (): unknown => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    }, 'failed', '500 Internal Server Error'],
  ] as const)('%s: answers, logs a line, resolves', async (_name, after, expected, status) => {
    const { outcome, rec, logs } = await drive(((_env, start) => {
      start('200 OK', []);
      return after();
    }) as App);
    expect(await outcome).toBe(expected);
    expect(rec.status).toBe(status);
    expect(rec.events.at(-1)).toBe('end');
    expect(logs.length).toBeGreaterThan(0);
  });

  it('still logs a line when the app replaced environ values with ones a string cannot hold', async () => {
    const { outcome, rec, logs } = await drive(((environ: Record<string, unknown>) => {
      environ.PATH_INFO = Symbol('path');
      throw UNPRINTABLE;
    }) as unknown as App);
    expect(await outcome).toBe('failed');
    expect(rec.status).toBe('500 Internal Server Error');
    expect(logs.join('')).toContain('a request whose environ cannot be printed');
    expect(logs.join('')).toContain('a thrown [object Object] that cannot be printed');
  });

  it('throws from a generator with a value String() cannot convert, after the first byte: cut off', async () => {
    const { outcome, rec } = await drive(async function* (_env, start) {
      start('200 OK', []);
      yield 'first';
      throw UNPRINTABLE;
    });
    expect(await outcome).toBe('failed');
    expect(rec.events.at(-1)).toMatch(/^abort/);
  });

  it('sends the headers startResponse checked, whatever the app changes in its arrays afterwards', async () => {
    const { outcome, rec } = await drive(async function* (_env, start) {
      const headers: Array<[string, string]> = [['X-Note', 'fine'], ['Content-Type', 'text/plain']];
      start('200 OK', headers);
      (headers[0] as [string, string])[1] = 'x\r\nSet-Cookie: session=attacker';
      (headers[1] as [string, string])[0] = 'X-Evil\r\n\r\n<html>';
      headers.push(['Set-Cookie', 'late=1']);
      yield 'body';
    });
    expect(await outcome).toBe('complete');
    expect(rec.headers).toEqual([['X-Note', 'fine'], ['Content-Type', 'text/plain']]);
  });

  it('checks and keeps one reading of each header pair, even through getters', async () => {
    let reads = 0;
    const pair = ['X-Note', ''] as unknown as [string, string];
    Object.defineProperty(pair, 1, { get: () => (reads++ === 0 ? 'checked' : 'a\r\nSet-Cookie: evil=1') });
    const { outcome, rec } = await drive((_env, start) => {
      start('200 OK', [pair]);
      return ['x'];
    });
    expect(await outcome).toBe('complete');
    expect(rec.headers).toContainEqual(['X-Note', 'checked']);
    expect(JSON.stringify(rec.headers)).not.toContain('evil');
  });
});

