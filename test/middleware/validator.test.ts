// Tests the TSGI validator middleware from both sides: one case per rule, plus clean apps that pass.
import { describe, expect, it } from 'vitest';
import { TsgiError } from '../../src/core/errors.js';
import type { App, Body, Chunk, Environ, HeaderList, InputStream, StartResponse, Write } from '../../src/core/types.js';
import { ValidationError, validator, type Violation } from '../../src/middleware/validator.js';

const GRACE_MS = 5;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Server {
  /** Keys to set (or replace) in the environ. */
  environ?: Record<string, unknown>;
  /** Keys to delete from the environ. */
  remove?: string[];
  /** Replace the whole environ. */
  rawEnviron?: unknown;
  /** How the server closes: per the spec, never, or twice. */
  close?: 'spec' | 'never' | 'twice';
  /** Iterate by hand and never call return() when stopping early; with 'twice', call return() twice. */
  manual?: boolean;
  /** Ask the body for an iterator twice. */
  iterateTwice?: boolean;
  /** Abort tsgi.signal and stop iterating after this many chunks. */
  abortAfter?: number;
  /** Runs after the server has finished the request. */
  after?: () => unknown;
  /** How many times the server calls the app's close() after the request (spec "Closing the app"). Default 0. */
  closeApp?: number;
}

interface Outcome {
  status?: string;
  headers?: HeaderList;
  body: string;
  violations: Violation[];
  error?: unknown;
  /** Lines written to tsgi.errors, and errors the server logged (from close()). */
  log: string[];
}

function emptyInput(): InputStream {
  return {
    read: async () => null,
    readAll: async () => new Uint8Array(0),
    async *[Symbol.asyncIterator]() {},
  };
}

function makeEnviron(server: Server, controller: AbortController, log: string[]): Environ {
  if ('rawEnviron' in server) return server.rawEnviron as Environ;
  const env: Record<string, unknown> = {
    REQUEST_METHOD: 'GET',
    SCRIPT_NAME: '',
    PATH_INFO: '/',
    QUERY_STRING: '',
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    'tsgi.version': [1, 0],
    'tsgi.url_scheme': 'http',
    'tsgi.input': emptyInput(),
    'tsgi.errors': { write: (text: string) => log.push(text) },
    'tsgi.multithread': false,
    'tsgi.multiprocess': true,
    'tsgi.run_once': true,
    'tsgi.signal': controller.signal,
    ...server.environ,
  };
  for (const key of server.remove ?? []) delete env[key];
  return env as Environ;
}

/**
 * A minimal hand-written server: lazy headers, excInfo re-raised once headers are sent, the body
 * iterated with for-of (so return() happens on early exit), close() in finally.
 */
