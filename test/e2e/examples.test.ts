// Runs every example app (examples/*.mjs) through real nginx → FastCGI daemon and real Apache → CGI with one case table.
//
// test/examples/cases.ts is the table examples.test.ts sends in-process and through the dev server;
// here each case is a real HTTP request on a fresh connection:
//   - nginx: conf/nginx/tsgi.conf (harness/nginx.ts), app mounted at "/", in front of
//     `node dist/cli.cjs fastcgi examples/<name>.mjs` run from the checkout. One daemon and one nginx
//     per example, started once for all its cases. `location = /stream` has fastcgi_buffering off.
//   - Apache: conf/apache/cgi-bin.conf with "/usr/lib/cgi-bin" -> <prefix>/cgi-bin, one Apache for
//     every example; each app answers at /cgi-bin/<name>.cgi through the wrapper form, on a copy of
//     the app and of the node_modules packages it imports (harness/examples-cgi.ts says why).
// Each case must pass under both; then both transports must have given the same status, body,
// Content-Type, Set-Cookie fields and (relative to the mount) Location for every case.
// Known tsgi bugs are registered with it.fails (KNOWN_BUGS): the file stays green while they are
// open and turns red when one is fixed, so the entry is removed together with the bug.
// TSGI_E2E_STRICT=1 runs those checks as plain tests.
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CASES, EXAMPLES, type ExampleCase, type ExampleRequest } from '../examples/cases.js';
import { startApache } from './harness/apache.js';
import { APACHE, NGINX } from './harness/binaries.js';
import { startDaemon, type Daemon } from './harness/daemon.js';
import { installExamples, type InstalledExample } from './harness/examples-cgi.js';
import { checkExample, send, transportIndependent, type WireResponse } from './harness/examples-wire.js';
import type { FrontServer } from './harness/front-server.js';
import { startNginx } from './harness/nginx.js';
import { REPO_ROOT } from './harness/paths.js';
import { renderSample } from './harness/samples.js';

type Transport = 'nginx' | 'cgi';

/** Examples whose redirect goes through SCRIPT_NAME (see CheckContext.mountAwareRedirect). */
const MOUNT_AWARE_REDIRECT = new Set<string>(['tsgi-app']);

/**
 * A request no example reads the body of: every framework answers 404 without consuming it. The
 * response must still arrive whole (the FastCGI daemon always reads bodies; a CGI script must
 * drain stdin before it exits, or mod_cgid resets the socket and the end of the response is lost).
 */
const UNREAD_BODY: ExampleRequest = {
  method: 'POST',
  url: '/no/such/page',
  headers: { 'Content-Type': 'application/octet-stream' },
  body: Buffer.alloc(16 * 1024, 0x61),
};

interface KnownBug {
  example: string | '*';
  transport: Transport;
  /** Which checks it breaks: a case of the table, the unread-body check, or the cross-transport comparison. */
  breaks: (check: ExampleCase | 'unread-body' | 'same-answers') => boolean;
  /** A few words for the test title. */
  label: string;
}

// Empty: both bugs this file found (the fetch adapter routing on SCRIPT_NAME, the CGI runner
// exiting with a body unread) are fixed. Add an entry here when a new one is found, not a skip.
const KNOWN_BUGS: KnownBug[] = [];

/** TSGI_E2E_STRICT=1 runs the checks KNOWN_BUGS breaks as plain tests, to see how they fail. */
const STRICT = process.env.TSGI_E2E_STRICT === '1';

function knownBug(example: string, transport: Transport, check: ExampleCase | 'unread-body' | 'same-answers'): KnownBug | undefined {
  return KNOWN_BUGS.find((bug) => (bug.example === '*' || bug.example === example) && bug.transport === transport && bug.breaks(check));
}

/** `it`, or `it.fails` when a known bug breaks the check (unless STRICT). */
function itUnless(bug: KnownBug | undefined): typeof it | typeof it.fails {
  return bug === undefined || STRICT ? it : it.fails;
}

