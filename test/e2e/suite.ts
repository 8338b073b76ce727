// The checks every front server + transport must pass, registered once per Target (cf. Plack::Test::Suite).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { expect, it } from 'vitest';
import { fetchRaw, open, readBody, readUntil } from './harness/http.js';
import type { Target } from './harness/target.js';

export interface SuiteOptions {
  /**
   * Bytes sent through /echo, where the app answers while the body is still arriving. Less than
   * 10 MiB where the front server cannot do that (docs/front-servers.md "Full-duplex bodies"):
   * Apache writes the whole body to a CGI script before reading its output, and nginx stops sending
   * the body to a FastCGI backend once it has forwarded the response header.
   */
  echoBytes: number;
  /** Shown as a todo when a 10 MiB /echo is not checked: why not, and what would fix it. */
  fullDuplexTodo?: string;
  /** The reason phrase the client receives for the app's "418 Short And Stout". */
  teapotReason: string;
  /**
   * What the client sees when the app throws after sending headers and a first chunk: the partial
   * body, cut off; a cut-off response that may have lost the partial body too (nginx without
   * fastcgi_keep_conn, which tsgi has to reset); or a response that looks complete.
   */
  lateError: 'cut-off' | 'cut-off-maybe-empty' | 'looks-complete';
  /** The front server forwards chunks as the app yields them (nginx `fastcgi_buffering off`). */
  streaming: boolean;
  /** The front server reuses daemon connections (nginx `fastcgi_keep_conn on` + upstream keepalive). */
  keepAlive: boolean;
  /** The front server forwards a chunked request body (no Content-Length) to the app. */
  chunkedUpload: boolean;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const TEN_MIB = 10 * 1024 * 1024;

async function envOf(url: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await fetchRaw(url, { headers });
  expect(res.status, res.body.toString()).toBe(200);
  return JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
}

/** Registers the shared checks; `getTarget` is read when each check runs (after beforeAll). */
export function defineSuite(getTarget: () => Target, options: SuiteOptions): void {
  const t = () => getTarget();

  it('answers GET /hello', async () => {
    const res = await fetchRaw(`${t().root}/hello`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body.toString()).toBe('hello\n');
  });

  it('passes the request meta-variables of a GET with a query string (RFC 3875 §4.1)', async () => {
    const url = new URL(`${t().root}/env?a=1&b=two`);
    const env = await envOf(url.href);
    expect(env).toMatchObject({
      REQUEST_METHOD: 'GET',
      QUERY_STRING: 'a=1&b=two',
      SERVER_PROTOCOL: 'HTTP/1.1',
      SERVER_NAME: t().serverName,
      SERVER_PORT: url.port || '80',
      HTTP_HOST: url.host,
      'tsgi.url_scheme': 'http',
      'tsgi.run_once': t().transport === 'cgi',
    });
    if (t().local) expect(env.REMOTE_ADDR).toBe('127.0.0.1');
    else expect(env.REMOTE_ADDR).toMatch(/^[0-9a-f.:]+$/);
    // RFC 3875 §4.1.2: no body, no CONTENT_LENGTH. nginx sends it empty (the environ drops it);
    // mod_fcgid sends "0", which is a valid length.
    expect(env.CONTENT_LENGTH ?? '0').toBe('0');
  });

  it('hands the Authorization header to the app as HTTP_AUTHORIZATION', async () => {
    const env = await envOf(`${t().root}/env`, { Authorization: 'Basic dXNlcjpwYXNz' });
    expect(env.HTTP_AUTHORIZATION).toBe('Basic dXNlcjpwYXNz');
  });

  it('gives the root mount SCRIPT_NAME and the rest of the path as PATH_INFO (RFC 3875 §4.1.5, §4.1.13)', async () => {
    const env = await envOf(`${t().root}/env/x/y`);
    expect({ SCRIPT_NAME: env.SCRIPT_NAME, PATH_INFO: env.PATH_INFO }).toEqual({
      SCRIPT_NAME: t().rootScriptName,
      PATH_INFO: '/env/x/y',
    });
  });

  it('percent-decodes PATH_INFO (RFC 3875 §4.1.5)', async () => {
    const env = await envOf(`${t().root}/env/a%20b`);
    expect({ SCRIPT_NAME: env.SCRIPT_NAME, PATH_INFO: env.PATH_INFO }).toEqual({
      SCRIPT_NAME: t().rootScriptName,
      PATH_INFO: '/env/a b',
    });
  });

  it('gives a sub-path mount its own SCRIPT_NAME and PATH_INFO', async (context) => {
    const sub = t().sub;
    if (!sub) return context.skip('no sub-path mount for this target');
    const env = await envOf(`${sub.url}/env/x`);
    expect({ SCRIPT_NAME: env.SCRIPT_NAME, PATH_INFO: env.PATH_INFO }).toEqual({
      SCRIPT_NAME: sub.scriptName,
      PATH_INFO: '/env/x',
    });
  });

  it(`echoes a binary POST body byte for byte (${options.echoBytes} random bytes through /echo)`, async () => {
    const body = randomBytes(options.echoBytes);
    const res = await fetchRaw(`${t().root}/echo`, { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(res.status).toBe(200);
    expect(res.complete).toBe(true);
    expect(res.body.length).toBe(body.length);
    expect(sha256(res.body)).toBe(sha256(body));
  });

  if (options.fullDuplexTodo) it.todo(options.fullDuplexTodo);

  it('reads a 10 MiB binary POST body whole (/sha256)', async () => {
    const body = randomBytes(TEN_MIB);
    const res = await fetchRaw(`${t().root}/sha256`, { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(res.status, res.body.toString().slice(0, 500)).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ length: body.length, sha256: sha256(body) });
  });

  it('answers a POST whose 1 MiB body the app never reads, whole (the gateway drains it)', async () => {
    // Under mod_cgid, a script exiting with unread bytes on its socket makes the kernel reset it and
    // Apache lose the response (AH00574); over FastCGI the stream must be consumed for keep-alive.
    const body = randomBytes(1024 * 1024);
    const res = await fetchRaw(`${t().root}/hello`, { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(res.status).toBe(200);
    expect(res.complete).toBe(true);
    expect(res.body.toString()).toBe('hello\n');
  });

  it.runIf(options.chunkedUpload)('reads a chunked request body that has no Content-Length', async () => {
    // Through /echo, whose nginx location streams uploads (fastcgi_request_buffering off): the app
    // gets no CONTENT_LENGTH and reads to the end of the FastCGI stdin stream.
    const body = randomBytes(options.echoBytes - 7);
    const res = await fetchRaw(`${t().root}/echo`, { method: 'POST', body, chunkedPieceBytes: 16 * 1024 });
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(body.length);
    expect(sha256(res.body)).toBe(sha256(body));
  });

  it('sends two Set-Cookie headers as two headers', async () => {
    const res = await fetchRaw(`${t().root}/cookies`);
    expect(res.status).toBe(200);
    expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
  });

  it(`sends the app's status code and reason phrase (418 → "${options.teapotReason}")`, async () => {
    const res = await fetchRaw(`${t().root}/teapot`);
    expect(res.status).toBe(418);
    expect(res.statusMessage).toBe(options.teapotReason);
  });

  it('answers a generic 500 without internals when the app throws before startResponse', async () => {
    const res = await fetchRaw(`${t().root}/error`);
    expect(res.status).toBe(500);
    const text = res.body.toString();
    expect(text).not.toContain('secret-internal-detail');
    // No error class with its message ("Error: ...") and no stack frames ("    at fn (file:1:2)").
    expect(text).not.toMatch(/\bError:/);
    expect(text).not.toMatch(/^\s+at /m);
    // The detail belongs in the server-side log instead (tsgi.errors: stderr or FCGI_STDERR);
    // servers started elsewhere (docker) keep their logs to themselves.
    if (t().local) await expect.poll(() => t().logs(), { timeout: 5_000 }).toContain('secret-internal-detail');
  });

  it(`when the app throws mid-body the client sees: ${options.lateError}`, async () => {
    const res = await fetchRaw(`${t().root}/error-late`);
    expect(res.status).toBe(200);
    if (options.lateError === 'cut-off-maybe-empty') expect('partial\n'.startsWith(res.body.toString())).toBe(true);
    else expect(res.body.toString()).toMatch(/^partial\n/);
    if (options.lateError !== 'looks-complete') {
      // The response must not look finished: no chunked terminator / a reset, so caches and
      // clients cannot take the partial body for the whole one.
      expect(res.complete).toBe(false);
    } else {
      // Recorded server behaviour (docs/front-servers.md): Apache ends a CGI response cleanly
      // whatever the script's exit status, so truncation cannot be signalled under CGI.
      expect(res.complete).toBe(true);
    }
  });

  it.runIf(options.streaming)('streams: the first chunk arrives before the app has finished', async () => {
    const id = randomUUID();
    const res = await open(`${t().root}/stream?id=${id}`);
    expect(res.statusCode).toBe(200);
    // Nothing releases the app until the client has "first\n": no timing assumption involved.
    expect(await readUntil(res, 'first\n')).toBe('first\n');
    const release = await fetchRaw(`${t().root}/release?id=${id}`);
    expect(JSON.parse(release.body.toString())).toEqual({ released: true, wasWaiting: true });
    const rest = await readBody(res);
    expect(rest.body.toString()).toBe('second\n');
    expect(rest.complete).toBe(true);
  });

  it.runIf(options.keepAlive)('reuses one daemon connection for sequential requests (FCGI_KEEP_CONN)', async () => {
    const seen: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 6; i++) seen.push(await envOf(`${t().root}/conn`));
    expect(seen[0]?.connectionId).toBeDefined();
    expect(new Set(seen.map((conn) => conn.connectionId)).size).toBe(1);
    expect(new Set(seen.map((conn) => conn.pid)).size).toBe(1);
    for (const conn of seen) expect(conn.keepConn).toBe(true);
  });

  it('keeps serving other connections while one sends 64 KiB of random bytes to the daemon', async (context) => {
    const daemon = t().daemon;
    if (!daemon) return context.skip('no direct daemon address for this target');
    const garbage = randomBytes(64 * 1024);
    // Byte 0 is the record version (FastCGI spec §3.3); anything but 1 must be refused at once.
    garbage[0] = 0xff;
    const socket = 'path' in daemon ? connect(daemon.path) : connect(daemon.port, daemon.host);
    socket.on('error', () => {}); // the daemon may reset while we are still writing
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(garbage);
    try {
      const res = await fetchRaw(`${t().root}/hello`);
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('hello\n');
      // The protocol error closes that one connection and nothing else (src/core/errors.ts ProtocolError).
      const outcome = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 5_000))]);
      expect(outcome).toBe('closed');
    } finally {
      socket.destroy();
    }
  });
}
