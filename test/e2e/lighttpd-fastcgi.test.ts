// Drives real lighttpd mod_fastcgi (conf/lighttpd/tsgi.conf) spawning the fixture app via "bin-path", on fd 0.
//
// Substitutions in the sample (plain string replacement, see harness/samples.ts):
//   "/run/lighttpd/tsgi.sock"          -> <prefix>/run/tsgi.sock (lighttpd creates <...>.sock-0 itself)
//   "/srv/app/app.mjs"                 -> <prefix>/app/app.mjs (the fixture app, `#!/usr/bin/env tsgi`)
//   "\"PATH\" => \"/usr/local/bin:"     -> "\"PATH\" => \"<prefix>/bin:/usr/local/bin:" (finds the tsgi launcher)
// No --listen anywhere: lighttpd hands the app its listening socket on fd 0.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LIGHTTPD } from './harness/binaries.js';
import { installApp, installCli } from './harness/cgi-install.js';
import { defineConnectionChecks } from './harness/connection-checks.js';
import type { FrontServer } from './harness/front-server.js';
import { fetchRaw } from './harness/http.js';
import { startLighttpd } from './harness/lighttpd.js';
import { processExists } from './harness/process.js';
import { renderSample } from './harness/samples.js';
import { printLogsOnFailure, type Target } from './harness/target.js';
import { defineSuite, type SuiteOptions } from './suite.js';

const LIGHTTPD_OPTIONS: SuiteOptions = {
  // lighttpd reads the response while it still sends the (buffered) body: full duplex works.
  echoBytes: 10 * 1024 * 1024,
  // lighttpd writes its own reason phrase from a table, which has none for 418: "HTTP/1.1 418 ".
  teapotReason: '',
  // Often, thanks to server.stream-response-body = 1 in the sample (with the default, 0, lighttpd
  // always sent the partial body with a Content-Length, as if complete). Not always: the shared
  // check is skipped, see LATE_ERROR_CHECK.
  lateError: 'cut-off',
  streaming: true,
  // lighttpd opens a connection per request and never sets FCGI_KEEP_CONN.
  keepAlive: false,
  // lighttpd buffers the chunked body (server.stream-request-body = 0) and sends its length.
  chunkedUpload: true,
};

/**
 * The shared "throws mid-body" check is skipped for lighttpd and replaced by the one below, which
 * accepts both outcomes lighttpd produces. lighttpd marks the body finished when the backend fails
 * after the response started (http_response_backend_error); when the daemon's headers, first chunk
 * and close arrive before lighttpd has written the response head, it sends the partial body with a
 * Content-Length and the cut-off looks complete. Run alone, 8 tries in 50 did that; in one whole
 * e2e run (more load), five tries in a row did.
 */
const LATE_ERROR_CHECK = 'when the app throws mid-body';

interface ConnInfo {
  pid: number;
}

async function pidOf(root: string): Promise<number> {
  const res = await fetchRaw(`${root}/conn`);
  expect(res.status, res.body.toString()).toBe(200);
  return (JSON.parse(res.body.toString()) as ConnInfo).pid;
}

