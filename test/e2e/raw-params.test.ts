// Records the raw CGI/FastCGI params nginx, Apache, lighttpd and cgi-fcgi send with the conf/ samples (no tsgi code involved).
//
// The app behind the daemon sees the normalised environ; these checks pin what arrives on the wire,
// which is what src/core/environ.ts has to normalise (docs/front-servers.md has the table).
// TSGI_E2E_PRINT_TABLE=1 prints the observed values as markdown rows.
// lighttpd is pointed at the recorder's socket instead of starting a program ("bin-path" taken out
// of conf/lighttpd/tsgi.conf): the params do not depend on who started the backend.
import { spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApache } from './harness/apache.js';
import { APACHE, CGI_FCGI, LIGHTTPD, NGINX } from './harness/binaries.js';
import { startRecorder, type FcgiRecorder } from './harness/fcgi-recorder.js';
import { fetchRaw, type Response } from './harness/http.js';
import type { FrontServer } from './harness/front-server.js';
import { startLighttpd } from './harness/lighttpd.js';
import { startNginx, WITHOUT_KEEP_CONN } from './harness/nginx.js';
import { freePort } from './harness/ports.js';
import { makePrefix, removePrefix } from './harness/prefix.js';
import { renderSample } from './harness/samples.js';

const AUTH = 'Basic dXNlcjpwYXNz';
const COLUMNS = ['SCRIPT_NAME', 'PATH_INFO', 'SCRIPT_FILENAME', 'REQUEST_URI', 'HTTP_AUTHORIZATION', 'CONTENT_LENGTH'] as const;

type Params = Record<string, string>;

function printRow(server: string, request: string, params: Params): void {
  if (!process.env.TSGI_E2E_PRINT_TABLE) return;
  const cell = (name: string) => (name in params ? `\`${JSON.stringify(params[name])}\`` : 'absent');
  console.log(`| ${server} | \`${request}\` | ${COLUMNS.map(cell).join(' | ')} |`);
}

/** Params of one request through a front server to the recorder; duplicates would fail the test. */
async function viaRecorder(url: string): Promise<Params> {
  const res = await fetchRaw(url, { headers: { Authorization: AUTH, Proxy: 'http://attacker.invalid' } });
  expect(res.status, res.body.toString()).toBe(200);
  const { params } = JSON.parse(res.body.toString()) as { params: Array<[string, string]> };
  const names = params.map(([name]) => name);
  expect(names.filter((name, i) => names.indexOf(name) !== i), 'params sent twice').toEqual([]);
  return Object.fromEntries(params);
}

interface Recorded {
  params: Array<[string, string]>;
  stdinBytes: number;
  keepConn: boolean;
  connection: number;
}

/** A POST through a front server to the recorder, the body sent chunked (no Content-Length). */
async function chunkedViaRecorder(url: string, bytes: number): Promise<{ params: Params; recorded: Recorded }> {
  const res: Response = await fetchRaw(url, { method: 'POST', body: Buffer.alloc(bytes, 0x61), chunkedPieceBytes: 4096 });
  expect(res.status, res.body.toString()).toBe(200);
  const recorded = JSON.parse(res.body.toString()) as Recorded;
  return { params: Object.fromEntries(recorded.params), recorded };
}

/** Sequential GETs through a front server to the recorder: what each BEGIN_REQUEST and connection looked like. */
async function connectionsViaRecorder(recorder: FcgiRecorder, url: string, count = 3): Promise<Array<{ keepConn: boolean; connection: number }>> {
  const before = recorder.requests.length;
  for (let i = 0; i < count; i++) await viaRecorder(url);
  return recorder.requests.slice(before).map(({ keepConn, connection }) => ({ keepConn, connection }));
}

/** A CGI script that prints its environment as KEY=VALUE lines. */
const ENV_SCRIPT = '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\nenv\n';

async function viaCgi(url: string): Promise<Params> {
  const res = await fetchRaw(url, { headers: { Authorization: AUTH, Proxy: 'http://attacker.invalid' } });
  expect(res.status, res.body.toString()).toBe(200);
  const params: Params = {};
  for (const line of res.body.toString().split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) params[line.slice(0, at)] = line.slice(at + 1);
  }
  return params;
}

/**
 * For a describe block: nginx started from conf/nginx/tsgi.conf (plus `replacements`) before the
 * tests, passing to a recorder on loopback TCP; both stopped after. Read `url()`/`recorder()` in tests.
 */
