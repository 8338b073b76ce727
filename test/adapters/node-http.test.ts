// Tests fromNodeHttp: node:http listeners run as TSGI apps on real IncomingMessage/ServerResponse objects.

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { environOf, fromNodeHttp, type NodeListener } from '../../src/adapters/node-http.js';
import { nodeListenerOf } from '../../src/adapters/node-target.js';
import { TestClient } from '../../src/testing/client.js';
import { runApp } from '../../src/core/driver.js';
import { buildEnviron } from '../../src/core/environ.js';
import { requestParams, type TestRequest } from '../../src/testing/environ-builder.js';
import { PullInput, binary, drive, environFor, gate } from './helpers.js';

/** Runs one request through `listener` and returns what the listener saw plus the TSGI response. */
async function seeRequest(listener: NodeListener, request: Parameters<typeof environFor>[0], options = {}) {
  let seen: IncomingMessage | undefined;
  const app = fromNodeHttp((req, res) => {
    seen = req;
    return listener(req, res);
  }, options);
  const { environ } = environFor(request);
  const res = await drive(app, environ);
  return { req: seen as IncomingMessage, res };
}

describe('fromNodeHttp: req', () => {
  it('is a real IncomingMessage with method, url, headers, rawHeaders, httpVersion and socket fields', async () => {
    const { req } = await seeRequest((_, res) => res.end(), {
      method: 'PUT',
      url: '/app/a%20b?x=1',
      scriptName: '/app',
      headers: { 'X-Custom': 'v', 'Content-Type': 'text/plain' },
      body: 'hi',
      extra: { REMOTE_ADDR: '10.0.0.7', REMOTE_PORT: '51234', HTTPS: 'on' },
    });
    expect(req).toBeInstanceOf(http.IncomingMessage);
    expect(req.method).toBe('PUT');
    expect(req.url).toBe('/a%20b?x=1');
    expect((req as IncomingMessage & { originalUrl: string }).originalUrl).toBe('/app/a%20b?x=1');
    expect((req as IncomingMessage & { baseUrl: string }).baseUrl).toBe('/app');
    expect(req.headers).toMatchObject({ host: 'localhost', 'x-custom': 'v', 'content-type': 'text/plain', 'content-length': '2' });
    expect(req.rawHeaders.slice(0, 4)).toEqual(['Host', 'localhost', 'X-Custom', 'v']);
    expect(req.httpVersion).toBe('1.1');
    expect(req.socket.remoteAddress).toBe('10.0.0.7');
    expect(req.socket.remotePort).toBe(51234);
    expect((req.socket as unknown as { encrypted?: boolean }).encrypted).toBe(true);
  });

  it('puts SCRIPT_NAME in req.url with includeScriptName, and follows SERVER_PROTOCOL HTTP/1.0', async () => {
    const { req, res } = await seeRequest(
      (_, response) => response.end('old-style'),
      { url: '/app/x', scriptName: '/app', extra: { SERVER_PROTOCOL: 'HTTP/1.0' } },
      { includeScriptName: true },
    );
    expect(req.url).toBe('/app/x');
    expect(req.httpVersion).toBe('1.0');
    expect(res.body.toString()).toBe('old-style'); // HTTP/1.0: a close-delimited body
  });

  it('presents a mounted Express app as Express presents a sub-app: routes below the mount point', async () => {
    const app = express().get('/json', (req, res) => {
      res.json({ url: req.url, originalUrl: req.originalUrl, baseUrl: req.baseUrl, path: req.path });
    });
    const res = await new TestClient(fromNodeHttp(app)).request({ url: '/mnt/json?x=1', scriptName: '/mnt' });
    expect(JSON.parse(res.text())).toEqual({ url: '/json?x=1', originalUrl: '/mnt/json?x=1', baseUrl: '/mnt', path: '/json' });
  });

  it('gives the environ to the listener through environOf(req)', async () => {
    const { req } = await seeRequest((_, res) => res.end(), { url: '/', extra: { REMOTE_USER: 'alice' } });
    expect(environOf(req)?.REMOTE_USER).toBe('alice');
  });

  it('reads the body on demand: at most Node\'s request buffer ahead of the listener', async () => {
    const data = binary(1024 * 1024);
    const input = new PullInput(data, 16384);
    const release = gate();
    let pulledBeforeRead = -1;
    const app = fromNodeHttp(async (req, res) => {
      await release.promise;
      pulledBeforeRead = input.pulled;
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of req) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      res.end(JSON.stringify({ size, sha256: hash.digest('hex') }));
    });
    const { environ } = environFor({ method: 'POST', url: '/', headers: { 'Content-Length': String(data.byteLength) } }, input);
    const run = drive(app, environ);
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    release.open();
    const res = await run;
    expect(pulledBeforeRead).toBeLessThanOrEqual(32 * 1024); // one 16 KiB chunk here: not the 1 MiB
    expect(JSON.parse(res.body.toString())).toEqual({ size: data.byteLength, sha256: createHash('sha256').update(data).digest('hex') });
  });

  it('passes a chunked upload (no CONTENT_LENGTH, Transfer-Encoding sent) through', async () => {
    const app = fromNodeHttp(async (req, res) => {
      let text = '';
      for await (const chunk of req) text += String(chunk);
      res.end(`${req.headers['transfer-encoding']}:${text}`);
    });
    const { environ } = environFor({ method: 'POST', url: '/', headers: { 'Transfer-Encoding': 'chunked' } }, new PullInput(Buffer.from('streamed body'), 4));
    expect((await drive(app, environ)).body.toString()).toBe('chunked:streamed body');
  });

  it('answers 400 when node:http refuses the request (an unknown method), and logs why', async () => {
    const { environ, errors } = environFor({ method: 'FROB', url: '/' });
    const res = await drive(fromNodeHttp((_, r) => r.end('never')), environ);
    expect(res.status).toBe('400 Bad Request');
    expect(errors.join('')).toMatch(/node:http refused the request/);
  });

  it('answers CONNECT 501 with one log line and no stack, calling no listener (RFC 9110 §9.1, §9.3.6)', async () => {
    // An http.Server export with a 'connect' listener: a tunnel still cannot pass through TSGI.
    const called: string[] = [];
    const server = http.createServer((_, res) => {
      called.push('request');
      res.end('never');
    });
    server.on('connect', () => called.push('connect'));
    const { environ, errors } = environFor({ method: 'CONNECT', url: '/' });
    const res = await drive(fromNodeHttp(nodeListenerOf(server)!.listener), environ);
    expect(res.status).toBe('501 Not Implemented');
    expect(res.body.toString()).toBe('Not Implemented\n');
    expect(res.outcome).toBe('complete');
    expect(res.log).toEqual([]); // not the driver's "error in app" with a stack trace
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^tsgi: node adapter: CONNECT answered 501 Not Implemented: .*\n$/);
    expect(called).toEqual([]);
  });

  it('serves a request carrying Upgrade as plain HTTP: Upgrade and Connection are not forwarded (RFC 9110 §7.8)', async () => {
    // A front server may pass the client's Upgrade and Connection on as HTTP_* params; node:http,
    // seeing both, would hand the request to 'upgrade' listeners and make no response for it.
    const requests: TestRequest[] = [
      { method: 'GET', url: '/ws', headers: { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13' } },
      { method: 'POST', url: '/ws', headers: { Upgrade: 'h2c', Connection: 'Upgrade, HTTP2-Settings', 'HTTP2-Settings': 'AAMAAABkAAQAAP__' }, body: 'body' },
    ];
    for (const request of requests) {
      const { req, res } = await seeRequest(async (r, response) => {
        let body = '';
        for await (const chunk of r) body += String(chunk);
        response.end(`${r.method} ${body}`);
      }, request);
      expect(res.status).toBe('200 OK');
      expect(res.body.toString()).toBe(`${request.method} ${request.body ?? ''}`);
      expect(req.headers.upgrade).toBeUndefined();
      expect(req.headers.connection).toBeUndefined();
      expect(req.headers['http2-settings']).toBeUndefined();
    }
  });
});

