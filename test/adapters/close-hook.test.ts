// Tests the close() toApp gives each kind of export: Fastify's onClose hooks, an http.Server's 'close', an export's own close().

import http from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { describe, expect, it } from 'vitest';
import { toApp } from '../../src/adapters/detect.js';
import { closeApp } from '../../src/core/app-close.js';
import type { App } from '../../src/core/types.js';
import { TestClient } from '../../src/testing/client.js';

const tsgiApp: App = (_environ, startResponse) => (startResponse('200 OK', []), ['tsgi']);

describe('toApp(…).close (docs/adapters.md "Closing the app")', () => {
  it("runs a Fastify app's preClose and onClose hooks once, after it served", async () => {
    const events: string[] = [];
    const fastify = Fastify().get('/', async () => 'fastify');
    fastify.addHook('preClose', async () => void events.push('preClose'));
    fastify.addHook('onClose', async () => void events.push('onClose'));
    await fastify.ready();
    const app = toApp(fastify);
    expect(await (await new TestClient(app).get('/')).text()).toBe('fastify');
    expect(typeof app.close).toBe('function');
    await Promise.all([app.close?.(), app.close?.()]);
    await app.close?.();
    expect(events).toEqual(['preClose', 'onClose']);
  });

  it("passes a Fastify onClose hook's error on to the server, which logs it", async () => {
    const fastify = Fastify();
    fastify.addHook('onClose', async () => {
      throw new Error('pool gone');
    });
    await fastify.ready();
    const app = toApp(fastify);
    await expect(app.close?.()).rejects.toThrow('pool gone');
    const lines: string[] = [];
    // The hook ran once: the server's call gets the same rejection and logs it.
    expect(await closeApp(app, { timeoutMs: 1000, log: (line) => void lines.push(line) })).toBe('failed');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tsgi: the app's close\(\) failed: Error: pool gone \(at .*close-hook\.test\.ts:\d+:\d+\)\n$/);
  });

  it("makes an http.Server that never listened emit 'close' once, without ERR_SERVER_NOT_RUNNING reaching the server", async () => {
    const server = http.createServer((_req, res) => res.end('server'));
    let closes = 0;
    server.on('close', () => void closes++);
    const app = toApp(server);
    expect(await (await new TestClient(app).get('/')).text()).toBe('server');
    await app.close?.();
    expect(closes).toBe(1);
    await app.close?.(); // Node's own close() would emit 'close' again on a server that never listened
    await new Promise((resolve) => setImmediate(resolve));
    expect(closes).toBe(1);
    expect(server.listening).toBe(false);
  });

  it("calls the export's own close() for a { fetch, close } object and a TSGI function, keeping `this`", async () => {
    const seen: unknown[] = [];
    const worker = {
      fetch: () => new Response('fetch'),
      async close(this: unknown) {
        seen.push(this);
      },
    };
    const app = toApp(worker);
    expect(await (await new TestClient(app).get('/')).text()).toBe('fetch');
    await app.close?.();
    expect(seen).toEqual([worker]);

    const own: App = (environ, startResponse) => tsgiApp(environ, startResponse);
    own.close = () => void seen.push('tsgi');
    expect(toApp(own)).toBe(own);
    await toApp(own).close?.();
    expect(seen).toEqual([worker, 'tsgi']);
  });

  it('gives Express, Koa, Hono and a bare listener no close(): they have no way to be closed', () => {
    const listener = (_req: http.IncomingMessage, res: http.ServerResponse): void => void res.end('node');
    for (const value of [express(), new Koa(), new Hono(), listener]) expect(toApp(value).close).toBeUndefined();
    expect(toApp(listener, 'node').close).toBeUndefined();
  });

  it('calls a close() the user gave an Express, Koa or Hono app', async () => {
    const closed: string[] = [];
    const apps = { express: express(), koa: new Koa(), hono: new Hono() };
    for (const [name, value] of Object.entries(apps)) {
      (value as unknown as { close: () => void }).close = () => void closed.push(name);
      await toApp(value).close?.();
    }
    expect(closed).toEqual(['express', 'koa', 'hono']);
  });
});
