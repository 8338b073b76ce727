// Resolves "path/to/module[#export]" to a TSGI app for the CLI, with one clear message per failure.

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TsgiError } from '../core/errors.js';
import type { App } from '../core/types.js';

/**
 * Imports the app module and picks the app: the named export after `#`, else `default`, else `app`.
 * @param spec - `"./app.mjs"` or `"./app.mjs#myApp"`, relative to `cwd`.
 * @throws {TsgiError} code `TSGI_LOAD_APP` whose message names the file and what was expected:
 *   the file is missing, the import failed, the export is missing, or it is not a function.
 */
export async function loadApp(spec: string, cwd = process.cwd()): Promise<App> {
  const hash = spec.lastIndexOf('#');
  const file = resolve(cwd, hash > 0 ? spec.slice(0, hash) : spec);
  const exportName = hash > 0 ? spec.slice(hash + 1) : undefined;
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new TsgiError('TSGI_LOAD_APP', `tsgi: cannot load app: ${file} does not exist`);
  }
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new TsgiError('TSGI_LOAD_APP', `tsgi: cannot load app: importing ${file} failed: ${detail}`, { cause: error });
  }
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
  const app = module[name];
  if (typeof app !== 'function') {
    throw new TsgiError(
      'TSGI_LOAD_APP',
      `tsgi: cannot load app: export '${name}' of ${file} is ${app === null ? 'null' : typeof app}, ` +
        `expected a TSGI app function (environ, startResponse) => body`,
    );
  }
  return app as App;
}
