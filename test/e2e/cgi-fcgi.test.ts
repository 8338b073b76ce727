// Drives the tsgi FastCGI daemon with libfcgi's cgi-fcgi as the client: through a CGI gateway (the shared suite) and directly.
//
// `cgi-fcgi -bind -connect 127.0.0.1:<port>` forwards its own environment and stdin as one FastCGI
// request (BEGIN_REQUEST without FCGI_KEEP_CONN) and prints the CGI response. harness/cgi-fcgi.ts
// wraps it in a minimal HTTP → CGI gateway so suite.ts runs through it; the direct checks below
// run it the way a shell script would.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CGI_FCGI } from './harness/binaries.js';
import { CGI_FCGI_NO_END_REQUEST, startCgiFcgiGateway } from './harness/cgi-fcgi.js';
import { defineConnectionChecks } from './harness/connection-checks.js';
import { startDaemon, type Daemon } from './harness/daemon.js';
import type { FrontServer } from './harness/front-server.js';
import { printLogsOnFailure, type Target } from './harness/target.js';
import { defineSuite, type SuiteOptions } from './suite.js';

const CGI_FCGI_OPTIONS: SuiteOptions = {
  // cgi-fcgi copies stdin to the daemon and the daemon's stdout to its own stdout at the same time.
  echoBytes: 10 * 1024 * 1024,
  teapotReason: 'Short And Stout',
  // cgi-fcgi exits 253 without FCGI_END_REQUEST; the gateway cuts the response off then.
  lateError: 'cut-off',
  // cgi-fcgi writes each FCGI_STDOUT record out as it arrives.
  streaming: true,
  // One cgi-fcgi process, one connection, no FCGI_KEEP_CONN.
  keepAlive: false,
  // cgi-fcgi reads stdin only while CONTENT_LENGTH bytes are due, so none without it (checked below).
  chunkedUpload: false,
};

interface Run {
  stdout: Buffer;
  stderr: string;
  code: number | null;
}

/** Runs `cgi-fcgi -bind -connect <addr>` with exactly `env` and `stdin`; bounded. */
function runCgiFcgi(address: string, env: Record<string, string>, stdin: Buffer = Buffer.alloc(0), timeoutMs = 10_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(CGI_FCGI.require(), ['-bind', '-connect', address], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`e2e: cgi-fcgi did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.stdin.on('error', () => {}); // it may exit before reading all of stdin
    child.stdin.end(stdin);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(stdout), stderr, code });
    });
  });
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Splits cgi-fcgi's output into the CGI head and the body. */
function split(stdout: Buffer): { head: string; body: Buffer } {
  const at = stdout.indexOf('\r\n\r\n');
  return { head: stdout.subarray(0, at).toString('latin1'), body: stdout.subarray(at + 4) };
}

describe.skipIf(CGI_FCGI.skip)('cgi-fcgi (libfcgi) → FastCGI daemon (tcp)', () => {
  let daemon: Daemon | undefined;
  let gateway: FrontServer | undefined;
  let target: Target | undefined;
  let address = '';

  beforeAll(async () => {
    CGI_FCGI.require();
    daemon = await startDaemon();
    const endpoint = daemon.endpoint;
    if ('path' in endpoint) throw new Error('e2e: expected a tcp daemon');
    address = `${endpoint.host}:${endpoint.port}`;
    gateway = await startCgiFcgiGateway({ daemon: endpoint });
    const { url } = gateway;
    target = {
      label: 'cgi-fcgi → FastCGI (tcp)',
      transport: 'fastcgi',
      root: url,
      rootScriptName: '',
      serverName: new URL(url).hostname,
      local: true,
      daemon: endpoint,
      logs: async () => `${(await gateway?.logs()) ?? ''}\n--- daemon ---\n${daemon?.logs() ?? ''}`,
    };
  });
  afterAll(async () => {
    await gateway?.stop();
    await daemon?.stop();
  });

  printLogsOnFailure(() => target);
  defineSuite(() => target!, CGI_FCGI_OPTIONS);
  defineConnectionChecks(() => target!, { keepConnFlag: false, reused: false });

  describe('run directly with a CGI environment and stdin', () => {
    const base = { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', QUERY_STRING: '', SERVER_PROTOCOL: 'HTTP/1.1', SERVER_NAME: 'localhost' };

    it('POST with CONTENT_LENGTH: the body arrives whole, the CGI response is printed, exit status 0', async () => {
      const body = randomBytes(200_000);
      const run = await runCgiFcgi(
        address,
        { ...base, REQUEST_METHOD: 'POST', PATH_INFO: '/sha256', CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/octet-stream' },
        body,
      );
      expect(run.code, run.stderr).toBe(0);
      const { head, body: out } = split(run.stdout);
      expect(head).toMatch(/^Status: 200 OK\r\n/);
      expect(JSON.parse(out.toString())).toEqual({ length: body.length, sha256: sha256(body) });
    });

    it('extra stdin beyond CONTENT_LENGTH is sent but not given to the app (tsgi.input stops at CONTENT_LENGTH)', async () => {
      // cgi-fcgi forwards whole reads of stdin, so more than CONTENT_LENGTH bytes can reach the daemon.
      const run = await runCgiFcgi(address, { ...base, REQUEST_METHOD: 'POST', PATH_INFO: '/sha256', CONTENT_LENGTH: '3' }, Buffer.from('abcdef'));
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(split(run.stdout).body.toString())).toEqual({ length: 3, sha256: sha256(Buffer.from('abc')) });
    });

    it('without CONTENT_LENGTH cgi-fcgi sends an empty stdin: the app reads an empty body', async () => {
      const run = await runCgiFcgi(address, { ...base, REQUEST_METHOD: 'POST', PATH_INFO: '/sha256' }, Buffer.from('abc'));
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(split(run.stdout).body.toString())).toEqual({ length: 0, sha256: sha256(Buffer.alloc(0)) });
    });

    it('an app error before startResponse: a generic 500 on stdout, the detail on stderr (FCGI_STDERR), exit status 1 (appStatus)', async () => {
      const run = await runCgiFcgi(address, { ...base, PATH_INFO: '/error' });
      // cgi-fcgi exits with FCGI_END_REQUEST's appStatus, which tsgi sets to 1 when the app failed.
      expect(run.code).toBe(1);
      expect(split(run.stdout).head).toMatch(/^Status: 500\b/);
      expect(run.stdout.toString()).not.toContain('secret-internal-detail');
      expect(run.stderr).toContain('secret-internal-detail');
    });

    it('a response cut off after the headers (no FCGI_END_REQUEST) makes cgi-fcgi exit 253 (FCGX_PROTOCOL_ERROR)', async () => {
      const run = await runCgiFcgi(address, { ...base, PATH_INFO: '/error-late' });
      expect(split(run.stdout).body.toString()).toBe('partial\n');
      expect(run.code).toBe(CGI_FCGI_NO_END_REQUEST);
    });
  });
});