function nginxBeforeRecorder(replacements?: Array<[string, string]>): { url: () => string; recorder: () => FcgiRecorder } {
  let recorder: FcgiRecorder | undefined;
  let nginx: FrontServer | undefined;
  beforeAll(async () => {
    NGINX.require();
    const port = await freePort();
    recorder = await startRecorder({ host: '127.0.0.1', port });
    nginx = await startNginx({ upstream: { host: '127.0.0.1', port }, replacements });
  });
  afterAll(async () => {
    await nginx?.stop();
    await recorder?.close();
  });
  return { url: () => nginx!.url, recorder: () => recorder! };
}

/**
 * For a describe block: lighttpd started from conf/lighttpd/tsgi.conf (plus `replacements`) before
 * the tests, pointed at a recorder on a unix socket instead of starting a program ("bin-path" taken
 * out); both stopped after. Read `url()`/`recorder()` inside tests.
 */
function lighttpdBeforeRecorder(replacements: Array<[string, string]> = []): { url: () => string; recorder: () => FcgiRecorder } {
  let recorder: FcgiRecorder | undefined;
  let lighttpd: FrontServer | undefined;
  let socketDir: string | undefined;
  beforeAll(async () => {
    LIGHTTPD.require();
    socketDir = await makePrefix('sock');
    const socketPath = join(socketDir, 'rec.sock');
    recorder = await startRecorder({ path: socketPath });
    await chmod(socketPath, 0o666);
    lighttpd = await startLighttpd(async () =>
      renderSample('lighttpd/tsgi.conf', [
        ['/run/lighttpd/tsgi.sock', socketPath],
        ['"bin-path"  => "/srv/app/app.mjs",', '# (e2e: no "bin-path": lighttpd connects to the recorder on "socket")'],
        ...replacements,
      ]),
    );
  });
  afterAll(async () => {
    await lighttpd?.stop();
    await recorder?.close();
    await removePrefix(socketDir);
  });
  return { url: () => lighttpd!.url, recorder: () => recorder! };
}

/**
 * For a describe block: Apache started from conf/apache/tsgi-proxy-fcgi.conf (plus `replacements`)
 * before the tests, proxying to a recorder on loopback TCP, or on a unix socket with `unix`; both
 * stopped after. Read `url()`, `recorder()` and `backend()` (host:port; '' for a socket) in tests.
 */
function apacheProxyFcgiBeforeRecorder(
  options: { unix?: boolean; replacements?: Array<[string, string]> } = {},
): { url: () => string; recorder: () => FcgiRecorder; backend: () => string } {
  let recorder: FcgiRecorder | undefined;
  let apache: FrontServer | undefined;
  let socketDir: string | undefined;
  let backend = '';
  beforeAll(async () => {
    APACHE.require();
    let target: string;
    if (options.unix === true) {
      socketDir = await makePrefix('sock');
      const socketPath = join(socketDir, 'rec.sock');
      recorder = await startRecorder({ path: socketPath });
      await chmod(socketPath, 0o666); // Apache's children run as www-data
      target = `unix:${socketPath}|fcgi://localhost/`;
    } else {
      const port = await freePort();
      backend = `127.0.0.1:${port}`;
      recorder = await startRecorder({ host: '127.0.0.1', port });
      target = `fcgi://${backend}/`;
    }
    apache = await startApache(async ({ port: listen }) =>
      renderSample('apache/tsgi-proxy-fcgi.conf', [
        ['<VirtualHost *:80>', `<VirtualHost 127.0.0.1:${listen}>`],
        ['"fcgi://127.0.0.1:9000/"', `"${target}"`],
        ...(options.replacements ?? []),
      ]),
    );
  });
  afterAll(async () => {
    await apache?.stop();
    await recorder?.close();
    await removePrefix(socketDir);
  });
  return { url: () => apache!.url, recorder: () => recorder!, backend: () => backend };
}

