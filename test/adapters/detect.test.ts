// Tests toApp/detectApp: which adapter each kind of module export gets, and the messages when none fits.

import http from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { describe, expect, it } from 'vitest';
import { assertNotListening, detectApp, explainListen, listeningServerCount, toApp } from '../../src/adapters/detect.js';
import type { App } from '../../src/core/types.js';
import { TestClient } from '../../src/testing/client.js';

const tsgiApp: App = (environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return ['tsgi'];
};

describe('detectApp rules (docs/adapters.md "Which adapter")', () => {
  it.each([
    ['a Hono app', () => new Hono(), 'fetch'],
    ['a { fetch } object', () => ({ fetch: () => new Response('') }), 'fetch'],
    ['a Fastify instance', () => Fastify(), 'node'],
    ['a Koa app', () => new Koa(), 'node'],
    ['an Express app', () => express(), 'node'],
    ['an http.Server with a request listener', () => http.createServer(() => {}), 'node'],
    ['a 2-parameter function', () => tsgiApp, 'tsgi'],
    ['a 0-parameter wrapper', () => (...args: Parameters<App>) => tsgiApp(...args), 'tsgi'],
    ['a 1-parameter function', () => (request: Request) => new Response(request.url), 'fetch'],
  ])('%s → %s', (_, make, type) => {
    expect(detectApp(make())?.type).toBe(type);
  });

  it('does not guess 3-parameter functions, plain objects or primitives', () => {
    expect(detectApp((_a: unknown, _b: unknown, _c: unknown) => {})).toBeUndefined();
    expect(detectApp({ port: 3000 })).toBeUndefined();
    expect(detectApp(http.createServer())).toBeUndefined(); // no request listener
    expect(detectApp(42)).toBeUndefined();
  });
});

describe('toApp', () => {
  it('serves each framework through its adapter', async () => {
    const hono = new Hono().get('/', (c) => c.text('hono'));
    const koa = new Koa().use((ctx) => {
      ctx.body = 'koa';
    });
    const fastify = Fastify().get('/', async () => 'fastify');
    const app = express().get('/', (_, res) => void res.send('express'));
    const server = http.createServer((_, res) => res.end('server'));
    const results = await Promise.all(
      [hono, koa, fastify, app, server, tsgiApp].map(async (value) => (await new TestClient(toApp(value)).get('/')).text()),
    );
    expect(results).toEqual(['hono', 'koa', 'fastify', 'express', 'server', 'tsgi']);
  });

  it('lets --type override the default for an ambiguous 2-parameter function', async () => {
    const listener = (_req: http.IncomingMessage, res: http.ServerResponse): void => void res.end('node');
    expect(detectApp(listener)?.type).toBe('tsgi');
    expect((await new TestClient(toApp(listener, 'node')).get('/')).text()).toBe('node');
    const fetchLike = (_request: Request, _env: unknown, _ctx: unknown) => new Response('fetch');
    expect((await new TestClient(toApp(fetchLike, 'fetch')).get('/')).text()).toBe('fetch');
  });

  it('throws TSGI_LOAD_APP with a way out for what it cannot take', () => {
    expect(() => toApp((_a: unknown, _b: unknown, _c: unknown) => {}, undefined, "export 'default' of app.mjs")).toThrow(
      /export 'default' of app.mjs is a function of 3 parameters.*--type node or --type fetch/,
    );
    expect(() => toApp({ port: 3000 })).toThrow(expect.objectContaining({ code: 'TSGI_LOAD_APP' }));
    expect(() => toApp(Promise.resolve(tsgiApp))).toThrow(/is a Promise; await it/);
    expect(() => toApp({}, 'tsgi')).toThrow(/a TSGI app is a function/);
    expect(() => toApp({}, 'node')).toThrow(/--type node expects/);
    expect(() => toApp('x', 'fetch')).toThrow(/--type fetch expects/);
  });
});

describe('modules that listen themselves', () => {
  it('explains the one-line change', () => {
    expect(explainListen('server.mjs')).toBe(
      'tsgi: server.mjs calls listen() itself; export the app instead of calling app.listen(): ' +
        'replace `app.listen(...)` with `export default app` (for a node:http server, export the server without listening)',
    );
  });

  it('notices a listening socket opened by the import', async () => {
    const before = listeningServerCount();
    const module = (await import(new URL('./fixtures/listens.mjs', import.meta.url).href)) as { stop(): Promise<void> };
    try {
      expect(() => assertNotListening('listens.mjs', before)).toThrow(
        expect.objectContaining({ code: 'TSGI_LOAD_APP', message: expect.stringContaining('export the app instead') }),
      );
    } finally {
      await module.stop();
    }
    // libuv releases the handle a few turns after the close callback.
    for (let i = 0; i < 200 && listeningServerCount() > before; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(() => assertNotListening('listens.mjs', before)).not.toThrow();
  });
});
