// Resolves "path/to/module[#export]" to a TSGI app for the CLI, with one clear message per failure.

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { assertNotListening, listeningServerCount, toApp, type AppType } from '../adapters/detect.js';
import { TsgiError } from '../core/errors.js';
import type { App } from '../core/types.js';

/**
 * Imports the app module, picks the export (the named one after `#`, else `default`, else `app`)
 * and adapts it: a TSGI app as it is, a fetch handler or `{ fetch }` (Hono) through `fromFetch`, a
 * node:http app (Express, Koa, Fastify, http.Server) through `fromNodeHttp` (docs/adapters.md).
 * @param spec - `"./app.mjs"` or `"./app.mjs#myApp"`, relative to `cwd`.
 * @param type - skip detection: `'tsgi'`, `'fetch'` or `'node'` (the CLI's `--type`).
 * @throws {TsgiError} code `TSGI_LOAD_APP` whose message names the file and what was expected:
 *   the file is missing, the import failed, the export is missing or is no app of a known shape,
 *   or importing the module started a server (it called `listen()`; export the app instead).
 */
export async function loadApp(spec: string, type?: AppType, cwd = process.cwd()): Promise<App> {
  const hash = spec.lastIndexOf('#');
  const file = resolve(cwd, hash > 0 ? spec.slice(0, hash) : spec);
  const exportName = hash > 0 ? spec.slice(hash + 1) : undefined;
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new TsgiError('TSGI_LOAD_APP', `tsgi: cannot load app: ${file} does not exist`);
  }
  let module: Record<string, unknown>;
  const listening = listeningServerCount();
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new TsgiError('TSGI_LOAD_APP', `tsgi: cannot load app: importing ${file} failed: ${detail}`, { cause: error });
  }
  // listen(port, host) binds after a DNS lookup tick: give it one before counting listeners.
  await new Promise((resolve) => setImmediate(resolve));
  assertNotListening(file, listening);
  const names = exportName !== undefined ? [exportName] : ['default', 'app'];
  const name = names.find((n) => module[n] !== undefined);
  if (name === undefined) {
    const exported = Object.keys(module);
    throw new TsgiError(
      'TSGI_LOAD_APP',
      `tsgi: cannot load app: ${file} has no export ${names.map((n) => `'${n}'`).join(' or ')}` +
        ` (it exports: ${exported.length > 0 ? exported.join(', ') : 'nothing'}); ` +
        `export your app function, e.g. "export default function app(environ, startResponse) { ... }"`,
    );
  }
  return toApp(module[name], type, `export '${name}' of ${file}`);
}