describe.skipIf(LIGHTTPD.skip)('lighttpd mod_fastcgi → tsgi on fd 0 (bin-path)', () => {
  let lighttpd: FrontServer | undefined;
  let target: Target | undefined;

  beforeAll(async () => {
    LIGHTTPD.require();
    let socketPath = '';
    lighttpd = await startLighttpd(async ({ prefix }) => {
      const { binDir } = await installCli(prefix);
      const appPath = await installApp(join(prefix, 'app'));
      const run = join(prefix, 'run');
      await mkdir(run, { recursive: true });
      socketPath = join(run, 'tsgi.sock');
      return renderSample('lighttpd/tsgi.conf', [
        ['/run/lighttpd/tsgi.sock', socketPath],
        ['/srv/app/app.mjs', appPath],
        ['"PATH" => "/usr/local/bin:', `"PATH" => "${binDir}:/usr/local/bin:`],
      ]);
    });
    const { url } = lighttpd;
    target = {
      label: 'lighttpd mod_fastcgi → FastCGI (bin-path, fd 0)',
      transport: 'fastcgi',
      root: url,
      rootScriptName: '',
      sub: { url: `${url}/app`, scriptName: '/app' },
      // lighttpd sends the Host header's name, as Apache does.
      serverName: new URL(url).hostname,
      local: true,
      // With "bin-path", lighttpd appends "-<n>" to the socket path for process n.
      daemon: { path: `${socketPath}-0` },
      logs: async () => (await lighttpd?.logs()) ?? '',
    };
  });
  afterAll(async () => {
    await lighttpd?.stop();
  });

  printLogsOnFailure(() => target);
  beforeEach((context) => {
    if (context.task.name.startsWith(LATE_ERROR_CHECK)) context.skip('lighttpd races here: see "a response cut off after its first chunk"');
  });
  defineSuite(() => target!, LIGHTTPD_OPTIONS);
  defineConnectionChecks(() => target!, { keepConnFlag: false, reused: false });

  it('keeps the sub-path mount to "/app" and "/app/...": "/application" reaches the root mount', async () => {
    const res = await fetchRaw(`${target!.root}/application/env`);
    // The fixture answers 404 for unknown paths and says which split it saw.
    expect(res.body.toString()).toBe('not found: SCRIPT_NAME "" PATH_INFO "/application/env"\n');
  });

  it('a response cut off after its first chunk: chunked without its end, or (lighttpd race) "complete" with a Content-Length', async () => {
    const outcomes = { cutOff: 0, lengthAdded: 0 };
    for (let i = 0; i < 20; i++) {
      const res = await fetchRaw(`${target!.root}/error-late`);
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('partial\n');
      if (!res.complete) {
        expect(res.headers['transfer-encoding']).toBe('chunked');
        outcomes.cutOff++;
      } else {
        // The partial body, declared as the whole one: what clients and caches will believe.
        expect(res.headers['content-length']).toBe('8');
        outcomes.lengthAdded++;
      }
    }
    // Which of the two happens is lighttpd's timing (the split varies with load), so only "one of
    // the two, nothing else" (no 502, no other body) is checked.
    expect(outcomes.cutOff + outcomes.lengthAdded).toBe(20);
  });

  it('starts a new app process when the old one exits, and serves from it', async () => {
    const before = await pidOf(target!.root);
    process.kill(before, 'SIGTERM'); // the process lighttpd started for this test's server
    await expect.poll(() => processExists(before), { timeout: 10_000, interval: 100 }).toBe(false);
    // lighttpd notices on the next connect and spawns again; allow it a few attempts.
    await expect
      .poll(async () => (await fetchRaw(`${target!.root}/hello`)).status, { timeout: 10_000, interval: 200 })
      .toBe(200);
    const after = await pidOf(target!.root);
    expect(after).not.toBe(before);
  });

  it('stops the app process when lighttpd stops (SIGTERM, then it exits by itself)', async () => {
    const pid = await pidOf(target!.root);
    await lighttpd!.stop();
    await expect.poll(() => processExists(pid), { timeout: 10_000, interval: 100 }).toBe(false);
  });
});

// Many lighttpd configs mount an app at "/" without "fix-root-scriptname". lighttpd then splits after
// the first path segment (raw-params.test.ts has the values), which no rule in the environ can undo
// without knowing the mount; `tsgi fastcgi --script-name /` (the documented workaround) rebuilds
// the split from the whole path. The option applies to every mount the process serves, so it fits
// a config with the root mount only.
describe.skipIf(LIGHTTPD.skip).each([
  // /env/env: the fixture answers /env under either split.
  { workaround: false, expected: { SCRIPT_NAME: '/env', PATH_INFO: '/env' } },
  { workaround: true, expected: { SCRIPT_NAME: '', PATH_INFO: '/env/env' } },
])('lighttpd without "fix-root-scriptname", --script-name / $workaround', ({ workaround, expected }) => {
  let lighttpd: FrontServer | undefined;

  beforeAll(async () => {
    LIGHTTPD.require();
    lighttpd = await startLighttpd(async ({ prefix }) => {
      const { binDir } = await installCli(prefix);
      const appPath = await installApp(join(prefix, 'app'));
      const run = join(prefix, 'run');
      await mkdir(run, { recursive: true });
      const program = workaround ? `${join(binDir, 'tsgi')} fastcgi ${appPath} --script-name /` : appPath;
      return renderSample('lighttpd/tsgi.conf', [
        ['/run/lighttpd/tsgi.sock', join(run, 'tsgi.sock')],
        ['/srv/app/app.mjs', program],
        ['"PATH" => "/usr/local/bin:', `"PATH" => "${binDir}:/usr/local/bin:`],
        ['var.tsgi_app + ( "fix-root-scriptname" => "enable" )', 'var.tsgi_app'],
      ]);
    });
  });
  afterAll(async () => {
    await lighttpd?.stop();
  });

  it(`the app sees SCRIPT_NAME ${JSON.stringify(expected.SCRIPT_NAME)}, PATH_INFO ${JSON.stringify(expected.PATH_INFO)} for /env/env`, async () => {
    const res = await fetchRaw(`${lighttpd!.url}/env/env`);
    expect(res.status, res.body.toString()).toBe(200);
    const env = JSON.parse(res.body.toString()) as Record<string, unknown>;
    expect({ SCRIPT_NAME: env.SCRIPT_NAME, PATH_INFO: env.PATH_INFO }).toEqual(expected);
  });
});
