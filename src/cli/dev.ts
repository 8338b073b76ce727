// The `tsgi dev` subcommand: options -> the development-only HTTP server, or a --watch supervisor.
//
// Loaded by main.ts with import() only for `tsgi dev`, so a CGI request never loads node:http or
// node:child_process (watch.ts).

import { dirname } from 'node:path';
import { closeApp } from '../core/app-close.js';
import { TsgiError } from '../core/errors.js';
import { createStopper, stopOnSignals } from '../daemon/lifecycle.js';
import { listenError } from '../daemon/listen.js';
import { startDevServer } from '../dev/server.js';
import { parseCommandArgs, portNumber } from './args.js';
import { loadApp, parseAppSpec } from './load-app.js';
import { appType } from './options.js';
import { runWatched, stopWithSupervisor } from './watch.js';

// For main.ts, to tell this module's TsgiError (the built chunk has its own copy of the core) from a crash.
export { TsgiError };

/**
 * Runs `tsgi dev <app> [--host H] [--port N] [--script-name P] [--type T] [--watch]`.
 * @param args - the arguments after `dev`.
 * @param cliPath - the file to re-run under `--watch` (the CLI's entry, dist/cli.cjs: this module
 *   may be a separate chunk, so its own `import.meta.url` would be the wrong file).
 * @returns once the server listens (or the watched child is started).
 * @throws {TsgiError} code `TSGI_USAGE` for a bad option, `TSGI_LOAD_APP` when the app cannot be
 *   loaded, `TSGI_LISTEN` when the port cannot be bound.
 */
export async function devCommand(args: string[], cliPath: string): Promise<void> {
  const { values, positionals } = parseCommandArgs('dev', args, {
    host: { type: 'string' },
    port: { type: 'string' },
    'script-name': { type: 'string' },
    type: { type: 'string' },
    watch: { type: 'boolean' },
  });
  const appSpec = positionals[0];
  if (appSpec === undefined || positionals.length > 1) {
    throw new TsgiError('TSGI_USAGE', 'tsgi: dev needs exactly one app module; see tsgi --help');
  }
  const host = values.host ?? '127.0.0.1';
  const port = values.port === undefined ? 8000 : portNumber(values.port, '--port');
  const type = appType(values.type, '--type');
  const log = (line: string): void => void process.stderr.write(line);
  if (values.watch === true) {
    // ESM modules cannot be unloaded: restart the whole process on change (watch.ts says why not node --watch).
    runWatched(dirname(parseAppSpec(appSpec).file), [cliPath, 'dev', ...args.filter((a) => a !== '--watch')], log);
    return;
  }
  const app = await loadApp(appSpec, type);
  const server = await startDevServer({ app, host, port, scriptName: values['script-name'] ?? '', log }).catch((error: unknown) => {
    throw listenError({ kind: 'tcp', host, port }, error);
  });
  log(`tsgi: development server on ${server.url} (development only: deploy behind nginx or Apache)\n`);
  // Stopped as the daemon is (docs/spec.md "Closing the app"): requests, then the app's close(),
  // within one deadline; --watch restarts run the app's hooks too. process.exit once closed: an
  // app's timers or pools must not keep a stopped dev server alive.
  const close = async (graceMs: number): Promise<void> => {
    const deadline = Date.now() + graceMs;
    await server.close();
    await closeApp(app, { timeoutMs: deadline - Date.now(), log, limit: `what was left of the dev server's ${graceMs} ms to stop` });
  };
  const stopper = createStopper([{ close, destroy: () => void server.close() }], log, DEV_GRACE_MS, {
    exit: (code) => process.exit(code),
  });
  const supervised = stopWithSupervisor(() => stopper.stop('the --watch supervisor is gone'));
  stopOnSignals(stopper, log, DEV_GRACE_MS, supervised ? { signals: ['SIGTERM', 'SIGQUIT'] } : {});
}

/** How long `tsgi dev` takes at most to stop on SIGTERM or Ctrl-C, the app's close() included, in ms. */
const DEV_GRACE_MS = 5000;