describe('fromNodeHttp: res', () => {
  it('supports the writeHead overloads, statusMessage and the header methods', async () => {
    const cases: Array<[string, (res: ServerResponse) => void, string, Array<[string, string]>]> = [
      ['writeHead(status)', (res) => res.writeHead(204).end(), '204 No Content', []],
      ['writeHead(status, reason, object)', (res) => res.writeHead(202, 'Queued', { 'X-A': '1' }).end(), '202 Queued', [['X-A', '1']]],
      ['writeHead(status, flat array)', (res) => res.writeHead(200, ['X-B', '1', 'X-B', '2']).end(), '200 OK', [['X-B', '1'], ['X-B', '2']]],
      [
        'setHeader/removeHeader/hasHeader/getHeaderNames',
        (res) => {
          res.statusCode = 418;
          res.statusMessage = 'Teapot';
          res.setHeader('X-Keep', ['a', 'b']);
          res.setHeader('X-Drop', '1');
          res.removeHeader('x-drop');
          res.setHeader('X-Seen', `${res.hasHeader('x-keep')}:${res.getHeaderNames().join(',')}:${res.getHeader('x-keep')}`);
          res.end();
        },
        '418 Teapot',
        [['X-Keep', 'a'], ['X-Keep', 'b'], ['X-Seen', 'true:x-keep:a,b'], ['Content-Length', '0']],
      ],
    ];
    for (const [, listener, status, headers] of cases) {
      const res = await drive(fromNodeHttp((_, r) => listener(r)), environFor({ url: '/' }).environ);
      expect(res.status).toBe(status);
      expect(res.headers.filter(([n]) => n !== 'Content-Length' || headers.some(([h]) => h === n))).toEqual(headers);
    }
  });

  it('sends every Set-Cookie separately and drops the connection fields Node adds', async () => {
    const app = fromNodeHttp((_, res) => {
      res.setHeader('Set-Cookie', ['a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT', 'b=2']);
      res.setHeader('Connection', 'close');
      res.end('x');
    });
    const res = await new TestClient(app).get('/');
    expect(res.headers).toEqual([
      ['Set-Cookie', 'a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT'],
      ['Set-Cookie', 'b=2'],
      ['Content-Length', '1'],
    ]);
    expect(res.text()).toBe('x');
  });

  it('keeps Upgrade on a 426 Upgrade Required (RFC 9110 §15.5.22), and drops it elsewhere', async () => {
    // As an Express route may answer a plain GET to a WebSocket endpoint.
    const app = express().get('/ws', (_req, res) => {
      res.status(426).set({ Upgrade: 'websocket', Connection: 'Upgrade' }).type('text').send('WebSocket only\n');
    });
    const res = await new TestClient(fromNodeHttp(app)).get('/ws');
    expect(res.statusLine).toBe('426 Upgrade Required');
    expect(res.header('upgrade')).toBe('websocket');
    expect(res.header('connection')).toBeUndefined();
    expect(res.text()).toBe('WebSocket only\n');
    // Raw bytes (the fallback parser's path) get the same treatment.
    const raw = await new TestClient(fromNodeHttp((req) => {
      req.socket.write('HTTP/1.1 426 Upgrade Required\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n');
    })).get('/');
    expect(raw.status).toBe(426);
    expect(raw.header('upgrade')).toBe('h2c');
    // In any other response Upgrade advertises protocols for the front server's connection: dropped,
    // not a 500.
    const advertised = await new TestClient(fromNodeHttp((_, r) => {
      r.setHeader('Upgrade', 'h2c');
      r.end('ok');
    })).get('/');
    expect(advertised.status).toBe(200);
    expect(advertised.header('upgrade')).toBeUndefined();
    expect(advertised.text()).toBe('ok');
  });

  it('streams each res.write() as it happens; flushHeaders() passes the head on at once', async () => {
    const headSeen = gate();
    const firstSeen = gate();
    const inner = fromNodeHttp(async (_, res) => {
      res.setHeader('Content-Type', 'text/event-stream');
      res.flushHeaders();
      await headSeen.promise; // opened by startResponse being called: nothing waited for a write
      res.write('data: 1\n\n');
      await firstSeen.promise; // opened by the server receiving the first event: nothing waited for end()
      res.write('data: 2\n\n');
      res.end();
    });
    // The driver itself sends the head with the first byte (docs/spec.md "Headers go out lazily").
    const app: typeof inner = (environ, startResponse) =>
      inner(environ, (status, headers, excInfo) => {
        headSeen.open();
        return startResponse(status, headers, excInfo);
      });
    const res = await drive(app, environFor({ url: '/' }).environ, {
      onWrite: (chunk) => chunk.toString() === 'data: 1\n\n' && firstSeen.open(),
    });
    expect(res.chunks.map(String)).toEqual(['data: 1\n\n', 'data: 2\n\n']);
    expect(res.events).toEqual(['start', 'write', 'write', 'end']);
  });

  it('returns false from write() when the server is behind, then emits drain', async () => {
    const behind = gate();
    const events: string[] = [];
    const app = fromNodeHttp((_, res) => {
      res.on('drain', () => {
        events.push('drain');
        res.end();
      });
      events.push(`write ${res.write(Buffer.alloc(64 * 1024))}`);
    });
    const res = await drive(app, environFor({ url: '/' }).environ, {
      writeReturns: () => false, // the transport is slow: the driver waits before pulling again
      drain: async () => {
        events.push('transport drained');
        behind.open();
      },
    });
    expect(events).toEqual(['write false', 'transport drained', 'drain']);
    expect(res.body.byteLength).toBe(64 * 1024);
  });

  it('emits finish then close after a complete response', async () => {
    const events: string[] = [];
    const closed = gate();
    const app = fromNodeHttp((_, res) => {
      res.on('finish', () => events.push('finish'));
      res.on('close', () => {
        events.push(`close writableFinished=${res.writableFinished}`);
        closed.open();
      });
      res.end('done', () => events.push('end callback'));
    });
    await drive(app, environFor({ url: '/' }).environ);
    await closed.promise;
    expect(events).toEqual(['finish', 'end callback', 'close writableFinished=true']);
  });

  it('emits close without finish, and aborts req, when the client goes away (tsgi.signal)', async () => {
    const closed = gate();
    const events: string[] = [];
    const app = fromNodeHttp((req, res) => {
      req.on('aborted', () => events.push('req aborted'));
      res.on('finish', () => events.push('finish'));
      res.on('close', () => {
        events.push(`close writableEnded=${res.writableEnded}`);
        closed.open();
      });
      res.write('partial');
    });
    const { environ, abort } = environFor({ url: '/' });
    const res = await drive(app, environ, { onWrite: () => abort() });
    await closed.promise;
    expect(res.outcome).toBe('aborted');
    expect(events).toContain('close writableEnded=false');
    expect(events).toEqual(['req aborted', 'close writableEnded=false']);
  });

  it('emits close when the client goes away before the listener answered', async () => {
    const waiting = gate();
    const closed = gate();
    const app = fromNodeHttp((_, res) => {
      res.on('close', () => closed.open());
      waiting.open(); // and never answer
    });
    const { environ, abort } = environFor({ url: '/' });
    const run = drive(app, environ);
    await waiting.promise;
    abort();
    await closed.promise;
    expect((await run).outcome).toBe('aborted');
  });

  it('keeps binary bodies intact both ways', async () => {
    const data = binary(700_000);
    const app = fromNodeHttp(async (req, res) => {
      const parts: Buffer[] = [];
      for await (const chunk of req) parts.push(chunk as Buffer);
      res.setHeader('Content-Type', 'application/octet-stream');
      res.end(Buffer.concat(parts));
    });
    const res = await new TestClient(app).post('/', data);
    expect(res.body.equals(data)).toBe(true);
  });

  it('answers HEAD with the GET headers and no body', async () => {
    const app = fromNodeHttp((_, res) => {
      res.setHeader('Content-Length', '11');
      res.end('hello world');
    });
    const res = await new TestClient(app).request({ method: 'HEAD', url: '/' });
    expect(res.status).toBe(200);
    expect(res.header('content-length')).toBe('11');
    expect(res.body.byteLength).toBe(0);
  });

  it('turns a throw or rejection before the head into a 500, and one after into a cut-off', async () => {
    const sync = await new TestClient(fromNodeHttp(() => {
      throw new Error('secret');
    })).get('/');
    expect(sync.status).toBe(500);
    expect(sync.text()).not.toContain('secret');
    const rejected = await new TestClient(fromNodeHttp(async () => {
      throw new Error('secret');
    })).get('/');
    expect(rejected.status).toBe(500);
    const after = await new TestClient(fromNodeHttp(async (_, res) => {
      res.write('partial');
      await new Promise((resolve) => setImmediate(resolve));
      throw new Error('midway');
    })).get('/');
    expect(after.status).toBe(200);
    expect(after.cutOff).toBe(true);
  });

  it('cuts off, and says why, a response Express abandons after its head (finalhandler destroys the socket)', async () => {
    const app = express().get('/', async (_req, res) => {
      res.write('partial');
      await new Promise((resolve) => setImmediate(resolve));
      throw new Error('midway');
    });
    app.set('env', 'test'); // finalhandler then keeps the stack off the console
    const res = await new TestClient(fromNodeHttp(app)).get('/');
    expect(res.cutOff).toBe(true);
    expect(res.text()).toBe('partial');
    // No Content-Length was declared: the log must not send the reader looking for one.
    expect(res.log.join('')).toMatch(/TSGI_NODE_TRUNCATED|connection was closed before the response was complete/);
    expect(res.log.join('')).not.toMatch(/Content-Length/);
  });

  it('reports a listener that closes the connection without a response', async () => {
    const res = await new TestClient(fromNodeHttp((req) => req.socket.destroy())).get('/');
    expect(res.status).toBe(500);
    expect(res.log.join('')).toMatch(/connection ended before a response head|connection closed/);
  });
});

