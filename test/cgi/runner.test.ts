// Tests the CGI runner over in-memory stdin/stdout streams (RFC 3875 §4, §6).

import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCgi } from '../../src/cgi/runner.js';
import type { App } from '../../src/core/types.js';

const CGI_ENV = {
  GATEWAY_INTERFACE: 'CGI/1.1',
  REQUEST_METHOD: 'GET',
  SCRIPT_NAME: '/cgi-bin/app.mjs',
  PATH_INFO: '/hello',
  QUERY_STRING: 'a=1',
  SERVER_NAME: 'localhost',
  SERVER_PORT: '80',
  SERVER_PROTOCOL: 'HTTP/1.1',
};

function run(app: App, env: Record<string, string>, body?: Buffer) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  if (body !== undefined) stdin.end(body);
  const code = runCgi(app, { env, stdin, stdout, stderr });
  return {
    code,
    stdout,
    out: () => Buffer.concat(out).toString('latin1'),
    outBytes: () => Buffer.concat(out),
    err: () => Buffer.concat(err).toString(),
    stdin,
  };
}

describe('runCgi', () => {
  it('builds the environ from the meta-variables and writes Status + headers + body', async () => {
    const r = run((env, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [`${env.PATH_INFO}?${env.QUERY_STRING} ${env['tsgi.run_once']}`];
    }, CGI_ENV);
    expect(await r.code).toBe(0);
    expect(r.out()).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\r\n/hello?a=1 true');
  });

  it('gives the app exactly CONTENT_LENGTH bytes of stdin (RFC 3875 §4.2)', async () => {
    const body = Buffer.from('0123456789-trailing-bytes-the-server-did-not-promise');
    const r = run(
      async (env, start) => {
        const data = await env['tsgi.input'].readAll();
        start('200 OK', []);
        return [data];
      },
      { ...CGI_ENV, REQUEST_METHOD: 'POST', CONTENT_LENGTH: '10' },
      body,
    );
    expect(await r.code).toBe(0);
    expect(r.out().endsWith('\r\n\r\n0123456789')).toBe(true);
  });

  it('is binary-safe on the way in and out', async () => {
    const body = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const r = run(
      async function* (env, start) {
        start('200 OK', [['Content-Type', 'application/octet-stream']]);
        for await (const chunk of env['tsgi.input']) yield chunk;
      },
      { ...CGI_ENV, REQUEST_METHOD: 'POST', CONTENT_LENGTH: '256' },
      body,
    );
    expect(await r.code).toBe(0);
    const all = r.outBytes();
    expect(all.subarray(all.indexOf('\r\n\r\n') + 4).equals(body)).toBe(true);
  });

  it('streams: the first chunk reaches stdout before the app finishes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const r = run(async function* (_env, start) {
      start('200 OK', []);
      yield 'first;';
      await gate;
      yield 'second';
    }, CGI_ENV);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(r.out()).toBe('Status: 200 OK\r\n\r\nfirst;');
    release();
    expect(await r.code).toBe(0);
    expect(r.out()).toBe('Status: 200 OK\r\n\r\nfirst;second');
  });

  it('answers 500 with a generic body, logs to stderr and exits 1 when the app throws', async () => {
    const r = run(() => {
      throw new Error('secret-internal-detail');
    }, CGI_ENV);
    expect(await r.code).toBe(1);
    expect(r.out()).toMatch(/^Status: 500 Internal Server Error\r\n/);
    expect(r.out()).not.toContain('secret');
    expect(r.err()).toContain('secret-internal-detail');
  });

  describe('tsgi.signal, made only when the app reads it', () => {
    /**
     * Runs an app that reads tsgi.signal when `when` says (before its first chunk, or after stdout
     * failed under it: EPIPE, the client gone), and returns the signal as the app saw it then.
     */
    async function signalWhenClientGone(when: 'before' | 'after'): Promise<{ code: number; aborted: boolean; reason: unknown }> {
      let signal: AbortSignal | undefined;
      let aborted = false;
      let resume!: () => void;
      const app: App = async function* (env, start) {
        if (when === 'before') signal = env['tsgi.signal'];
        start('200 OK', [['Content-Type', 'text/plain']]);
        yield 'first';
        await new Promise<void>((resolve) => (resume = resolve));
        signal ??= env['tsgi.signal'];
        aborted = signal.aborted;
        yield 'second';
      };
      const r = run(app, CGI_ENV);
      await vi.waitFor(() => expect(r.out()).toContain('first'));
      r.stdout.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      await new Promise((resolve) => setImmediate(resolve)); // 'error' is emitted on the next tick
      resume();
      const code = await r.code;
      return { code, aborted: aborted && signal!.aborted, reason: signal!.reason };
    }

    it('aborts a signal taken before the front server closed stdout, and exits 1', async () => {
      const seen = await signalWhenClientGone('before');
      expect(seen).toMatchObject({ code: 1, aborted: true, reason: { code: 'TSGI_REQUEST_ABORTED' } });
    });

    it('is already aborted when first read after stdout failed', async () => {
      const seen = await signalWhenClientGone('after');
      expect(seen).toMatchObject({ code: 1, aborted: true, reason: { code: 'TSGI_REQUEST_ABORTED' } });
    });
  });

  it('answers 400 without calling the app when CONTENT_LENGTH is not a number', async () => {
    let called = false;
    const r = run(() => {
      called = true;
      return [];
    }, { ...CGI_ENV, CONTENT_LENGTH: 'lots' });
    expect(await r.code).toBe(1);
    expect(called).toBe(false);
    expect(r.out()).toMatch(/^Status: 400 Bad Request\r\n/);
  });

  it('reads and drops a body the app did not read before finishing (mod_cgid resets the socket otherwise)', async () => {
    const body = Buffer.alloc(300_000, 7);
    const r = run((_env, start) => {
      start('404 Not Found', []);
      return ['nope'];
    }, { ...CGI_ENV, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.byteLength) });
    // The body arrives after the app answered, as from a slow client: the runner must wait for it.
    let bodySent = false;
    setTimeout(() => {
      r.stdin.end(body);
      bodySent = true;
    }, 20);
    expect(await r.code).toBe(0);
    expect(bodySent).toBe(true);
    expect(r.stdin.readableLength).toBe(0);
    expect(r.out().endsWith('nope')).toBe(true);
  });

  describe('opens process.stdin and process.stderr only when needed (CGI start-up cost)', () => {
    afterEach(() => vi.restoreAllMocks());

    it('leaves both unopened for a request without a body that logs nothing', async () => {
      const stdin = vi.spyOn(process, 'stdin', 'get');
      const stderr = vi.spyOn(process, 'stderr', 'get');
      const stdout = new PassThrough();
      stdout.resume();
      const code = await runCgi((_env, start) => {
        start('200 OK', []);
        return ['ok'];
      }, { env: CGI_ENV, stdout });
      expect(code).toBe(0);
      expect(stdin).not.toHaveBeenCalled();
      expect(stderr).not.toHaveBeenCalled();
    });

    it('opens stderr for a log line, and reads a body from the stdin given without process.stdin', async () => {
      // Without `stdin` the runner reads fd 0 itself (FdBody, test/cgi/body.test.ts), which in a test
      // worker is whatever vitest left there.
      const body = new PassThrough();
      body.end('abc');
      const stdin = vi.spyOn(process, 'stdin', 'get');
      const logged: string[] = [];
      const errors = new PassThrough();
      errors.on('data', (chunk: Buffer) => logged.push(chunk.toString()));
      const stderr = vi.spyOn(process, 'stderr', 'get').mockReturnValue(errors as unknown as typeof process.stderr);
      const stdout = new PassThrough();
      const out: Buffer[] = [];
      stdout.on('data', (chunk: Buffer) => out.push(chunk));
      const code = await runCgi(async (env, start) => {
        const data = await env['tsgi.input'].readAll();
        env['tsgi.errors'].write('read the body\n');
        start('200 OK', []);
        return [data];
      }, { env: { ...CGI_ENV, REQUEST_METHOD: 'POST', CONTENT_LENGTH: '3' }, stdin: body, stdout });
      expect(code).toBe(0);
      expect(stdin).not.toHaveBeenCalled();
      expect(stderr).toHaveBeenCalled();
      expect(Buffer.concat(out).toString().endsWith('\r\n\r\nabc')).toBe(true);
      expect(logged.join('')).toBe('read the body\n');
    });
  });

  it('does not read stdin when there is no CONTENT_LENGTH', async () => {
    const r = run(async (env, start) => {
      start('200 OK', []);
      return [String((await env['tsgi.input'].readAll()).byteLength)];
    }, CGI_ENV);
    expect(await r.code).toBe(0);
    expect(r.out().endsWith('\r\n\r\n0')).toBe(true);
  });

  it('reads all of stdin for a chunked upload, which Apache passes without CONTENT_LENGTH', async () => {
    const body = Buffer.alloc(200_000, 0x62);
    const r = run(
      async (env, start) => {
        const data = await env['tsgi.input'].readAll();
        start('200 OK', []);
        return [`${env.CONTENT_LENGTH ?? 'no length'} ${data.byteLength}`];
      },
      { ...CGI_ENV, REQUEST_METHOD: 'POST', HTTP_TRANSFER_ENCODING: 'chunked' },
      body,
    );
    expect(await r.code).toBe(0);
    expect(r.out().endsWith('\r\n\r\nno length 200000')).toBe(true);
  });
});