describe.skipIf(NGINX.skip)('raw FastCGI params from nginx (conf/nginx/tsgi.conf)', () => {
  const front = nginxBeforeRecorder();

  it('root mount: SCRIPT_NAME "" and the decoded path as PATH_INFO; empty CONTENT_LENGTH on GET', async () => {
    const params = await viaRecorder(`${front.url()}/env/x/y?a=1&b=two`);
    printRow('nginx', '/env/x/y?a=1&b=two', params);
    expect(params).toMatchObject({
      SCRIPT_NAME: '',
      PATH_INFO: '/env/x/y',
      REQUEST_URI: '/env/x/y?a=1&b=two',
      QUERY_STRING: 'a=1&b=two',
      HTTP_AUTHORIZATION: AUTH,
      CONTENT_LENGTH: '',
      CONTENT_TYPE: '',
    });
    expect(params).not.toHaveProperty('SCRIPT_FILENAME');
    // httpoxy: `fastcgi_param HTTP_PROXY ""` suppresses the header (an empty HTTP_* param is not sent).
    expect(params).not.toHaveProperty('HTTP_PROXY');
    // tsgi_fastcgi_params leaves out REMOTE_USER: nginx would fill it from the unchecked Basic header.
    expect(params).not.toHaveProperty('REMOTE_USER');
  });

  it('sub-path mount /app/: fastcgi_split_path_info gives SCRIPT_NAME "/app", PATH_INFO the rest', async () => {
    const params = await viaRecorder(`${front.url()}/app/env/x`);
    printRow('nginx', '/app/env/x', params);
    expect(params).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/env/x', REQUEST_URI: '/app/env/x' });
  });

  // CVE-2019-11043 pattern: without (?s), "." stops at a decoded %0A, so the split either fails
  // (SCRIPT_NAME becomes the whole client-chosen path) or `$` matches before a final newline and
  // PATH_INFO loses it ("/app/admin%0A" would reach the app as "/admin", past any `location =`).
  it('sub-path mount /app/: a decoded %0A stays in PATH_INFO, SCRIPT_NAME stays "/app"', async () => {
    const inside = await viaRecorder(`${front.url()}/app/env%0Ax`);
    expect(inside).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/env\nx' });
    const trailing = await viaRecorder(`${front.url()}/app/admin%0A`);
    expect(trailing).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/admin\n' });
  });

  it('sets FCGI_KEEP_CONN and reuses one connection (fastcgi_keep_conn + upstream keepalive)', async () => {
    const before = front.recorder().requests.length;
    for (let i = 0; i < 3; i++) await viaRecorder(`${front.url()}/hello`);
    const recent = front.recorder().requests.slice(before);
    expect(recent.every((request) => request.keepConn)).toBe(true);
    expect(new Set(recent.map((request) => request.connection)).size).toBe(1);
  });

  it('chunked upload with fastcgi_request_buffering off (/echo): CONTENT_LENGTH "", the body ends with the stdin stream', async () => {
    const { params, recorded } = await chunkedViaRecorder(`${front.url()}/echo`, 100_000);
    printRow('nginx, chunked POST, request buffering off', '/echo', params);
    expect(params).toMatchObject({ CONTENT_LENGTH: '', HTTP_TRANSFER_ENCODING: 'chunked', PATH_INFO: '/echo' });
    expect(recorded.stdinBytes).toBe(100_000);
  });

  it('chunked upload with request buffering on (the default, "/"): nginx spools the body and sends its length', async () => {
    const { params, recorded } = await chunkedViaRecorder(`${front.url()}/upload`, 100_000);
    printRow('nginx, chunked POST, request buffering on', '/upload', params);
    expect(params).toMatchObject({ CONTENT_LENGTH: '100000' });
    // The header the client sent still arrives, though the body is no longer chunked.
    expect(params.HTTP_TRANSFER_ENCODING).toBe('chunked');
    expect(recorded.stdinBytes).toBe(100_000);
  });
});

describe.skipIf(NGINX.skip)('raw FastCGI params from nginx without keep-alive (conf/nginx/tsgi.conf, WITHOUT_KEEP_CONN)', () => {
  const front = nginxBeforeRecorder(WITHOUT_KEEP_CONN);

  it('leaves FCGI_KEEP_CONN unset and connects per request', async () => {
    const seen = await connectionsViaRecorder(front.recorder(), `${front.url()}/hello`);
    expect(seen.every((request) => !request.keepConn)).toBe(true);
    expect(new Set(seen.map((request) => request.connection)).size).toBe(seen.length);
  });
});

