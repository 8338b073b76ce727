// Runs every example app (examples/*.mjs) through every in-tree host with the shared case table.

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toApp } from '../../src/adapters/detect.js';
import { startDevServer } from '../../src/dev/server.js';
import { CASES, EXAMPLES, type ExampleExpect } from './cases.js';
import { HOSTS, type HostContext, type HostResponse } from './hosts.js';

function check(res: HostResponse, want: ExampleExpect): void {
  expect(res.status).toBe(want.status);
  const text = res.body.toString('utf8');
  if (want.json !== undefined) expect(JSON.parse(text)).toEqual(want.json);
  if (want.text !== undefined) expect(text).toBe(want.text);
  if (want.emptyBody === true) expect(res.body.byteLength).toBe(0);
  if (want.bodyExcludes !== undefined) expect(text).not.toContain(want.bodyExcludes);
  for (const [name, value] of Object.entries(want.headers ?? {})) {
    const got = res.headers.find(([n]) => n.toLowerCase() === name)?.[1];
    if (typeof value === 'string') expect(got).toBe(value);
    else expect(got).toMatch(value);
  }
  if (want.setCookies !== undefined) {
    const cookies = res.headers.filter(([n]) => n.toLowerCase() === 'set-cookie').map(([, v]) => v);
    expect(cookies).toHaveLength(want.setCookies.length);
    want.setCookies.forEach((prefix, i) => expect(cookies[i]?.startsWith(`${prefix};`) || cookies[i] === prefix).toBe(true));
  }
  if (want.minChunks !== undefined && res.chunks !== undefined) expect(res.chunks).toBeGreaterThanOrEqual(want.minChunks);
  if (!res.wire) {
    // Nothing connection-specific may leak from a framework into a TSGI response.
    const names = res.headers.map(([n]) => n.toLowerCase());
    expect(names).not.toContain('transfer-encoding');
    expect(names).not.toContain('keep-alive');
    expect(names).not.toContain('connection');
  }
}

describe.each(EXAMPLES)('examples/$name', ({ file }) => {
  const context = {} as HostContext;
  beforeAll(async () => {
    const module = (await import(pathToFileURL(resolve(file)).href)) as { default: unknown };
    context.app = toApp(module.default, undefined, file);
    context.dev = await startDevServer({ app: context.app, port: 0, log: () => {} });
  });
  afterAll(() => context.dev.close());

  describe.each(HOSTS)('through $name', (host) => {
    it.each(CASES)('$name', async ({ request, expect: want }) => {
      check(await host.run(context, request), want);
    });
  });
});
