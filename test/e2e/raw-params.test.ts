// Records the raw CGI/FastCGI params nginx and Apache send with the conf/ samples (no tsgi code involved).
//
// The app behind the daemon sees the normalised environ; these checks pin what arrives on the wire,
// which is what src/core/environ.ts has to normalise (docs/front-servers.md has the table).
// TSGI_E2E_PRINT_TABLE=1 prints the observed values as markdown rows.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApache } from './harness/apache.js';
import { APACHE, NGINX } from './harness/binaries.js';
import { startRecorder, type FcgiRecorder } from './harness/fcgi-recorder.js';
import { fetchRaw } from './harness/http.js';
import type { FrontServer } from './harness/front-server.js';
import { startNginx } from './harness/nginx.js';
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

describe.skipIf(NGINX.skip)('raw FastCGI params from nginx (conf/nginx/tsgi.conf)', () => {
  let recorder: FcgiRecorder | undefined;
  let nginx: FrontServer | undefined;

  beforeAll(async () => {
    NGINX.require();
    const port = await freePort();
    recorder = await startRecorder({ host: '127.0.0.1', port });
    nginx = await startNginx({ upstream: { host: '127.0.0.1', port } });
  });
  afterAll(async () => {
    await nginx?.stop();
    await recorder?.close();
  });

  it('root mount: SCRIPT_NAME "" and the decoded path as PATH_INFO; empty CONTENT_LENGTH on GET', async () => {
    const params = await viaRecorder(`${nginx!.url}/env/x/y?a=1&b=two`);
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
    const params = await viaRecorder(`${nginx!.url}/app/env/x`);
    printRow('nginx', '/app/env/x', params);
    expect(params).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/env/x', REQUEST_URI: '/app/env/x' });
  });

  it('sets FCGI_KEEP_CONN and reuses one connection (fastcgi_keep_conn + upstream keepalive)', async () => {
    const before = recorder!.requests.length;
    for (let i = 0; i < 3; i++) await viaRecorder(`${nginx!.url}/hello`);
    const recent = recorder!.requests.slice(before);
    expect(recent.every((request) => request.keepConn)).toBe(true);
    expect(new Set(recent.map((request) => request.connection)).size).toBe(1);
  });
});

describe.skipIf(APACHE.skip)('raw FastCGI params from Apache mod_proxy_fcgi (conf/apache/tsgi-proxy-fcgi.conf)', () => {
  let recorder: FcgiRecorder | undefined;
  let apache: FrontServer | undefined;
  let backend = '';

  beforeAll(async () => {
    APACHE.require();
    const port = await freePort();
    backend = `127.0.0.1:${port}`;
    recorder = await startRecorder({ host: '127.0.0.1', port });
    apache = await startApache(async ({ port: listen, htdocs }) =>
      renderSample('apache/tsgi-proxy-fcgi.conf', [
        ['<VirtualHost *:80>', `<VirtualHost 127.0.0.1:${listen}>`],
        ['"fcgi://127.0.0.1:9000/"', `"fcgi://${backend}/"`],
        ['/srv/app/public', htdocs],
      ]),
    );
  });
  afterAll(async () => {
    await apache?.stop();
    await recorder?.close();
  });

  it('root mount: the whole path in SCRIPT_NAME, no PATH_INFO, the path again in SCRIPT_FILENAME', async () => {
    const params = await viaRecorder(`${apache!.url}/env/x/y?a=1&b=two`);
    printRow('Apache mod_proxy_fcgi', '/env/x/y?a=1&b=two', params);
    expect(params).toMatchObject({
      SCRIPT_NAME: '/env/x/y',
      SCRIPT_FILENAME: `proxy:fcgi://${backend}/env/x/y`,
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
    const params = await viaRecorder(`${apache!.url}/app/env/x`);
    printRow('Apache mod_proxy_fcgi', '/app/env/x', params);
    expect(params).toMatchObject({ SCRIPT_NAME: '/app/env/x', SCRIPT_FILENAME: `proxy:fcgi://${backend}/env/x` });
    expect(params).not.toHaveProperty('PATH_INFO');
  });

  it('SCRIPT_NAME is percent-decoded, SCRIPT_FILENAME is not', async () => {
    const params = await viaRecorder(`${apache!.url}/app/a%20b`);
    printRow('Apache mod_proxy_fcgi', '/app/a%20b', params);
    expect(params).toMatchObject({ SCRIPT_NAME: '/app/a b', SCRIPT_FILENAME: `proxy:fcgi://${backend}/a%20b` });
  });
});

describe.skipIf(APACHE.skip)('raw FastCGI params from Apache mod_proxy_fcgi over a unix socket', () => {
  let recorder: FcgiRecorder | undefined;
  let apache: FrontServer | undefined;
  let socketDir: string | undefined;

  beforeAll(async () => {
    APACHE.require();
    socketDir = await makePrefix('sock');
    const socketPath = join(socketDir, 'rec.sock');
    recorder = await startRecorder({ path: socketPath });
    await chmod(socketPath, 0o666); // Apache's children run as www-data
    apache = await startApache(async ({ port: listen, htdocs }) =>
      renderSample('apache/tsgi-proxy-fcgi.conf', [
        ['<VirtualHost *:80>', `<VirtualHost 127.0.0.1:${listen}>`],
        ['"fcgi://127.0.0.1:9000/"', `"unix:${socketPath}|fcgi://localhost/"`],
        ['/srv/app/public', htdocs],
      ]),
    );
  });
  afterAll(async () => {
    await apache?.stop();
    await recorder?.close();
    await removePrefix(socketDir);
  });

  it('SCRIPT_FILENAME names the pool ("localhost"), not the socket', async () => {
    const params = await viaRecorder(`${apache!.url}/app/env/x`);
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