async function serve(app: App, server: Server = {}, mode: 'report' | 'throw' = 'report'): Promise<Outcome> {
  const violations: Violation[] = [];
  const log: string[] = [];
  const out: Outcome = { body: '', violations, log };
  const controller = new AbortController();
  const environ = makeEnviron(server, controller, log);
  const wrapped = validator(app, {
    closeGraceMs: GRACE_MS,
    ...(mode === 'report' ? { onViolation: (v: Violation) => violations.push(v) } : {}),
  });
  const bytes: Buffer[] = [];
  let sent = false;
  let taken = 0;
  const take = async (chunk: Chunk): Promise<boolean> => {
    // A real server would refuse a bad chunk; this one keeps going so report mode can carry on.
    const data = chunk instanceof Uint8Array ? Buffer.from(chunk) : Buffer.from(String(chunk));
    if (data.length > 0) sent = true;
    bytes.push(data);
    await new Promise((resolve) => setImmediate(resolve)); // the transport takes its time
    if (server.abortAfter !== undefined && ++taken >= server.abortAfter) {
      controller.abort();
      return true;
    }
    return false;
  };
  const write: Write = async (chunk) => {
    await take(chunk);
  };
  const startResponse: StartResponse = (status, headers, excInfo) => {
    if (excInfo !== undefined && sent) throw excInfo;
    out.status = status;
    out.headers = headers;
    return write;
  };
  let body: Body | undefined;
  try {
    body = await wrapped(environ, startResponse);
    if (server.manual) {
      const it = (body as AsyncIterable<Chunk>)[Symbol.asyncIterator]();
      for (let r = await it.next(); !r.done; r = await it.next()) if (await take(r.value)) break;
      if (server.close === 'twice') {
        await it.return?.();
        await it.return?.();
      }
    } else {
      for (let round = server.iterateTwice ? 2 : 1; round > 0; round--) {
        if (Symbol.asyncIterator in body) {
          for await (const chunk of body as AsyncIterable<Chunk>) if (await take(chunk)) break;
        } else {
          for (const chunk of body as Iterable<Chunk>) if (await take(chunk)) break;
        }
      }
    }
  } catch (error) {
    out.error = error;
  } finally {
    const closes = server.close === 'never' ? 0 : server.close === 'twice' && !server.manual ? 2 : 1;
    for (let i = 0; i < closes; i++) {
      try {
        if (typeof body?.close === 'function') await body.close();
      } catch (error) {
        log.push(`close: ${(error as Error).message}`);
      }
    }
  }
  out.body = Buffer.concat(bytes).toString('utf8');
  await server.after?.();
  for (let i = 0; i < (server.closeApp ?? 0); i++) {
    try {
      await wrapped.close?.();
    } catch (error) {
      log.push(`app close: ${(error as Error).message}`);
    }
  }
  await sleep(GRACE_MS * 4); // let server.close-missing fire if it is going to
  return out;
}

const TEXT: HeaderList = [['Content-Type', 'text/plain']];

/** An app that starts with the given status/headers and returns the given chunks. */
const respond = (status: string, headers: HeaderList, chunks: unknown[] = ['ok']): App => (_environ, startResponse) => {
  startResponse(status, headers);
  return chunks as Chunk[];
};

/** A body that has close() and records the call. */
function closable(chunks: Chunk[]): Body & { closed: number } {
  const body = { closed: 0, [Symbol.iterator]: () => chunks[Symbol.iterator](), close: () => void body.closed++ };
  return body;
}

/** An app that keeps its write() and a hook that calls it once the request is over. */
function keepsWrite(): { app: App; server: Server } {
  let kept: Write | undefined;
  const app: App = (_e, sr) => {
    kept = sr('200 OK', TEXT);
    return ['done'];
  };
  return { app, server: { after: () => kept?.('late') } };
}

interface Case {
  rule: string;
  name: string;
  app: App;
  server?: Server;
}