describe.skipIf(APACHE.skip)('raw FastCGI params from Apache mod_proxy_fcgi (conf/apache/tsgi-proxy-fcgi.conf)', () => {
  const front = apacheProxyFcgiBeforeRecorder();

  it('root mount: the whole path in SCRIPT_NAME, no PATH_INFO, the path again in SCRIPT_FILENAME', async () => {
    const params = await viaRecorder(`${front.url()}/env/x/y?a=1&b=two`);
    printRow('Apache mod_proxy_fcgi', '/env/x/y?a=1&b=two', params);
    expect(params).toMatchObject({
      SCRIPT_NAME: '/env/x/y',
      SCRIPT_FILENAME: `proxy:fcgi://${front.backend()}/env/x/y`,
      REQUEST_URI: '/env/x/y?a=1&b=two',
      QUERY_STRING: 'a=1&b=two',
      // Only because the sample says CGIPassAuth On; Apache drops the header otherwise.
      HTTP_AUTHORIZATION: AUTH,
    });
    expect(params).not.toHaveProperty('PATH_INFO');
    expect(params).not.toHaveProperty('CONTENT_LENGTH');
    expect(params).not.toHaveProperty('HTTP_PROXY');
  });

  it('sub-path mount /app/: SCRIPT_NAME is still the whole path; SCRIPT_FILENAME has the part below the mount', async () => {
    const params = await viaRecorder(`${front.url()}/app/env/x`);
    printRow('Apache mod_proxy_fcgi', '/app/env/x', params);
    expect(params).toMatchObject({ SCRIPT_NAME: '/app/env/x', SCRIPT_FILENAME: `proxy:fcgi://${front.backend()}/env/x` });
    expect(params).not.toHaveProperty('PATH_INFO');
  });

  it('SCRIPT_NAME is percent-decoded, SCRIPT_FILENAME is not', async () => {
    const params = await viaRecorder(`${front.url()}/app/a%20b`);
    printRow('Apache mod_proxy_fcgi', '/app/a%20b', params);
    expect(params).toMatchObject({ SCRIPT_NAME: '/app/a b', SCRIPT_FILENAME: `proxy:fcgi://${front.backend()}/a%20b` });
  });

  it('enablereuse=on: sets FCGI_KEEP_CONN and reuses the connection', async () => {
    const seen = await connectionsViaRecorder(front.recorder(), `${front.url()}/hello`);
    expect(seen.every((request) => request.keepConn)).toBe(true);
    expect(new Set(seen.map((request) => request.connection)).size).toBe(1);
  });

  it('chunked upload: no CONTENT_LENGTH at all, the body streamed to the end of stdin', async () => {
    const { params, recorded } = await chunkedViaRecorder(`${front.url()}/upload`, 100_000);
    printRow('Apache mod_proxy_fcgi, chunked POST', '/upload', params);
    expect(params).not.toHaveProperty('CONTENT_LENGTH');
    expect(recorded.stdinBytes).toBe(100_000);
  });
});

describe.skipIf(APACHE.skip)('raw FastCGI params from Apache mod_proxy_fcgi without enablereuse', () => {
  const front = apacheProxyFcgiBeforeRecorder({ replacements: [[' enablereuse=on', '']] });

  it('leaves FCGI_KEEP_CONN unset and connects per request', async () => {
    const seen = await connectionsViaRecorder(front.recorder(), `${front.url()}/hello`);
    expect(seen.every((request) => !request.keepConn)).toBe(true);
    expect(new Set(seen.map((request) => request.connection)).size).toBe(seen.length);
  });
});

describe.skipIf(APACHE.skip)('raw FastCGI params from Apache mod_proxy_fcgi over a unix socket', () => {
  const front = apacheProxyFcgiBeforeRecorder({ unix: true });

  it('SCRIPT_FILENAME names the pool ("localhost"), not the socket', async () => {
    const params = await viaRecorder(`${front.url()}/app/env/x`);
    printRow('Apache mod_proxy_fcgi (unix)', '/app/env/x', params);
    expect(params).toMatchObject({ SCRIPT_NAME: '/app/env/x', SCRIPT_FILENAME: 'proxy:fcgi://localhost/env/x' });
  });
});

