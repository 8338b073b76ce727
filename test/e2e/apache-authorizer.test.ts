// Drives real Apache mod_authnz_fcgi (conf/apache/tsgi-authorizer.conf) against the tsgi FastCGI
// daemon hosting test/fixtures/authorizer.mjs in the AUTHORIZER role (FastCGI spec §6.3), with the
// normal fixture app behind it at /private/app/ (mod_proxy_fcgi).
//
// Substitutions in the sample (plain string replacement, see harness/samples.ts):
//   "<VirtualHost *:80>"         -> "<VirtualHost 127.0.0.1:<port>>" (the harness Listens on loopback only)
//   "fcgi://127.0.0.1:9001/"     -> the authorizer daemon's tcp port (mod_authnz_fcgi is tcp only)
//   "\"fcgi://127.0.0.1:9000/\"" -> the app daemon's tcp port
//   "/srv/app/public"            -> <prefix>/htdocs, with private/secret.txt in it
//   "</VirtualHost>"             -> test-only lines, then "</VirtualHost>" (see TEST_ONLY below)
// and, before the sample, LoadModule lines for the modules harness/apache.ts does not load
// (harness/authorizer-modules.ts) plus the "authz" provider of the former docs snippet.
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startApache } from './harness/apache.js';
import { AUTHORIZER_APACHE_MODULES } from './harness/authorizer-modules.js';
import { APACHE } from './harness/binaries.js';
import { startDaemon, type Daemon } from './harness/daemon.js';
import type { FrontServer } from './harness/front-server.js';
import { fetchRaw, open, readBody, readUntil } from './harness/http.js';
import { REPO_ROOT } from './harness/paths.js';
import { renderSample } from './harness/samples.js';

const AUTHORIZER_APP = join(REPO_ROOT, 'test/fixtures/authorizer.mjs');
const SECRET = 'secret content served by Apache\n';
const GOOD = { Authorization: 'Bearer good' };

