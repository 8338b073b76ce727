// The TSGI examples answer a body over their readAll limit with 413, not the driver's generic 500.

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TestClient } from '../../src/testing/client.js';
import { validator } from '../../src/middleware/validator.js';

async function clientFor(file: string): Promise<TestClient> {
  const module = (await import(pathToFileURL(resolve(file)).href)) as { default: ConstructorParameters<typeof TestClient>[0] };
  return new TestClient(validator(module.default));
}

const MIB = 1024 * 1024;

describe('examples/hello.mjs POST /echo', () => {
  it('echoes a body of exactly 1 MiB', async () => {
    const res = await (await clientFor('examples/hello.mjs')).post('/echo', new Uint8Array(MIB), { 'Content-Type': 'application/octet-stream' });
    expect(res.status).toBe(200);
    expect(res.body.byteLength).toBe(MIB);
  });

  it('answers 413 (RFC 9110 §15.5.14) to a body one byte longer', async () => {
    const res = await (await clientFor('examples/hello.mjs')).post('/echo', new Uint8Array(MIB + 1), { 'Content-Type': 'application/octet-stream' });
    expect(res.status).toBe(413);
    expect(res.log).toEqual([]);
    expect(res.text()).toBe(`The body is over ${MIB} bytes.\n`);
  });
});

describe('examples/tsgi-app.mjs POST /form', () => {
  it('answers 413 with a JSON error to a form over 1 MiB', async () => {
    const body = `a=${'x'.repeat(MIB)}`;
    const res = await (await clientFor('examples/tsgi-app.mjs')).post('/form', body, { 'Content-Type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text())).toEqual({ error: 'request body too large' });
  });
});