describe.skipIf(APACHE.skip)('raw CGI meta-variables from Apache (conf/apache/cgi-bin.conf, conf/apache/htaccess)', () => {
  let apache: FrontServer | undefined;

  beforeAll(async () => {
    APACHE.require();
    apache = await startApache(async ({ prefix, htdocs }) => {
      const cgiBin = join(prefix, 'cgi-bin');
      const site = join(htdocs, 'site');
      await mkdir(cgiBin, { recursive: true });
      await mkdir(site, { recursive: true });
      await writeFile(join(cgiBin, 'env.cgi'), ENV_SCRIPT);
      // A shell script named like the app: the .htaccess sample routes everything to app.mjs.
      await writeFile(join(site, 'app.mjs'), ENV_SCRIPT);
      await chmod(join(cgiBin, 'env.cgi'), 0o755);
      await chmod(join(site, 'app.mjs'), 0o755);
      await writeFile(
        join(site, '.htaccess'),
        await renderSample('apache/htaccess', [['/srv/app/node_modules/.bin', join(prefix, 'bin')]]),
      );
      return renderSample('apache/cgi-bin.conf', [
        ['/usr/lib/cgi-bin', cgiBin],
        ['SetEnv PATH /usr/local/bin:', `SetEnv PATH ${join(prefix, 'bin')}:/usr/local/bin:`],
      ]);
    });
  });
  afterAll(async () => {
    await apache?.stop();
  });

  it('cgi-bin: SCRIPT_NAME is the script URL, PATH_INFO the rest (RFC 3875 §4.1.13, §4.1.5)', async () => {
    const params = await viaCgi(`${apache!.url}/cgi-bin/env.cgi/env/x/y?a=1&b=two`);
    printRow('Apache cgi-bin', '/cgi-bin/env.cgi/env/x/y?a=1&b=two', params);
    expect(params).toMatchObject({
      SCRIPT_NAME: '/cgi-bin/env.cgi',
      PATH_INFO: '/env/x/y',
      REQUEST_URI: '/cgi-bin/env.cgi/env/x/y?a=1&b=two',
      QUERY_STRING: 'a=1&b=two',
      HTTP_AUTHORIZATION: AUTH,
    });
    expect(params.SCRIPT_FILENAME).toMatch(/\/cgi-bin\/env\.cgi$/);
    expect(params.PATH).toMatch(/\/bin:\/usr\/local\/bin:\/usr\/bin:\/bin$/);
    expect(params).not.toHaveProperty('CONTENT_LENGTH');
    expect(params).not.toHaveProperty('HTTP_PROXY');
  });

  it('.htaccess: the rewritten request reaches app.mjs with the original path as PATH_INFO', async () => {
    const params = await viaCgi(`${apache!.url}/site/env/x/y?a=1&b=two`);
    printRow('Apache .htaccess', '/site/env/x/y?a=1&b=two', params);
    expect(params).toMatchObject({
      SCRIPT_NAME: '/site/app.mjs',
      PATH_INFO: '/env/x/y',
      REQUEST_URI: '/site/env/x/y?a=1&b=two',
      QUERY_STRING: 'a=1&b=two',
      HTTP_AUTHORIZATION: AUTH,
    });
  });
});

describe.skipIf(LIGHTTPD.skip)('raw FastCGI params from lighttpd mod_fastcgi (conf/lighttpd/tsgi.conf)', () => {
  const front = lighttpdBeforeRecorder();

  it('root mount with fix-root-scriptname: SCRIPT_NAME "", PATH_INFO the decoded path; CONTENT_LENGTH "0" on GET', async () => {
    const params = await viaRecorder(`${front.url()}/env/x/y?a=1&b=two`);
    printRow('lighttpd, mount `/`', '/env/x/y?a=1&b=two', params);
    expect(params).toMatchObject({
      SCRIPT_NAME: '',
      PATH_INFO: '/env/x/y',
      REQUEST_URI: '/env/x/y?a=1&b=two',
      QUERY_STRING: 'a=1&b=two',
      HTTP_AUTHORIZATION: AUTH,
      CONTENT_LENGTH: '0',
    });
    expect(params.SCRIPT_FILENAME).toMatch(/\/htdocs\/$/);
    expect(params).not.toHaveProperty('HTTP_PROXY');
  });

  it('sub-path mount "/app": SCRIPT_NAME "/app", PATH_INFO the rest', async () => {
    const params = await viaRecorder(`${front.url()}/app/env/x`);
    printRow('lighttpd, mount `/app`', '/app/env/x', params);
    expect(params).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/env/x', REQUEST_URI: '/app/env/x' });
    expect(params.SCRIPT_FILENAME).toMatch(/\/htdocs\/app$/);
  });

  it('PATH_INFO is percent-decoded, an encoded slash included', async () => {
    const params = await viaRecorder(`${front.url()}/app/a%20b/c%2Fd`);
    printRow('lighttpd, mount `/app`', '/app/a%20b/c%2Fd', params);
    expect(params).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/a b/c/d', REQUEST_URI: '/app/a%20b/c%2Fd' });
  });

  it('leaves FCGI_KEEP_CONN unset and connects per request', async () => {
    const seen = await connectionsViaRecorder(front.recorder(), `${front.url()}/hello`);
    expect(seen.every((request) => !request.keepConn)).toBe(true);
    expect(new Set(seen.map((request) => request.connection)).size).toBe(seen.length);
  });

  it('chunked upload: lighttpd reads the whole body first and sends its length', async () => {
    const { params, recorded } = await chunkedViaRecorder(`${front.url()}/upload`, 100_000);
    printRow('lighttpd, chunked POST', '/upload', params);
    expect(params).toMatchObject({ CONTENT_LENGTH: '100000' });
    expect(params).not.toHaveProperty('HTTP_TRANSFER_ENCODING');
    expect(recorded.stdinBytes).toBe(100_000);
  });
});

