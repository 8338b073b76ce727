// Calls an app's optional close() hook from the server's side: once, bounded in time, errors logged (docs/spec.md "Closing the app").

import { isOutsideNode } from './describe.js';
import { isThenable } from './thenable.js';
import type { App } from './types.js';

/** How {@link closeApp} ended: no hook, the hook finished, it threw or rejected, or it was not waited for. */
export type AppCloseOutcome = 'none' | 'closed' | 'failed' | 'timeout';

/** Options for {@link closeApp}. */
export interface AppCloseOptions {
  /**
   * How long to wait for the hook, in milliseconds. At 0 or less it is still called (its synchronous
   * part runs) but not waited for. The caller passes what is left of its grace period.
   */
  timeoutMs: number;
  /** Log line sink (newline included): one line when the hook fails or is not waited for. */
  log: (line: string) => void;
  /** Names the limit in the timeout line, e.g. `"what was left of --grace-ms"`. Default `"the time allowed"`. */
  limit?: string;
}

/**
 * Calls `app.close()` if the app has one (TSGI 1.0 "Closing the app"): as a method of the app, with
 * no arguments, awaiting it when it returns a promise (any thenable), for at most
 * `options.timeoutMs`. A hook that throws or rejects is logged as one line, the error's message
 * and where the app threw it; one that takes longer is logged and left running (a rejection after
 * that is logged if the process is still there, never left unhandled). Nothing is rethrown: the
 * caller's stop goes on, with its own exit status.
 *
 * It does not remember calls: a server calls it once per app (FastCgiServer keeps the promise).
 * @param app - the app the server was serving.
 * @param options - see {@link AppCloseOptions}.
 * @returns how it ended; never rejects.
 * @see docs/spec.md "Closing the app"
 * @example
 * await closeApp(app, { timeoutMs: deadline - Date.now(), log, limit: 'what was left of --grace-ms' });
 */
export async function closeApp(app: App, options: AppCloseOptions): Promise<AppCloseOutcome> {
  let close: unknown;
  try {
    close = (app as { close?: unknown }).close;
  } catch (error) {
    return failed(options, error); // a getter that throws is the app's error too
  }
  if (typeof close !== 'function') return 'none';
  let result: unknown;
  try {
    result = (close as () => unknown).call(app);
  } catch (error) {
    return failed(options, error);
  }
  if (!isThenable(result)) return 'closed';
  let timer: NodeJS.Timeout | undefined;
  let waiting = true;
  const settled = Promise.resolve(result).then(
    (): AppCloseOutcome => 'closed',
    (error: unknown): AppCloseOutcome => failed(options, error, waiting ? '' : ' after the server stopped waiting for it'),
  );
  const late = new Promise<AppCloseOutcome>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, options.timeoutMs));
  });
  const outcome = await Promise.race([settled, late]);
  waiting = false;
  clearTimeout(timer);
  if (outcome === 'timeout') {
    const ms = Math.max(0, Math.round(options.timeoutMs));
    options.log(`tsgi: the app's close() did not finish within ${ms} ms (${options.limit ?? 'the time allowed'}); not waiting for it\n`);
  }
  return outcome;
}

/** Logs a failed hook as one line: the message and the first frame outside Node's own code. */
function failed(options: AppCloseOptions, error: unknown, suffix = ''): 'failed' {
  options.log(`tsgi: the app's close() failed${suffix}: ${oneLine(error)}\n`);
  return 'failed';
}

/**
 * `Name: message (at file:line:col)` for an Error, `String(value)` for anything else; never throws.
 * One frame is where the app threw, which is what a reader needs; the rest of a stack through
 * framework internals (Fastify's hook runner) is noise in a shutdown log.
 */
function oneLine(error: unknown): string {
  try {
    if (!(error instanceof Error)) return String(error).replace(/\s*\n\s*/g, ' ');
    const frame = (error.stack ?? '')
      .split('\n')
      .find(isOutsideNode);
    const location = frame === undefined ? undefined : (/\((.+)\)$/.exec(frame)?.[1] ?? frame.trim().slice(3));
    const where = location === undefined ? '' : ` (at ${location})`;
    return `${error.name}: ${error.message}`.replace(/\s*\n\s*/g, ' ') + where;
  } catch {
    return 'a thrown value that cannot be printed';
  }
}