let apache: FrontServer | undefined;
let installed: Map<string, InstalledExample> | undefined;

/** Prints what the servers logged (the apps' stderr included) under a failed test, unless it.fails expected it. */
function printLogsOnFailure(logs: () => Promise<string>): void {
  beforeEach((context) => {
    if (context.task.fails) return;
    context.onTestFailed(async () => {
      console.error(`--- logs for "${context.task.name}" ---\n${await logs()}`);
    });
  });
}

describe('examples behind real front servers', () => {
  beforeAll(async () => {
    if (APACHE.skip) return;
    APACHE.require();
    apache = await startApache(async ({ prefix }) => {
      const install = await installExamples(prefix, EXAMPLES);
      installed = install.installed;
      return renderSample('apache/cgi-bin.conf', [['/usr/lib/cgi-bin', install.cgiBin]]);
    });
  });
  afterAll(async () => {
    await apache?.stop();
  });

  describe.each(EXAMPLES)('examples/$name', ({ name, file }) => {
    // Every response by case name, compared across transports at the end.
    const responses: Record<Transport, Map<string, WireResponse>> = { nginx: new Map(), cgi: new Map() };
    const mountAwareRedirect = MOUNT_AWARE_REDIRECT.has(name);

    /** Registers the table and the unread-body check for one transport. */
    function defineCases(transport: Transport, base: () => string, scriptName: () => string): void {
      for (const testCase of CASES) {
        const bug = knownBug(name, transport, testCase);
        itUnless(bug)(bug ? `${testCase.name} (known bug: ${bug.label})` : testCase.name, async () => {
          const res = await send(base(), testCase.request);
          responses[transport].set(testCase.name, res);
          checkExample(res, testCase.expect, { scriptName: scriptName(), mountAwareRedirect, streaming: true });
        });
      }
      const bug = knownBug(name, transport, 'unread-body');
      itUnless(bug)(`POST with a body the app never reads → a complete 404${bug ? ` (known bug: ${bug.label})` : ''}`, async () => {
        const res = await send(base(), UNREAD_BODY);
        expect(res.status).toBe(404);
        expect(res.complete, 'the response was cut off').toBe(true);
      });
    }

    describe.skipIf(NGINX.skip)('nginx → FastCGI daemon', () => {
      let daemon: Daemon | undefined;
      let nginx: FrontServer | undefined;
      beforeAll(async () => {
        NGINX.require();
        daemon = await startDaemon({ app: join(REPO_ROOT, file) });
        nginx = await startNginx({ upstream: daemon.endpoint });
      });
      afterAll(async () => {
        await nginx?.stop();
        await daemon?.stop();
      });
      printLogsOnFailure(async () => `${(await nginx?.logs()) ?? ''}\n--- daemon ---\n${daemon?.logs() ?? ''}`);
      defineCases('nginx', () => nginx!.url, () => '');
    });

    describe.skipIf(APACHE.skip)('Apache → CGI (cgi-bin, wrapper)', () => {
      const scriptName = () => installed!.get(name)!.scriptName;
      printLogsOnFailure(async () => (await apache?.logs()) ?? '');
      defineCases('cgi', () => `${apache!.url}${scriptName()}`, scriptName);
    });

    const bug = knownBug(name, 'cgi', 'same-answers');
    (NGINX.skip || APACHE.skip ? it.skip : itUnless(bug))(
      `answers every case the same through both transports${bug ? ` (known bug: ${bug.label})` : ''}`,
      () => {
        const cgiScriptName = installed!.get(name)!.scriptName;
        for (const { name: caseName } of CASES) {
          const viaNginx = responses.nginx.get(caseName);
          const viaCgi = responses.cgi.get(caseName);
          // A case that got no answer at all has failed above already.
          if (viaNginx === undefined || viaCgi === undefined) continue;
          expect(transportIndependent(viaCgi, cgiScriptName), caseName).toEqual(transportIndependent(viaNginx, ''));
        }
      },
    );
  });
});
