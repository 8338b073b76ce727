// Drives real Apache running the fixture app as a CGI script: cgi-bin (shebang and wrapper forms) and .htaccess.
//
// Substitutions (plain string replacement, see harness/samples.ts):
//   conf/apache/cgi-bin.conf: "/usr/lib/cgi-bin"                -> <prefix>/cgi-bin
//                             "SetEnv PATH /usr/local/bin:"     -> "SetEnv PATH <prefix>/bin:/usr/local/bin:"
//   conf/apache/htaccess:     "/srv/app/node_modules/.bin"      -> <prefix>/bin
// <prefix>/bin/tsgi is a launcher for a copy of dist/cli.cjs, so the fixture's `#!/usr/bin/env tsgi`
// line finds it; the .htaccess copy lives in <prefix>/htdocs/site/ next to another app.mjs.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { startApache } from './harness/apache.js';
import { APACHE } from './harness/binaries.js';
import { installApp, installCli, installWrapper } from './harness/cgi-install.js';
import type { FrontServer } from './harness/front-server.js';
import { renderSample } from './harness/samples.js';
import { printLogsOnFailure, remoteUrl, type Target } from './harness/target.js';
import { defineSuite, type SuiteOptions } from './suite.js';

const CGI_OPTIONS: SuiteOptions = {
  // Apache (mod_cgid) writes the whole request body to the script before reading its output, so
  // an echo must fit in the pipe buffers; bigger bodies are checked through /sha256.
  echoBytes: 16 * 1024,
  // mod_cgid keeps the reason phrase of the script's "Status:" line.
  teapotReason: 'Short And Stout',
  // Apache ends a CGI response cleanly whatever the script does after its headers.
  lateError: 'looks-complete',
  streaming: false,
  keepAlive: false,
  chunkedUpload: true,
};

type Form = 'shebang' | 'wrapper' | 'htaccess';
const SCRIPT_NAMES: Record<Form, string> = {
  shebang: '/cgi-bin/app.mjs',
  wrapper: '/cgi-bin/app.cgi',
  htaccess: '/site/app.mjs',
};
/** Where each form answers: the script's URL, or (.htaccess) the directory it rewrites. */
const ROOTS: Record<Form, string> = { shebang: '/cgi-bin/app.mjs', wrapper: '/cgi-bin/app.cgi', htaccess: '/site' };

const REMOTE = remoteUrl('TSGI_E2E_APACHE_CGI_URL');
let apache: FrontServer | undefined;

describe.skipIf(REMOTE !== undefined || APACHE.skip)('Apache CGI (local)', () => {
  beforeAll(async () => {
    APACHE.require();
    apache = await startApache(async ({ prefix, htdocs }) => {
      const { binDir, cliPath } = await installCli(prefix);
      const cgiBin = join(prefix, 'cgi-bin');
      const appPath = await installApp(cgiBin);
      await installWrapper(cgiBin, cliPath, appPath);
      const site = join(htdocs, 'site');
      await installApp(site);
      await writeFile(join(site, '.htaccess'), await renderSample('apache/htaccess', [['/srv/app/node_modules/.bin', binDir]]));
      return renderSample('apache/cgi-bin.conf', [
        ['/usr/lib/cgi-bin', cgiBin],
        ['SetEnv PATH /usr/local/bin:', `SetEnv PATH ${binDir}:/usr/local/bin:`],
      ]);
    });
  });
  afterAll(async () => {
    await apache?.stop();
  });

  for (const form of ['shebang', 'wrapper', 'htaccess'] as const) {
    describe(`Apache CGI, ${form} form`, () => {
      const target = (): Target => ({
        label: `Apache CGI (${form})`,
        transport: 'cgi',
        root: `${apache!.url}${ROOTS[form]}`,
        rootScriptName: SCRIPT_NAMES[form],
        serverName: new URL(apache!.url).hostname,
        local: true,
        logs: async () => (await apache?.logs()) ?? '',
      });
      printLogsOnFailure(() => (apache ? target() : undefined));
      defineSuite(target, CGI_OPTIONS);
    });
  }
});

if (REMOTE !== undefined) describe('Apache CGI (already running)', () => {
  for (const form of ['shebang', 'wrapper'] as const) {
    describe(`Apache CGI, ${form} form`, () => {
      const target = (): Target => ({
        label: `Apache CGI at ${REMOTE} (${form})`,
        transport: 'cgi',
        root: `${new URL(REMOTE!).origin}${ROOTS[form]}`,
        rootScriptName: SCRIPT_NAMES[form],
        serverName: new URL(REMOTE!).hostname,
        local: false,
        logs: async () => '(logs: see `docker compose logs apache`)',
      });
      printLogsOnFailure(target);
      defineSuite(target, CGI_OPTIONS);
    });
  }
});
