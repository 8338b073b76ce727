// Tests when the FastCGI daemon calls the app's close() hook: after its last request, once, within the grace period, never on an immediate stop.

import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/core/types.js';
import { createStopper } from '../../src/daemon/lifecycle.js';
import { FastCgiServer } from '../../src/daemon/server.js';
import { FastCgiClient } from '../../src/fastcgi/client.js';

const PARAMS = { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/', SERVER_NAME: 'x', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' };

let servers: FastCgiServer[] = [];
afterEach(() => {
  for (const server of servers) server.destroy();
  servers = [];
});

/**
 * An app whose requests wait for `release()` (after logging 'request started'), with `close` as its
 * hook; `events` records what happened in order.
 */
function gatedApp(close: (events: string[]) => void | Promise<void>) {
  const events: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const app: App = async (_environ, startResponse) => {
    events.push('request started');
    await gate;
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    events.push('request answered');
    return ['done'];
  };
  app.close = () => close(events);
  return { app, events, release };
}

async function serve(app: App) {
  const log: string[] = [];
  const server = new FastCgiServer({ app, log: (line) => void log.push(line) });
  servers.push(server);
  const bound = await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
  if (bound.kind !== 'tcp') throw new Error('expected tcp');
  return { server, log, address: { host: bound.host, port: bound.port } };
}

async function body(res: { body: AsyncIterable<Uint8Array> }): Promise<string> {
  let text = '';
  for await (const chunk of res.body) text += Buffer.from(chunk).toString();
  return text;
}

describe('FastCgiServer.close and the app\'s close() (docs/spec.md "Closing the app")', () => {
  it('calls close() once, after the request in flight has been answered, and resolves after it', async () => {
    const { app, events, release } = gatedApp(async (events) => {
      events.push('close started');
      await new Promise((resolve) => setTimeout(resolve, 20));
      events.push('close finished');
    });
    const { server, address } = await serve(app);
    const client = await FastCgiClient.connect(address);
    const response = client.request({ params: PARAMS });
    await expect.poll(() => events).toContain('request started');
    const closing = server.close(10_000);
    const again = server.close(10_000); // a second caller waits for the same stop
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events).toEqual(['request started']); // not while the request runs
    release();
    expect(await body(await response)).toBe('done');
    await Promise.all([closing, again]);
    expect(events).toEqual(['request started', 'request answered', 'close started', 'close finished']);
  });

  it('does not wait for a close() that hangs past the grace period, and says so', async () => {
    const { app, events } = gatedApp((events) => {
      events.push('close started');
      return new Promise<void>(() => {});
    });
    const { server, log } = await serve(app);
    await server.close(100);
    expect(events).toEqual(['close started']);
    expect(log.join('')).toMatch(/the app's close\(\) did not finish within \d+ ms \(what was left of the 100 ms grace period\); not waiting for it/);
  });

  it('still calls close() when a request outlived the grace period and was dropped', async () => {
    const { app, events } = gatedApp((events) => void events.push('close called'));
    const { server, log, address } = await serve(app);
    const client = await FastCgiClient.connect(address);
    const response = client.request({ params: PARAMS }).catch(() => 'dropped');
    await expect.poll(() => events).toContain('request started');
    await server.close(100);
    expect(await response).toBe('dropped');
    expect(events).toEqual(['request started', 'close called']);
    expect(log.join('')).toContain('1 connection(s) still busy after 100 ms; closing them');
  });

  it('keeps the first close()\'s deadline when it is called again with a longer grace period', async () => {
    const { app, events } = gatedApp((events) => void events.push('close called'));
    const { server, log, address } = await serve(app);
    const client = await FastCgiClient.connect(address);
    const response = client.request({ params: PARAMS }).catch(() => 'dropped');
    await expect.poll(() => events).toContain('request started');
    const started = Date.now();
    const first = server.close(100);
    await server.close(60_000); // the request never ends: only the first deadline ends the wait
    await first;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await response).toBe('dropped');
    expect(log.join('')).toContain('1 connection(s) still busy after 100 ms; closing them');
  });

  it('logs a close() that throws, and the stop still ends with exit status 0', async () => {
    const { app } = gatedApp(() => {
      throw new Error('pool gone');
    });
    const { server, log } = await serve(app);
    const exits: number[] = [];
    const stopper = createStopper([server], (line) => void log.push(line), 1000, { exit: (code) => void exits.push(code) });
    expect(stopper.stop('SIGTERM')).toBe(true);
    await expect.poll(() => exits).toEqual([0]);
    expect(log.filter((line) => line.includes("the app's close() failed"))).toEqual([
      expect.stringMatching(/^tsgi: the app's close\(\) failed: Error: pool gone \(at .*app-close\.test\.ts:\d+:\d+\)\n$/),
    ]);
  });

  it('never calls close() on an immediate stop (destroy, a second signal)', async () => {
    const { app, events } = gatedApp((events) => void events.push('close called'));
    const { server } = await serve(app);
    const exits: number[] = [];
    const stopper = createStopper([server], () => {}, 1000, { exit: (code) => void exits.push(code) });
    stopper.stopNow('SIGTERM again');
    expect(stopper.stop('SIGTERM')).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(exits).toEqual([1]);
    expect(events).toEqual([]);
  });

  it('exits at once on stop-now while a graceful stop waits for a hanging close()', async () => {
    const { app, events } = gatedApp((events) => {
      events.push('close started');
      return new Promise<void>(() => {});
    });
    const { server } = await serve(app);
    const exits: number[] = [];
    const stopper = createStopper([server], () => {}, 30_000, { exit: (code) => void exits.push(code) });
    stopper.stop('SIGTERM');
    await expect.poll(() => events).toEqual(['close started']);
    stopper.stopNow('SIGTERM again');
    expect(exits).toEqual([1]);
  });
});
