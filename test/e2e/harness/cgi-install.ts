// Installs the CLI bundle, a `tsgi` launcher and the fixture app into an Apache prefix for CGI tests.
//
// Copies rather than links: the checkout may sit in a directory www-data cannot read (e.g. /root),
// and Apache runs CGI scripts as www-data.
import { chmod, copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execPath } from 'node:process';
import { FIXTURE_APP, requireCli } from './paths.js';

export interface CgiInstall {
  /** Directory to put first on the CGI PATH; holds the `tsgi` launcher. */
  binDir: string;
  /** The copied bundle. */
  cliPath: string;
}

/** Puts `<prefix>/bin/tsgi` (runs this node on the copied bundle) and `<prefix>/lib/cli.cjs` (with cli-core.cjs and the chunks) in place. */
export async function installCli(prefix: string): Promise<CgiInstall> {
  const cli = requireCli();
  const binDir = join(prefix, 'bin');
  const libDir = join(prefix, 'lib');
  await mkdir(binDir, { recursive: true });
  await mkdir(libDir, { recursive: true });
  const cliPath = join(libDir, 'cli.cjs');
  await copyFile(cli, cliPath);
  // dist/cli.cjs compiles dist/cli-core.cjs and import()s the subcommands' chunks (cli-*.js: fastcgi,
  // dev) from beside it.
  for (const name of await readdir(dirname(cli))) {
    if (name.startsWith('cli-') && /\.c?js$/.test(name)) await copyFile(join(dirname(cli), name), join(libDir, name));
  }
  // The chunks are ES modules: said, not guessed (without it Node tries them as CommonJS first).
  await writeFile(join(libDir, 'package.json'), '{"type":"module"}\n');
  // An absolute node path: the CGI PATH need not contain node (CI may use a node outside /usr/bin).
  await writeFile(join(binDir, 'tsgi'), `#!/bin/sh\nexec "${execPath}" "${cliPath}" "$@"\n`);
  await chmod(join(binDir, 'tsgi'), 0o755);
  return { binDir, cliPath };
}

/** Copies the fixture app (whose first line is `#!/usr/bin/env tsgi`) to `dir/name`, executable. */
export async function installApp(dir: string, name = 'app.mjs'): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await copyFile(FIXTURE_APP, path);
  await chmod(path, 0o755);
  return path;
}

/** The wrapper form: a shell script that execs the CLI's `cgi` subcommand on an app module. */
export async function installWrapper(dir: string, cliPath: string, appPath: string, name = 'app.cgi'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n# tsgi CGI wrapper: one request from the environment and stdin.\nexec "${execPath}" "${cliPath}" cgi "${appPath}"\n`);
  await chmod(path, 0o755);
  return path;
}