describe.skipIf(CGI_FCGI.skip)('raw FastCGI params from cgi-fcgi (libfcgi), run with a CGI environment', () => {
  let recorder: FcgiRecorder | undefined;
  let address = '';

  /** Runs `cgi-fcgi -bind -connect` against the recorder with exactly `env`; returns what it recorded. */
  function run(env: Record<string, string>, stdin: Buffer): Promise<Recorded> {
    return new Promise((resolve, reject) => {
      const child = spawn(CGI_FCGI.require(), ['-bind', '-connect', address], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('e2e: cgi-fcgi did not exit within 10 s'));
      }, 10_000);
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
      });
      child.stdin.on('error', () => {});
      child.stdin.end(stdin);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code !== 0) reject(new Error(`e2e: cgi-fcgi exited with ${code}: ${out}`));
        else resolve(JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)) as Recorded);
      });
    });
  }

  beforeAll(async () => {
    CGI_FCGI.require();
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    recorder = await startRecorder({ host: '127.0.0.1', port });
  });
  afterAll(async () => {
    await recorder?.close();
  });

  it('sends its whole environment as PARAMS, nothing added or left out, and no FCGI_KEEP_CONN', async () => {
    const env = {
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: '',
      PATH_INFO: '/env/x/y',
      QUERY_STRING: 'a=1&b=two',
      REQUEST_URI: '/env/x/y?a=1&b=two',
      HTTP_AUTHORIZATION: AUTH,
    };
    const recorded = await run(env, Buffer.alloc(0));
    printRow('cgi-fcgi (env as given)', '/env/x/y?a=1&b=two', Object.fromEntries(recorded.params));
    expect(Object.fromEntries(recorded.params)).toEqual(env);
    expect(recorded.keepConn).toBe(false);
  });

  it('stdin: nothing without CONTENT_LENGTH; whole reads of stdin (past CONTENT_LENGTH) with it', async () => {
    const none = await run({ REQUEST_METHOD: 'POST' }, Buffer.from('abcdef'));
    expect(none.stdinBytes).toBe(0);
    const over = await run({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: '3' }, Buffer.from('abcdef'));
    expect(over.stdinBytes).toBe(6);
  });
});

describe.skipIf(LIGHTTPD.skip)('raw FastCGI params from lighttpd without "fix-root-scriptname"', () => {
  const front = lighttpdBeforeRecorder([['var.tsgi_app + ( "fix-root-scriptname" => "enable" )', 'var.tsgi_app']]);

  it('root mount: SCRIPT_NAME is the first path segment, PATH_INFO the rest', async () => {
    const params = await viaRecorder(`${front.url()}/env/x/y?a=1&b=two`);
    printRow('lighttpd, mount `/`, no fix-root-scriptname', '/env/x/y?a=1&b=two', params);
    expect(params).toMatchObject({ SCRIPT_NAME: '/env', PATH_INFO: '/x/y', REQUEST_URI: '/env/x/y?a=1&b=two' });
  });

  it('root mount, one segment: SCRIPT_NAME the whole path, no PATH_INFO', async () => {
    const params = await viaRecorder(`${front.url()}/hello`);
    printRow('lighttpd, mount `/`, no fix-root-scriptname', '/hello', params);
    expect(params).toMatchObject({ SCRIPT_NAME: '/hello', REQUEST_URI: '/hello' });
    expect(params).not.toHaveProperty('PATH_INFO');
  });
});