describe.skipIf(APACHE.skip || AUTHORIZER_APACHE_MODULES.skip)('Apache mod_authnz_fcgi → tsgi AUTHORIZER', () => {
  let authorizer: Daemon | undefined;
  let app: Daemon | undefined;
  let apache: FrontServer | undefined;

  const port = (daemon: Daemon | undefined) => {
    const endpoint = daemon!.endpoint;
    if ('path' in endpoint) throw new Error('e2e: mod_authnz_fcgi needs a tcp daemon');
    return endpoint.port;
  };
  const get = (path: string, headers: Record<string, string> = {}) => fetchRaw(`${apache!.url}${path}`, { headers });

  beforeAll(async () => {
    APACHE.require();
    const loadModules = AUTHORIZER_APACHE_MODULES.require();
    authorizer = await startDaemon({ app: AUTHORIZER_APP });
    app = await startDaemon();
    const authorizerPort = port(authorizer);
    // Test-only, inside the sample's <VirtualHost>: make the variables visible to the client, and
    // mount the authorizer as a responder by mistake to see the fixture's role check.
    const testOnly = [
      '    # --- added by test/e2e/apache-authorizer.test.ts ---',
      '    LogLevel info authnz_fcgi:debug',
      '    <Location "/private/">',
      '        Header set X-Tsgi-User "%{TSGI_USER}e"',
      '        Header set X-Tsgi-Apache-Role "%{TSGI_APACHE_ROLE}e"',
      '        Header set X-Remote-User "expr=%{REMOTE_USER}"',
      '    </Location>',
      // The former docs/fastcgi.md snippet, verbatim but for the provider's port.
      '    <Location "/authz-only/">',
      '        AuthType None',
      '        Require tsgi-authz',
      '    </Location>',
      `    ProxyPass "/misrouted/" "fcgi://127.0.0.1:${authorizerPort}/"`,
      '</VirtualHost>',
    ].join('\n');
    apache = await startApache(async ({ port: httpPort, htdocs }) => {
      await mkdir(join(htdocs, 'private'), { recursive: true });
      await mkdir(join(htdocs, 'authz-only'), { recursive: true });
      await writeFile(join(htdocs, 'private', 'secret.txt'), SECRET);
      await writeFile(join(htdocs, 'authz-only', 'secret.txt'), SECRET);
      const site = await renderSample('apache/tsgi-authorizer.conf', [
        ['<VirtualHost *:80>', `<VirtualHost 127.0.0.1:${httpPort}>`],
        ['fcgi://127.0.0.1:9001/', `fcgi://127.0.0.1:${authorizerPort}/`],
        ['"fcgi://127.0.0.1:9000/"', `"fcgi://127.0.0.1:${port(app)}/"`],
        ['/srv/app/public', htdocs],
        ['</VirtualHost>', testOnly],
      ]);
      return [
        loadModules,
        `AuthnzFcgiDefineProvider authz tsgi-authz fcgi://127.0.0.1:${authorizerPort}/`,
        site,
      ].join('\n');
    });
  });

  afterAll(async () => {
    await apache?.stop();
    await authorizer?.stop();
    await app?.stop();
  });

  beforeEach((context) => {
    context.onTestFailed(async () => {
      console.error(
        `--- apache ---\n${(await apache?.logs()) ?? ''}\n--- authorizer daemon ---\n${authorizer?.logs() ?? ''}\n--- app daemon ---\n${app?.logs() ?? ''}`,
      );
    });
  });

  it('denies a request without a token with the app’s 403, its headers and its body', async () => {
    const res = await get('/private/secret.txt');
    // Authoritative On: mod_authnz_fcgi returns the authorizer's status as is (no 401 mapping).
    expect(res.status).toBe(403);
    expect(res.headers['x-authorizer-reason']).toBe('missing token');
    // mod_authnz_fcgi keeps only the body bytes in the FCGI_STDOUT record that ends the head; the
    // daemon sends a small first chunk in the head's record, so the app's own text arrives.
    const body = res.body.toString();
    expect(body).toBe('denied by authorizer.mjs: missing token\n');
    expect(body).not.toContain(SECRET.trim());
    expect(res.headers['x-tsgi-user']).toBeUndefined();
  });

  it('denies a wrong token with 403', async () => {
    const res = await get('/private/secret.txt', { Authorization: 'Bearer bad' });
    expect(res.status).toBe(403);
    expect(res.headers['x-authorizer-reason']).toBe('bad token');
    expect(res.body.toString()).not.toContain(SECRET.trim());
  });

  it('serves the protected file for the good token, with the Variable-* values as request variables', async () => {
    const res = await get('/private/secret.txt', GOOD);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(SECRET);
    // Variable-TSGI_USER -> TSGI_USER in the request environment (mod_headers' %{...}e) ...
    expect(res.headers['x-tsgi-user']).toBe('alice');
    // ... called in the authentication phase (FCGI_APACHE_ROLE AUTHENTICATOR) ...
    expect(res.headers['x-tsgi-apache-role']).toBe('AUTHENTICATOR');
    // ... and made the user by the sample's UserExpr.
    expect(res.headers['x-remote-user']).toBe('alice');
    // Variable-* headers are taken out of the response; the 200's other headers are not: against
    // spec §6.3 ("ignores response headers whose names aren't prefixed with Variable-"),
    // mod_authnz_fcgi leaves them in the headers Apache sends with any response.
    expect(res.rawHeaders.some((name) => /^variable-/i.test(name))).toBe(false);
    expect(res.headers['x-authorizer-reason']).toBe('allowed');
  });

  it('hands the variables and the user on to the tsgi app behind the check', async () => {
    const res = await get('/private/app/env', GOOD);
    expect(res.status).toBe(200);
    const environ = JSON.parse(res.body.toString()) as Record<string, unknown>;
    expect(environ).toMatchObject({
      TSGI_USER: 'alice',
      REMOTE_USER: 'alice',
      HTTP_AUTHORIZATION: 'Bearer good',
      'fastcgi.role': 'RESPONDER',
      SCRIPT_NAME: '/private/app',
      PATH_INFO: '/env',
    });

    const denied = await get('/private/app/env');
    expect(denied.status).toBe(403);
    expect(denied.body.toString()).not.toContain('TSGI_USER');
  });

  it('streams the app behind the check as it yields (flushpackets=auto in the sample)', async () => {
    const id = randomUUID();
    const res = await open(`${apache!.url}/private/app/stream?id=${id}`, { headers: GOOD });
    expect(res.statusCode).toBe(200);
    // The app waits for /release, which the test sends only once "first\n" arrived: without
    // flushpackets Apache holds it back and this read runs into its bound.
    expect(await readUntil(res, 'first\n')).toBe('first\n');
    const release = await get(`/private/app/release?id=${id}`, GOOD);
    expect(JSON.parse(release.body.toString())).toEqual({ released: true, wasWaiting: true });
    const rest = await readBody(res);
    expect(rest.body.toString()).toBe('second\n');
  });

  it('reuses one daemon connection for the app behind the check (enablereuse=on in the sample)', async () => {
    const seen: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 4; i++) {
      const res = await get('/private/app/conn', GOOD);
      expect(res.status).toBe(200);
      seen.push(JSON.parse(res.body.toString()) as Record<string, unknown>);
    }
    for (const conn of seen) expect(conn.keepConn).toBe(true);
    expect(new Set(seen.map((conn) => conn.connectionId)).size).toBe(1);
  });

  it('the authz-only "Require <provider>" snippet never reaches the app: 500 (AH00027) even with the good token', async () => {
    const res = await get('/authz-only/secret.txt', GOOD);
    // fcgi_authz_check returns AUTHZ_DENIED_NO_USER while no user is known; with no authentication
    // configured, the core then refuses with 500.
    expect(res.status).toBe(500);
    expect(res.body.toString()).not.toContain(SECRET.trim());
    expect(await apache!.logs()).toContain('AH00027');
  });

  it('the authorizer mounted as a responder says so instead of allowing', async () => {
    const res = await get('/misrouted/', GOOD);
    expect(res.status).toBe(500);
    expect(res.body.toString()).toContain('expected fastcgi.role AUTHORIZER, got "RESPONDER"');
  });
});