const cases: Case[] = [
  // Server side: the environ
  { rule: 'environ.type', name: 'environ is a Map', app: respond('200 OK', TEXT), server: { rawEnviron: new Map() } },
  { rule: 'environ.missing-key', name: 'PATH_INFO absent', app: respond('200 OK', TEXT), server: { remove: ['PATH_INFO'] } },
  { rule: 'environ.missing-key', name: 'tsgi.signal absent', app: respond('200 OK', TEXT), server: { remove: ['tsgi.signal'] } },
  { rule: 'environ.not-string', name: 'SERVER_PORT is a number', app: respond('200 OK', TEXT), server: { environ: { SERVER_PORT: 80 } } },
  { rule: 'environ.not-string', name: 'REMOTE_ADDR is undefined', app: respond('200 OK', TEXT), server: { environ: { REMOTE_ADDR: undefined } } },
  { rule: 'environ.request-method', name: 'REQUEST_METHOD with a space', app: respond('200 OK', TEXT), server: { environ: { REQUEST_METHOD: 'GE T' } } },
  { rule: 'environ.script-name-slash', name: "SCRIPT_NAME '/'", app: respond('200 OK', TEXT), server: { environ: { SCRIPT_NAME: '/' } } },
  { rule: 'environ.script-name', name: "SCRIPT_NAME 'app'", app: respond('200 OK', TEXT), server: { environ: { SCRIPT_NAME: 'app' } } },
  { rule: 'environ.script-name', name: "SCRIPT_NAME '/app/'", app: respond('200 OK', TEXT), server: { environ: { SCRIPT_NAME: '/app/' } } },
  { rule: 'environ.path-info', name: "PATH_INFO 'x'", app: respond('200 OK', TEXT), server: { environ: { PATH_INFO: 'x' } } },
  { rule: 'environ.content-length', name: "CONTENT_LENGTH '12a'", app: respond('200 OK', TEXT), server: { environ: { CONTENT_LENGTH: '12a' } } },
  { rule: 'environ.content-empty', name: 'CONTENT_TYPE "" (nginx)', app: respond('200 OK', TEXT), server: { environ: { CONTENT_TYPE: '' } } },
  { rule: 'environ.content-empty', name: 'CONTENT_LENGTH "" (nginx)', app: respond('200 OK', TEXT), server: { environ: { CONTENT_LENGTH: '' } } },
  { rule: 'environ.http-content', name: 'HTTP_CONTENT_LENGTH present', app: respond('200 OK', TEXT), server: { environ: { HTTP_CONTENT_LENGTH: '3' } } },
  { rule: 'environ.version', name: 'tsgi.version [1, 1]', app: respond('200 OK', TEXT), server: { environ: { 'tsgi.version': [1, 1] } } },
  { rule: 'environ.url-scheme', name: "tsgi.url_scheme 'HTTPS'", app: respond('200 OK', TEXT), server: { environ: { 'tsgi.url_scheme': 'HTTPS' } } },
  { rule: 'environ.input', name: 'tsgi.input without readAll', app: respond('200 OK', TEXT), server: { environ: { 'tsgi.input': { read: async () => null } } } },
  { rule: 'environ.errors', name: 'tsgi.errors is console-like without write', app: respond('200 OK', TEXT), server: { environ: { 'tsgi.errors': { log() {} } } } },
  { rule: 'environ.flags', name: "tsgi.run_once 'yes'", app: respond('200 OK', TEXT), server: { environ: { 'tsgi.run_once': 'yes' } } },
  { rule: 'environ.signal', name: 'tsgi.signal is an AbortController', app: respond('200 OK', TEXT), server: { environ: { 'tsgi.signal': new AbortController() } } },
  // Server side: closing the app
  { rule: 'server.app-close-twice', name: "the app's close() called twice", app: respond('200 OK', TEXT), server: { closeApp: 2 } },
  // Server side: iterating and closing
  { rule: 'server.iterate-twice', name: 'the server iterates twice', app: respond('200 OK', TEXT), server: { iterateTwice: true } },
  {
    rule: 'server.close-twice',
    name: 'close() called twice',
    app: (_e, startResponse) => (startResponse('200 OK', TEXT), closable(['ok'])),
    server: { close: 'twice' },
  },
  {
    rule: 'server.close-twice',
    name: 'return() called twice on a body without close()',
    app: async function* (_e, startResponse) {
      startResponse('200 OK', TEXT);
      yield 'a';
      yield 'b';
    },
    server: { manual: true, abortAfter: 1, close: 'twice' },
  },
  {
    rule: 'server.close-missing',
    name: 'close() never called after a complete iteration',
    app: (_e, startResponse) => (startResponse('200 OK', TEXT), closable(['ok'])),
    server: { close: 'never' },
  },
  {
    rule: 'server.close-missing',
    name: 'return() never called after the client went away',
    app: async function* (_e, startResponse) {
      startResponse('200 OK', TEXT);
      yield 'a';
      yield 'b';
    },
    server: { manual: true, abortAfter: 1 },
  },
  // App side: what it returns
  { rule: 'app.return-type', name: 'returns a string', app: (_e, sr) => (sr('200 OK', TEXT), 'hello' as unknown as Body) },
  { rule: 'app.return-type', name: 'returns a Buffer', app: (_e, sr) => (sr('200 OK', TEXT), Buffer.from('hi') as unknown as Body) },
  { rule: 'app.return-type', name: 'resolves to undefined', app: async (_e, sr) => (sr('204 No Content', []), undefined as unknown as Body) },
  {
    rule: 'app.return-type',
    name: 'returns a fetch Response',
    app: (_e, sr) => (sr('200 OK', TEXT), new Response('hi') as unknown as Body),
  },
  // App side: startResponse
  { rule: 'start.status', name: 'no space', app: respond('200OK', TEXT) },
  { rule: 'start.status', name: 'code below 100', app: respond('99 Low', TEXT) },
  { rule: 'start.status', name: 'code above 599', app: respond('600 High', TEXT) },
  { rule: 'start.status', name: 'CRLF in the reason', app: respond('200 OK\r\nX: y', TEXT) },
  { rule: 'start.status', name: 'a number', app: respond(200 as unknown as string, TEXT) },
  { rule: 'start.headers', name: 'headers as an object', app: respond('200 OK', { 'Content-Type': 'text/plain' } as unknown as HeaderList) },
  { rule: 'start.headers', name: 'a numeric value', app: respond('200 OK', [['Content-Length', 2 as unknown as string]]) },
  { rule: 'start.header-name', name: 'a space in the name', app: respond('200 OK', [['Content Type', 'text/plain']]) },
  { rule: 'start.header-value', name: 'CRLF in a value', app: respond('200 OK', [['X-A', 'a\r\nSet-Cookie: x=1']]) },
  { rule: 'start.header-value', name: 'a character above U+00FF', app: respond('200 OK', [['X-Price', '5 €']]) },
  { rule: 'start.status-header', name: 'a Status header', app: respond('200 OK', [['Status', '404 Not Found']]) },
  { rule: 'start.hop-by-hop', name: 'Transfer-Encoding', app: respond('200 OK', [['Transfer-Encoding', 'chunked']]) },
  { rule: 'start.hop-by-hop', name: 'connection (lower case)', app: respond('200 OK', [['connection', 'close']]) },
  { rule: 'start.hop-by-hop', name: 'Upgrade outside a 426', app: respond('400 Bad Request', [['Upgrade', 'websocket']]) },
  { rule: 'start.upgrade-missing', name: 'a 426 without Upgrade', app: respond('426 Upgrade Required', [['Content-Type', 'text/plain']]) },
  { rule: 'start.content-length', name: 'not digits', app: respond('200 OK', [['Content-Length', '2 bytes']], ['ok']) },
  {
    rule: 'start.content-length',
    name: 'two different values',
    app: respond('200 OK', [['Content-Length', '2'], ['Content-Length', '3']], ['ok']),
  },
  {
    rule: 'start.already-started',
    name: 'a second call without excInfo',
    app: (_e, sr) => {
      sr('200 OK', TEXT);
      sr('500 Internal Server Error', TEXT);
      return ['x'];
    },
  },
  {
    rule: 'start.already-started',
    name: 'a second call with excInfo null',
    app: (_e, sr) => {
      sr('200 OK', TEXT);
      sr('500 Internal Server Error', TEXT, null);
      return ['x'];
    },
  },
  // App side: write()
  {
    rule: 'write.chunk-type',
    name: 'write(42)',
    app: (_e, sr) => {
      void sr('200 OK', TEXT)(42 as unknown as Chunk);
      return [];
    },
  },
  { rule: 'write.after-end', name: 'a write() kept and called after the request', ...keepsWrite() },
  {
    rule: 'write.chunk-mutated',
    name: 'a buffer reused without awaiting write()',
    app: (_e, sr) => {
      const write = sr('200 OK', TEXT);
      const buf = Buffer.from('abc');
      void write(buf);
      buf.fill(0x78);
      return [];
    },
  },
  // App side: the body
  { rule: 'body.chunk-type', name: 'yields a number', app: respond('200 OK', TEXT, [42]) },
  { rule: 'body.chunk-type', name: 'yields an ArrayBuffer', app: respond('200 OK', TEXT, [new ArrayBuffer(2)]) },
  {
    rule: 'body.chunk-mutated',
    name: 'a yielded buffer changed while the server was writing it',
    app: async function* (_e, sr) {
      sr('200 OK', TEXT);
      const buf = Buffer.from('abc');
      setImmediate(() => buf.fill(0x78)); // after the server took it, before it pulls again
      yield buf;
      yield 'end';
    },
  },
  { rule: 'body.start-response-missing', name: 'yields without startResponse', app: () => ['x'] },
  { rule: 'body.start-response-missing', name: 'ends without startResponse', app: () => [] },
  {
    rule: 'body.start-response-missing',
    name: 'an async generator that forgets startResponse',
    app: async function* () {
      yield 'x';
    },
  },
  { rule: 'body.content-length', name: 'fewer bytes than declared', app: respond('200 OK', [['Content-Length', '10']], ['abc']) },
  { rule: 'body.content-length', name: 'more bytes than declared', app: respond('200 OK', [['Content-Length', '2']], ['abc']) },
  { rule: 'body.content-length', name: 'characters counted instead of bytes', app: respond('200 OK', [['Content-Length', '1']], ['é']) },
  {
    rule: 'body.content-length',
    name: 'write() and body together exceed it',
    app: (_e, sr) => {
      void sr('200 OK', [['Content-Length', '3']])('ab');
      return ['cd'];
    },
  },
];

