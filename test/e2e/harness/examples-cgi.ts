// Installs the example apps (examples/*.mjs) and the packages they import into an Apache prefix, as CGI wrappers.
//
// Apache runs CGI scripts as www-data, and the checkout may sit where www-data cannot read (a CI
// runner's /root or a 0700 home). Running the examples in place would then work on one machine and
// fail on another, so they are always copied, as a deployment would be: each app file and the
// closure of the packages it imports (dependencies, optionalDependencies and installed
// peerDependencies, followed package by package with Node's node_modules lookup) go to
// <prefix>/site under their paths relative to the repository (examples/x.mjs, node_modules/…,
// nested node_modules included), so Node resolves every import there exactly as in the checkout.
// About 150 packages and 27 MB for the five examples; the copy takes well under a second.
// Each app answers at /cgi-bin/<name>.cgi through the wrapper form (README "CGI under Apache"):
//   exec <node> <prefix>/lib/cli.cjs cgi <prefix>/site/examples/<name>.mjs
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { installCli, installWrapper } from './cgi-install.js';
import { REPO_ROOT } from './paths.js';

/** The package a bare import specifier names ("hono/cookie" → "hono", "@koa/router" → "@koa/router"). */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * Package names a module imports: static `import … from 'x'`, `export … from 'x'`, bare
 * `import 'x'` and `import('x')` with a literal; relative, absolute, `node:` and builtin ones left out.
 * Comments are dropped first (tsgi-app.mjs names `import('tsgi')` in a JSDoc type). A scan of the
 * source is enough for the examples, which are plain ESM written for people to read.
 */
export function importedPackages(source: string): string[] {
  const names = new Set<string>();
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*\(?\s*['"]([^'"]+)['"]/g];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) {
      const specifier = match[1]!;
      if (specifier.startsWith('.') || specifier.startsWith('/') || isBuiltin(specifier)) continue;
      names.add(packageName(specifier));
    }
  }
  return [...names];
}

/** Node's lookup of a package from a directory: `<dir>/node_modules/<name>`, then each parent's. */
function findPackage(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Directories of every package `names` needs when imported from `fromDir`, dependencies included. */
export async function packageClosure(names: string[], fromDir: string): Promise<string[]> {
  const found = new Set<string>();
  const visit = async (name: string, from: string, required: boolean): Promise<void> => {
    const dir = findPackage(name, from);
    if (dir === undefined) {
      if (required) throw new Error(`e2e: package ${name} (needed from ${from}) is not installed: run npm install`);
      return;
    }
    if (found.has(dir)) return;
    found.add(dir);
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    for (const dep of Object.keys(manifest.dependencies ?? {})) await visit(dep, dir, true);
    // Optional and peer dependencies are copied when they are installed, and skipped otherwise.
    for (const dep of Object.keys({ ...manifest.optionalDependencies, ...manifest.peerDependencies })) await visit(dep, dir, false);
  };
  for (const name of names) await visit(name, fromDir, true);
  return [...found].sort();
}

/** Makes every file readable and every directory searchable by others (www-data), like a 022 umask. */
async function makeWorldReadable(path: string): Promise<void> {
  const info = await stat(path);
  const want = info.isDirectory() ? 0o555 : 0o444;
  if ((info.mode & want) !== want) await chmod(path, (info.mode | want) & 0o7777);
  if (info.isDirectory()) {
    for (const entry of await readdir(path)) await makeWorldReadable(join(path, entry));
  }
}

export interface InstalledExample {
  /** The wrapper's URL path, which is also the app's SCRIPT_NAME: `/cgi-bin/<name>.cgi`. */
  scriptName: string;
  /** The copied app module the wrapper runs. */
  appPath: string;
}

/**
 * Copies the CLI bundle, the examples (`{ name, file }`, file relative to the repository) and
 * their packages into `prefix`, and writes `<prefix>/cgi-bin/<name>.cgi` for each. Returns the
 * `cgi-bin` directory (for the ScriptAlias) and each example's script.
 */
export async function installExamples(
  prefix: string,
  examples: ReadonlyArray<{ name: string; file: string }>,
): Promise<{ cgiBin: string; installed: Map<string, InstalledExample> }> {
  const { cliPath } = await installCli(prefix);
  const site = join(prefix, 'site');
  const cgiBin = join(prefix, 'cgi-bin');
  await mkdir(cgiBin, { recursive: true });

  const packages = new Set<string>();
  for (const { file } of examples) {
    const source = await readFile(join(REPO_ROOT, file), 'utf8');
    for (const dir of await packageClosure(importedPackages(source), dirname(join(REPO_ROOT, file)))) packages.add(dir);
  }
  // A nested package (node_modules/a/node_modules/b) comes along with the package that holds it.
  const roots = [...packages].filter((dir) => ![...packages].some((other) => other !== dir && dir.startsWith(other + sep)));
  for (const dir of roots) {
    const rel = relative(REPO_ROOT, dir);
    if (rel.startsWith('..')) throw new Error(`e2e: ${dir} is outside the repository; the CGI copy cannot keep its path`);
    // dereference: a linked package (npm link, workspaces) is copied as files www-data can read.
    await cp(dir, join(site, rel), { recursive: true, dereference: true });
  }

  const installed = new Map<string, InstalledExample>();
  for (const { name, file } of examples) {
    const appPath = join(site, file);
    await mkdir(dirname(appPath), { recursive: true });
    await cp(join(REPO_ROOT, file), appPath);
    await installWrapper(cgiBin, cliPath, appPath, `${name}.cgi`);
    installed.set(name, { scriptName: `/cgi-bin/${name}.cgi`, appPath });
  }
  await makeWorldReadable(site);
  return { cgiBin, installed };
}
