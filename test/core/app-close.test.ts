// Tests closeApp: the server's side of an app's close() hook (docs/spec.md "Closing the app").

import { describe, expect, it } from 'vitest';
import { closeApp } from '../../src/core/app-close.js';
import type { App } from '../../src/core/types.js';

const respond: App = (_environ, startResponse) => (startResponse('200 OK', []), ['ok']);

/** A fresh app (a function of its own) with `close` as its hook. */
function appWith(close: App['close']): App {
  const app: App = (environ, startResponse) => respond(environ, startResponse);
  if (close !== undefined) app.close = close;
  return app;
}

function logger() {
  const lines: string[] = [];
  return { lines, log: (line: string) => void lines.push(line) };
}

describe('closeApp (docs/spec.md "Closing the app")', () => {
  it('does nothing for an app without close()', async () => {
    const { lines, log } = logger();
    expect(await closeApp(appWith(undefined), { timeoutMs: 1000, log })).toBe('none');
    expect(lines).toEqual([]);
  });

  it('calls close() as a method of the app, with no arguments, and awaits its promise', async () => {
    const { lines, log } = logger();
    const calls: unknown[] = [];
    let finished = false;
    const app = appWith(async function (this: unknown, ...args: unknown[]) {
      calls.push(this, args.length);
      await new Promise((resolve) => setTimeout(resolve, 20));
      finished = true;
    });
    expect(await closeApp(app, { timeoutMs: 5000, log })).toBe('closed');
    expect(calls).toEqual([app, 0]);
    expect(finished).toBe(true);
    expect(lines).toEqual([]);
  });

  it('takes a synchronous close() and any thenable', async () => {
    const { log } = logger();
    let ran = 0;
    expect(await closeApp(appWith(() => void ran++), { timeoutMs: 1000, log })).toBe('closed');
    const thenable = { then: (resolve: () => void) => (ran++, resolve()) };
    expect(await closeApp(appWith(() => thenable as unknown as Promise<void>), { timeoutMs: 1000, log })).toBe('closed');
    expect(ran).toBe(2);
  });

  it('logs a close() that throws as one line with where it threw, and does not rethrow', async () => {
    const { lines, log } = logger();
    const app = appWith(() => {
      throw new Error('pool gone\nsecond line');
    });
    expect(await closeApp(app, { timeoutMs: 1000, log })).toBe('failed');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tsgi: the app's close\(\) failed: Error: pool gone second line \(at .*app-close\.test\.ts:\d+:\d+\)\n$/);
  });

  it('logs a close() that rejects, with a value that is not an Error too', async () => {
    const { lines, log } = logger();
    expect(await closeApp(appWith(() => Promise.reject(new TypeError('flush failed'))), { timeoutMs: 1000, log })).toBe('failed');
    expect(await closeApp(appWith(() => Promise.reject('a string')), { timeoutMs: 1000, log })).toBe('failed');
    expect(lines[0]).toMatch(/^tsgi: the app's close\(\) failed: TypeError: flush failed/);
    expect(lines[1]).toBe("tsgi: the app's close() failed: a string\n");
  });

  it('stops waiting for a close() that hangs, says so naming the limit, and logs its later rejection', async () => {
    const { lines, log } = logger();
    let reject!: (error: Error) => void;
    const app = appWith(() => new Promise<void>((_, r) => (reject = r)));
    expect(await closeApp(app, { timeoutMs: 30, log, limit: 'what was left of the grace period' })).toBe('timeout');
    expect(lines).toEqual(["tsgi: the app's close() did not finish within 30 ms (what was left of the grace period); not waiting for it\n"]);
    reject(new Error('too late')); // handled: no unhandled rejection fails this test file
    await expect.poll(() => lines.length).toBe(2);
    expect(lines[1]).toMatch(/^tsgi: the app's close\(\) failed after the server stopped waiting for it: Error: too late/);
  });

  it('still calls close() when no time is left, without waiting for it', async () => {
    const { lines, log } = logger();
    let called = false;
    const app = appWith(() => ((called = true), new Promise<void>(() => {})));
    expect(await closeApp(app, { timeoutMs: -5, log })).toBe('timeout');
    expect(called).toBe(true);
    expect(lines[0]).toContain('did not finish within 0 ms (the time allowed)');
  });
});