describe('validator: each rule fires (report mode)', () => {
  it.each(cases)('$rule: $name', async ({ rule, app, server }) => {
    const out = await serve(app, server);
    expect(out.violations.map((v) => v.rule)).toContain(rule);
    const violation = out.violations.find((v) => v.rule === rule)!;
    expect(violation.message).toMatch(/;/); // what is wrong; what to do instead
  });

  it('covers every rule listed in the header of validator.ts', async () => {
    const { readFile } = await import('node:fs/promises');
    const source = await readFile(new URL('../../src/middleware/validator.ts', import.meta.url), 'utf8');
    const header = source.slice(0, source.indexOf('import '));
    const listed = [...header.matchAll(/^ \*   ([a-z]+\.[a-z-]+) /gm)].map((m) => m[1]);
    expect(listed.length).toBeGreaterThan(30);
    expect(new Set(cases.map((c) => c.rule))).toEqual(new Set(listed));
  });
});

const clean: Array<{ name: string; app: App; server?: Server; expect?: string }> = [
  { name: 'a sync array', app: respond('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '6']], ['hello\n']), expect: 'hello\n' },
  { name: 'Upgrade in a 426 (RFC 9110 §15.5.22)', app: respond('426 Upgrade Required', [['Upgrade', 'websocket'], ['Content-Length', '3']], ['ws\n']), expect: 'ws\n' },
  {
    name: 'a streaming async generator',
    app: async function* (environ, startResponse) {
      startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
      for (const word of ['héllo', ' ', 'world']) yield new TextEncoder().encode(word);
      yield '';
      yield `${environ.PATH_INFO}\n`;
    },
    expect: 'héllo world/\n',
  },
  {
    name: 'write()-based, awaiting each write',
    app: async (_e, startResponse) => {
      const write = startResponse('200 OK', [['Content-Length', '5']]);
      const buf = Buffer.from('ab');
      await write(buf);
      buf.write('cd'); // allowed: the write promise resolved
      await write(buf);
      return ['!'];
    },
    expect: 'abcd!',
  },
  {
    name: 'an error handler replacing headers with excInfo',
    app: (_e, startResponse) => {
      startResponse('200 OK', [['Content-Length', '100']]);
      try {
        throw new Error('database down');
      } catch (error) {
        startResponse('500 Internal Server Error', TEXT, error);
        return ['sorry\n'];
      }
    },
    expect: 'sorry\n',
  },
  { name: 'HEAD with a Content-Length and no body', app: respond('200 OK', [['Content-Length', '42']], []), server: { environ: { REQUEST_METHOD: 'HEAD' } } },
  { name: '304 with a Content-Length and no body', app: respond('304 Not Modified', [['Content-Length', '42']], []) },
  { name: 'an empty reason phrase and a Latin-1 header value', app: respond('200 ', [['X-Name', 'Zoë\tx']]) },
  { name: 'a reason phrase with Latin-1 and a tab', app: respond('200 Très\tbien', TEXT) },
  {
    name: 'an empty chunk before startResponse',
    app: function* (_e, sr) {
      yield '';
      sr('200 OK', TEXT);
      yield 'late start';
    },
    expect: 'late start',
  },
  {
    name: 'a second startResponse with excInfo before anything was sent',
    app: (_e, sr) => {
      sr('200 OK', TEXT);
      sr('503 Service Unavailable', [['Retry-After', '5']], new Error('overloaded'));
      return ['busy\n'];
    },
    expect: 'busy\n',
  },
  { name: 'a body with close()', app: (_e, sr) => (sr('200 OK', TEXT), closable(['a', 'b'])), expect: 'ab' },
  {
    name: 'the client goes away mid-stream and the server returns the generator',
    app: async function* (_e, sr) {
      sr('200 OK', TEXT);
      for (let i = 0; ; i++) yield `${i}\n`;
    },
    server: { abortAfter: 3 },
    expect: '0\n1\n2\n',
  },
  {
    name: 'a generator reusing its buffer between pulls',
    app: function* (_e, sr) {
      sr('200 OK', TEXT);
      const buf = Buffer.alloc(1);
      for (const c of 'xyz') {
        buf.write(c);
        yield buf;
      }
    },
    expect: 'xyz',
  },
  { name: 'a fixed SCRIPT_NAME mount with an empty PATH_INFO', app: respond('200 OK', TEXT), server: { environ: { SCRIPT_NAME: '/app', PATH_INFO: '', CONTENT_LENGTH: '0' } } },
];

describe('validator: clean apps and servers produce no violation', () => {
  it.each(clean)('$name', async ({ app, server, expect: body }) => {
    for (const mode of ['report', 'throw'] as const) {
      const out = await serve(app, server, mode);
      expect(out.violations).toEqual([]);
      expect(out.error).toBeUndefined();
      expect(out.log).toEqual([]);
      if (body !== undefined) expect(out.body).toBe(body);
    }
  });
});

describe('validator: throw mode', () => {
  it('throws ValidationError (a TsgiError with code TSGI_VALIDATION and the rule) from the app call for a bad environ', async () => {
    const out = await serve(respond('200 OK', TEXT), { environ: { SCRIPT_NAME: '/' } }, 'throw');
    expect(out.error).toBeInstanceOf(ValidationError);
    expect(out.error).toBeInstanceOf(TsgiError);
    expect(out.error).toMatchObject({
      code: 'TSGI_VALIDATION',
      rule: 'environ.script-name-slash',
      message: "tsgi: SCRIPT_NAME cannot be '/'; use '' and put '/' in PATH_INFO [environ.script-name-slash]",
    });
  });

  it('throws from startResponse itself, so the app may see it and the server gets it', () => {
    const app = validator((_e, sr) => {
      expect(() => sr('200 OK', [['Transfer-Encoding', 'chunked']])).toThrow(/hop-by-hop/);
      return [];
    });
    const started: string[] = [];
    const environ = makeEnviron({}, new AbortController(), []);
    app(environ, (status) => (started.push(status), async () => {}));
    expect(started).toEqual([]); // the bad call never reached the server
  });

  it('throws from the body and closes the inner generator itself', async () => {
    const cleanedUp: string[] = [];
    const out = await serve(
      function* (_e, sr) {
        sr('200 OK', TEXT);
        try {
          yield 'a';
          yield 42 as unknown as string;
          yield 'never';
        } finally {
          cleanedUp.push('finally');
        }
      },
      {},
      'throw',
    );
    expect(out.error).toMatchObject({ rule: 'body.chunk-type' });
    expect(out.body).toBe('a');
    expect(cleanedUp).toEqual(['finally']);
  });

  it('reports Content-Length overflow before the extra bytes reach the server', async () => {
    const out = await serve(respond('200 OK', [['Content-Length', '2']], ['ab', 'c']), {}, 'throw');
    expect(out.error).toMatchObject({ rule: 'body.content-length' });
    expect(out.body).toBe('ab');
  });

  it('rejects an awaited write() whose buffer changed, without an unhandled rejection when not awaited', async () => {
    const out = await serve(
      async (_e, sr) => {
        const write = sr('200 OK', TEXT);
        const buf = Buffer.from('abc');
        const pending = write(buf);
        buf.fill(0);
        await pending;
        return [];
      },
      {},
      'throw',
    );
    expect(out.error).toMatchObject({ rule: 'write.chunk-mutated' });
  });

  it('throws close-twice from close(), where the server logs it', async () => {
    const out = await serve((_e, sr) => (sr('200 OK', TEXT), closable(['ok'])), { close: 'twice' }, 'throw');
    expect(out.log).toEqual([expect.stringMatching(/^close: tsgi: the server called the body's close\(\) twice/)]);
  });

  it("keeps the wrapped app's close(), also one given after wrapping, and throws app-close-twice from a second call", async () => {
    const calls: string[] = [];
    const inner: App = (environ, startResponse) => respond('200 OK', TEXT)(environ, startResponse);
    const checked = validator(inner);
    inner.close = async () => void calls.push('inner closed');
    await checked.close?.();
    expect(calls).toEqual(['inner closed']);
    await expect(checked.close?.()).rejects.toMatchObject({ code: 'TSGI_VALIDATION', rule: 'server.app-close-twice' });
    await expect(validator(respond('200 OK', TEXT)).close?.()).resolves.toBeUndefined(); // nothing to close
  });

  it("reports a second close() with onViolation and does not pass it on: the app is closed once", async () => {
    let inner = 0;
    const app: App = (environ, startResponse) => respond('200 OK', TEXT)(environ, startResponse);
    app.close = async () => void inner++;
    const rules: string[] = [];
    const checked = validator(app, { onViolation: (v) => void rules.push(v.rule) });
    await checked.close?.();
    await checked.close?.();
    expect([inner, rules]).toEqual([1, ['server.app-close-twice']]);
  });

  it('writes close-missing to tsgi.errors, since there is no one left to throw to', async () => {
    const out = await serve((_e, sr) => (sr('200 OK', TEXT), closable(['ok'])), { close: 'never' }, 'throw');
    expect(out.error).toBeUndefined();
    expect(out.log).toEqual([expect.stringMatching(/never called its close\(\).*\[server\.close-missing\]\n$/)]);
  });

  it('passes the server excInfo rethrow through once headers are sent', async () => {
    const boom = new Error('late failure');
    const out = await serve(
      async function* (_e, sr) {
        sr('200 OK', TEXT);
        yield 'partial';
        sr('500 Internal Server Error', TEXT, boom);
      },
      {},
      'throw',
    );
    expect(out.error).toBe(boom);
  });

  it('keeps sync bodies sync and async bodies async for the server', async () => {
    const environ = makeEnviron({}, new AbortController(), []);
    const sr: StartResponse = () => async () => {};
    const syncBody = (await validator(respond('200 OK', TEXT))(environ, sr)) as object;
    expect(Symbol.iterator in syncBody && !(Symbol.asyncIterator in syncBody)).toBe(true);
    const asyncBody = (await validator(async function* (_e, s) {
      s('200 OK', TEXT);
    })(environ, sr)) as object;
    expect(Symbol.asyncIterator in asyncBody).toBe(true);
    expect('close' in syncBody).toBe(false);
  });
});