describe('fromNodeHttp: the response takes the short way back', () => {
  /** Records what ServerResponse writes to the connection, on this instance only. */
  function recordWrites(res: ServerResponse): Buffer[] {
    const writes: Buffer[] = [];
    const socket = res.socket as unknown as { write: (chunk: unknown, ...rest: unknown[]) => boolean };
    const write = socket.write;
    socket.write = function (this: unknown, chunk: unknown, ...rest: unknown[]) {
      if ((chunk as Buffer).length > 0) writes.push(Buffer.from(chunk as string));
      return write.call(this, chunk, ...rest);
    };
    return writes;
  }

  it('takes status and fields from the ServerResponse: only unframed body bytes reach the connection', async () => {
    let writes: Buffer[] = [];
    const app = fromNodeHttp((_, res) => {
      writes = recordWrites(res);
      res.statusMessage = 'Fine';
      res.setHeader('X-A', '1');
      res.write('hello '); // no Content-Length: Node would chunk-encode this on a real socket
      res.end('world');
    });
    const res = await drive(app, environFor({ url: '/' }).environ);
    expect(res.status).toBe('200 Fine');
    expect(res.headers).toEqual([['X-A', '1']]); // Transfer-Encoding and Connection never get this far
    expect(res.body.toString()).toBe('hello world');
    expect(Buffer.concat(writes).toString()).toBe('hello world'); // no head, no chunk sizes
  });

  it('keeps a body to its Content-Length, and cuts off a response that ends short of it instead of hanging', async () => {
    const long = await new TestClient(fromNodeHttp((_, res) => {
      res.writeHead(200, { 'Content-Length': '3' });
      res.end('hello');
    })).get('/');
    expect(long.text()).toBe('hel');
    expect(long.cutOff).toBe(false);
    const short = new TestClient(fromNodeHttp((_, res) => {
      res.writeHead(200, { 'Content-Length': '10' });
      res.end('hello');
    })).get('/');
    const outcome = await Promise.race([short, new Promise((resolve) => setTimeout(() => resolve('hung'), 2000))]);
    expect(outcome).not.toBe('hung');
    expect((outcome as Awaited<typeof short>).cutOff).toBe(true);
  });

  it('still reads raw bytes: interim responses are skipped, a listener writing HTTP itself is understood', async () => {
    const hinted = await new TestClient(fromNodeHttp((_, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload' });
      res.end('after hints');
    })).get('/');
    expect(hinted.status).toBe(200);
    expect(hinted.text()).toBe('after hints');
    const raw = await new TestClient(fromNodeHttp((req) => {
      req.socket.write('HTTP/1.1 203 Raw\r\nContent-Length: 3\r\nX-Raw: y\r\n\r\nabc');
    })).get('/');
    expect(raw.statusLine).toBe('203 Raw');
    expect(raw.header('x-raw')).toBe('y');
    expect(raw.text()).toBe('abc');
  });

  it('does not make tsgi.signal for a listener that answers at once, and follows it otherwise', async () => {
    let made = 0;
    const controller = new AbortController();
    const lazyEnviron = () =>
      buildEnviron(requestParams({ url: '/' }), {
        input: () => new PullInput(new Uint8Array(0)),
        errors: { write: () => {} },
        signal: () => {
          made++;
          return controller.signal;
        },
        multithread: true,
        multiprocess: false,
        runOnce: false,
      });
    // As the FastCGI daemon runs it: the driver asks the transport, not the signal, whether the client left.
    const run = async (app: ReturnType<typeof fromNodeHttp>) => {
      const chunks: Buffer[] = [];
      const sink = { start() {}, write: (chunk: Uint8Array) => chunks.push(Buffer.from(chunk)) > 0, drain: async () => {}, end() {}, abort() {} };
      expect(await runApp(app, lazyEnviron(), sink, { log: () => {}, isAborted: () => false })).toBe('complete');
      return Buffer.concat(chunks).toString();
    };
    expect(await run(fromNodeHttp((_, res) => res.end('now')))).toBe('now');
    expect(made).toBe(0);
    expect(await run(fromNodeHttp((_, res) => void setImmediate(() => res.end('later'))))).toBe('later');
    expect(made).toBe(1);
  });
});

