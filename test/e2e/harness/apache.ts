// Runs a private Apache 2.4 (mpm_event) for the e2e tests around site snippets rendered from conf/apache/.
//
// The main config is written here: its own ServerRoot/PidFile/ErrorLog/DefaultRuntimeDir in the
// prefix, only loopback Listen, the modules the samples need, and User/Group www-data when root
// (Apache refuses to run children as root). Substitutions in the samples are made by the callers
// (see apache-*.test.ts) with renderSample().
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APACHE } from './binaries.js';
import { awaitFrontServer, type FrontServer } from './front-server.js';
import { freePort } from './ports.js';
import { makePrefix, removePrefix } from './prefix.js';
import { startProcess } from './process.js';

const MODULE_DIRS = ['/usr/lib/apache2/modules', '/usr/lib64/httpd/modules', '/usr/local/apache2/modules'];

/** True when this Apache build has mod_fcgid (a separate package on Debian). */
export function hasFcgid(): boolean {
  return MODULE_DIRS.some((dir) => existsSync(join(dir, 'mod_fcgid.so')));
}

/** Every module one of the conf/apache samples uses; each is loaded only if the build has it. */
const MODULES: Array<[name: string, file: string]> = [
  ['mpm_event_module', 'mod_mpm_event.so'],
  ['authz_core_module', 'mod_authz_core.so'],
  ['authz_host_module', 'mod_authz_host.so'],
  ['mime_module', 'mod_mime.so'],
  ['dir_module', 'mod_dir.so'],
  ['alias_module', 'mod_alias.so'],
  ['env_module', 'mod_env.so'],
  ['headers_module', 'mod_headers.so'],
  ['rewrite_module', 'mod_rewrite.so'],
  // mod_cgid, not mod_cgi: the threaded event MPM forks CGI scripts from a separate daemon.
  ['cgid_module', 'mod_cgid.so'],
  ['proxy_module', 'mod_proxy.so'],
  ['proxy_fcgi_module', 'mod_proxy_fcgi.so'],
  // Packaged apart (libapache2-mod-fcgid); loaded when present, its test is skipped otherwise.
  ['fcgid_module', 'mod_fcgid.so'],
];

export interface ApacheSetup {
  /** The prefix directory (created before `site` is called, so the site can point into it). */
  prefix: string;
  /** `<prefix>/htdocs`: the DocumentRoot, where .htaccess files are honoured. */
  htdocs: string;
  /** The loopback port Apache will listen on. */
  port: number;
}

/**
 * Starts Apache with the config text `site(setup)` returns, appended after the main config.
 * `site` may also copy files into the prefix first (CGI scripts, the document root).
 */
export async function startApache(site: (setup: ApacheSetup) => Promise<string>): Promise<FrontServer> {
  const httpd = APACHE.require();
  const moduleDir = MODULE_DIRS.find((dir) => existsSync(join(dir, 'mod_proxy_fcgi.so')));
  if (!moduleDir) throw new Error(`e2e: no Apache module directory with mod_proxy_fcgi.so in ${MODULE_DIRS.join(', ')}`);
  const prefix = await makePrefix('apache');
  const port = await freePort();
  const run = join(prefix, 'run');
  const htdocs = join(prefix, 'htdocs');
  await mkdir(run, { recursive: true });
  await mkdir(htdocs, { recursive: true });
  const errorLog = join(prefix, 'error.log');
  const typesConfig = existsSync('/etc/mime.types') ? '/etc/mime.types' : join(prefix, 'mime.types');
  if (!existsSync(typesConfig)) await writeFile(typesConfig, '');
  const root = process.getuid?.() === 0;

  const main = [
    '# Minimal main config written by test/e2e/harness/apache.ts; the site snippets follow.',
    `ServerRoot "${prefix}"`,
    // A fixed name keeps Apache from guessing one (AH00558) and SERVER_NAME predictable.
    'ServerName 127.0.0.1',
    `Listen 127.0.0.1:${port}`,
    `PidFile "${join(prefix, 'httpd.pid')}"`,
    `ErrorLog "${errorLog}"`,
    'LogLevel info',
    `DefaultRuntimeDir "${run}"`,
    ...MODULES.filter(([, file]) => existsSync(join(moduleDir, file))).map(
      ([name, file]) => `LoadModule ${name} "${join(moduleDir, file)}"`,
    ),
    `ScriptSock "${join(run, 'cgid.sock')}"`,
    // mod_fcgid's sockets and shared process table, kept in the prefix like everything else.
    `<IfModule fcgid_module>`,
    `    FcgidIPCDir "${join(run, 'fcgid')}"`,
    `    FcgidProcessTableFile "${join(run, 'fcgid_shm')}"`,
    `</IfModule>`,
    `TypesConfig "${typesConfig}"`,
    ...(root ? ['User www-data', 'Group www-data'] : []),
    // Small pools: the tests send a few requests at a time.
    'StartServers 1',
    'ServerLimit 2',
    'ThreadsPerChild 16',
    'MaxRequestWorkers 32',
    'MinSpareThreads 8',
    'MaxSpareThreads 32',
    'Timeout 30',
    '<Directory />',
    '    AllowOverride None',
    '    Require all denied',
    '</Directory>',
    // The hosting side of conf/apache/htaccess: a document root whose .htaccess files may set
    // what the sample sets (Options=ExecCGI, FileInfo for AddHandler/Rewrite*/SetEnv, AuthConfig).
    `DocumentRoot "${htdocs}"`,
    `<Directory "${htdocs}">`,
    '    AllowOverride Options=ExecCGI FileInfo AuthConfig',
    '    Require all granted',
    '</Directory>',
    '<Files ".ht*">',
    '    Require all denied',
    '</Files>',
    '',
  ].join('\n');
  const confPath = join(prefix, 'httpd.conf');
  let siteText: string;
  try {
    siteText = await site({ prefix, port, htdocs });
  } catch (error) {
    await removePrefix(prefix);
    throw error;
  }
  await writeFile(confPath, `${main}\n${siteText}\n`);

  const proc = startProcess('apache2', httpd, ['-f', confPath, '-d', prefix, '-DFOREGROUND'], {
    // Debian's apache2 reads APACHE_* variables only through apache2ctl; LANG=C as its envvars sets.
    env: { ...process.env, LANG: 'C' },
  });
  return awaitFrontServer('apache', proc, { prefix, port, errorLog });
}
