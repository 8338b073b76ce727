// Runs a private lighttpd 1.4 for the e2e tests around a site snippet rendered from conf/lighttpd/.
//
// The main config is written here: document root, upload dir and error log in the prefix, only
// loopback, and `-D` (foreground) so the harness owns the process. lighttpd starts the app processes
// a "bin-path" names itself, before it accepts connections, and stops them (kill-signal, SIGTERM by
// default) when it stops. Their stdout/stderr are lighttpd's own (ServerProcess.output()); what they
// send as FCGI_STDERR goes to the error log. Substitutions in the sample are made by the callers
// (see lighttpd-fastcgi.test.ts) with renderSample().
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LIGHTTPD } from './binaries.js';
import { awaitFrontServer, type FrontServer } from './front-server.js';
import { freePort } from './ports.js';
import { makePrefix, removePrefix } from './prefix.js';
import { startProcess } from './process.js';

export interface LighttpdSetup {
  /** The prefix directory (created before `site` is called, so the site can point into it). */
  prefix: string;
  /** `<prefix>/htdocs`: server.document-root. */
  htdocs: string;
  /** The loopback port lighttpd will listen on. */
  port: number;
}

/** Starts lighttpd with the config text `site(setup)` returns, appended after the main config. */
export async function startLighttpd(site: (setup: LighttpdSetup) => Promise<string>): Promise<FrontServer> {
  const lighttpd = LIGHTTPD.require();
  const prefix = await makePrefix('lighttpd');
  const port = await freePort();
  const htdocs = join(prefix, 'htdocs');
  const uploads = join(prefix, 'uploads');
  await mkdir(htdocs, { recursive: true });
  await mkdir(uploads, { recursive: true });
  const errorLog = join(prefix, 'error.log');

  const main = [
    '# Minimal main config written by test/e2e/harness/lighttpd.ts; the site snippet follows.',
    `server.document-root = "${htdocs}"`,
    'server.bind = "127.0.0.1"',
    `server.port = ${port}`,
    `server.errorlog = "${errorLog}"`,
    `server.upload-dirs = ( "${uploads}" )`,
    '',
  ].join('\n');
  let siteText: string;
  try {
    siteText = await site({ prefix, htdocs, port });
  } catch (error) {
    await removePrefix(prefix);
    throw error;
  }
  const confPath = join(prefix, 'lighttpd.conf');
  await writeFile(confPath, `${main}\n${siteText}\n`);

  const proc = startProcess('lighttpd', lighttpd, ['-D', '-f', confPath]);
  return awaitFrontServer('lighttpd', proc, { prefix, port, errorLog });
}