describe('fromNodeHttp: connections are reused like keep-alive connections', () => {
  const from = (port: string, extra: Record<string, string> = {}) =>
    environFor({ url: '/', extra: { REMOTE_PORT: port, ...extra } }).environ;

  it('serves the next request of the same client connection on the same socket, others on their own', async () => {
    const seen: IncomingMessage[] = [];
    const app = fromNodeHttp((req, res) => {
      seen.push(req);
      res.end(String(seen.length));
    });
    const first = from('50001');
    await drive(app, first);
    await drive(app, from('50001'));
    await drive(app, from('50002'));
    expect(seen[1]?.socket).toBe(seen[0]?.socket);
    expect(seen[2]?.socket).not.toBe(seen[0]?.socket);
    expect(seen[2]?.socket.remotePort).toBe(50002);
    expect(environOf(seen[0] as IncomingMessage)).toBe(first); // not the later request's environ
  });

  it('does not reuse a connection whose request body was left unread, nor an HTTP/1.0 one', async () => {
    const seen: IncomingMessage[] = [];
    const app = fromNodeHttp((req, res) => {
      seen.push(req);
      res.end('ok');
    });
    const post = environFor({ method: 'POST', url: '/', body: binary(100_000), extra: { REMOTE_PORT: '50003' } }).environ;
    await drive(app, post);
    await drive(app, from('50003'));
    expect(seen[1]?.socket).not.toBe(seen[0]?.socket);
    await drive(app, from('50004', { SERVER_PROTOCOL: 'HTTP/1.0' }));
    await drive(app, from('50004'));
    expect(seen[3]?.socket).not.toBe(seen[2]?.socket);
  });

  it('keeps at most 64 idle connections, closing the oldest', async () => {
    const sockets: Array<IncomingMessage['socket']> = [];
    const app = fromNodeHttp((req, res) => {
      sockets.push(req.socket);
      res.end();
    });
    for (let port = 51000; port < 51066; port++) await drive(app, from(String(port)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(sockets.filter((socket) => socket.destroyed)).toEqual(sockets.slice(0, 2));
  });

  it('logs a failure that comes after the response without touching the next request', async () => {
    const release = gate();
    let calls = 0;
    const app = fromNodeHttp(async (_, res) => {
      calls++;
      res.end(`response ${calls}`);
      if (calls === 1) {
        await release.promise;
        throw new Error('late');
      }
    });
    const first = environFor({ url: '/', extra: { REMOTE_PORT: '50005' } });
    await drive(app, first.environ);
    const second = drive(app, from('50005'));
    release.open();
    const res = await second;
    expect(res.body.toString()).toBe('response 2');
    expect(res.outcome).toBe('complete');
    await new Promise((resolve) => setImmediate(resolve));
    expect(first.errors.join('')).toMatch(/failed after its response ended: Error: late/);
  });
});

describe('nodeListenerOf', () => {
  it('takes the request listeners of an http.Server that is not listening', async () => {
    const server = http.createServer((_, res) => res.end('from server'));
    const target = nodeListenerOf(server);
    expect(target?.kind).toBe('http.Server');
    const res = await new TestClient(fromNodeHttp(target!.listener)).get('/');
    expect(res.text()).toBe('from server');
    expect(nodeListenerOf(http.createServer())).toBeUndefined();
  });

  it('recognises functions, and nothing else', () => {
    expect(nodeListenerOf((_: unknown, __: unknown) => {})?.kind).toBe('function');
    expect(nodeListenerOf({})).toBeUndefined();
    expect(nodeListenerOf('x')).toBeUndefined();
  });
});
