// Tests a request's input streams (FastCGI spec §3.3, §6.3, §6.4): params across records, order, the roles' streams.

import { describe, expect, it } from 'vitest';
import { Role } from '../../src/fastcgi/constants.js';
import { encodeParams, type ParamList } from '../../src/fastcgi/params.js';
import { RequestInput } from '../../src/fastcgi/request-input.js';

const LIMITS = { maxParamsBytes: 1024, maxBodyBytes: 1 << 20, bodyMemoryBytes: 64 * 1024 };

function owned(role: number = Role.FCGI_RESPONDER): { input: RequestInput; events: string[]; params: ParamList[] } {
  const events: string[] = [];
  const params: ParamList[] = [];
  const input = new RequestInput(
    {
      paramsEnded: (list) => {
        events.push('params');
        params.push(list);
      },
      bodiesEnded: () => events.push('bodies'),
    },
    LIMITS,
    7,
    role,
  );
  return { input, events, params };
}

const EMPTY = new Uint8Array(0);

async function text(body: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

describe('RequestInput', () => {
  it('decodes params once their empty record comes, a pair split across records included', () => {
    const { input, events, params } = owned();
    const bytes = encodeParams([['REQUEST_METHOD', 'POST'], ['PATH_INFO', '/x']]);
    input.params(bytes.subarray(0, 5));
    expect(input.awaiting).toBe('FCGI_PARAMS');
    input.params(bytes.subarray(5));
    expect(events).toEqual([]);
    input.params(EMPTY);
    expect(events).toEqual(['params']);
    expect(params[0]).toEqual(['REQUEST_METHOD', 'POST', 'PATH_INFO', '/x']);
    expect(input.awaiting).toBe('FCGI_STDIN');
  });

  it('refuses params past maxParamsBytes, counted across records, and params after their end', () => {
    const big = owned();
    big.input.params(new Uint8Array(600));
    expect(() => big.input.params(new Uint8Array(600))).toThrow(expect.objectContaining({ code: 'FCGI_PARAMS_TOO_LARGE' }));
    const { input } = owned();
    input.params(EMPTY);
    expect(() => input.params(encodeParams([['A', 'b']]))).toThrow(expect.objectContaining({ code: 'FCGI_BAD_PARAMS' }));
  });

  it('refuses FCGI_STDIN, even its empty record, before the params ended', () => {
    const { input } = owned();
    expect(() => input.stdin(EMPTY)).toThrow(expect.objectContaining({ code: 'FCGI_BAD_STDIN' }));
  });

  it('streams FCGI_STDIN into tsgi.input and says when the body is in', async () => {
    const { input, events } = owned();
    input.params(EMPTY);
    const body = input.makeInput(5);
    input.stdin(Buffer.from('he'));
    input.stdin(Buffer.from('llo'));
    expect(input.takesStdin).toBe(true);
    input.stdin(EMPTY);
    expect(input.takesStdin).toBe(false);
    expect(input.awaiting).toBeUndefined();
    expect(events).toEqual(['params', 'bodies']);
    expect(await text(body)).toBe('hello');
  });

  it("takes no FCGI_STDIN for an authorizer (spec §6.3): its body is empty whatever CONTENT_LENGTH says", async () => {
    const { input, events } = owned(Role.FCGI_AUTHORIZER);
    expect(input.takesStdin).toBe(false);
    input.params(EMPTY);
    expect(input.awaiting).toBeUndefined();
    const body = input.makeInput(10);
    input.stdin(Buffer.from('ignored'));
    expect(await text(body)).toBe('');
    expect(events).toEqual(['params']);
  });

  it("waits for a filter's FCGI_DATA after its FCGI_STDIN ended, and the other way round (spec §6.4)", async () => {
    const { input, events } = owned(Role.FCGI_FILTER);
    input.params(EMPTY);
    input.makeData(['FCGI_DATA_LENGTH', '0']);
    input.makeInput(0);
    input.stdin(EMPTY);
    expect(input.awaiting).toBe('FCGI_DATA');
    expect(input.takesData).toBe(true);
    input.data(EMPTY);
    expect(input.awaiting).toBeUndefined();
    expect(events).toEqual(['params', 'bodies']);
  });

  it("fails a filter's fastcgi.data that ends short of FCGI_DATA_LENGTH", async () => {
    const { input } = owned(Role.FCGI_FILTER);
    input.params(EMPTY);
    const data = input.makeData(['FCGI_DATA_LENGTH', '10']);
    input.data(Buffer.from('file'));
    input.data(EMPTY);
    await expect(text(data)).rejects.toThrow('ended after 4 of 10 bytes');
  });

  it("waits for both of a filter's streams, FCGI_DATA ending first (spec §6.4)", async () => {
    const { input, events } = owned(Role.FCGI_FILTER);
    input.params(EMPTY);
    expect(input.awaiting).toBe('FCGI_STDIN and FCGI_DATA');
    const data = input.makeData(['FCGI_DATA_LENGTH', '4']);
    input.makeInput(0);
    input.data(Buffer.from('file'));
    input.data(EMPTY);
    expect(input.awaiting).toBe('FCGI_STDIN');
    expect(events).toEqual(['params']);
    input.stdin(EMPTY);
    expect(events).toEqual(['params', 'bodies']);
    expect(await text(data)).toBe('file');
  });

  it('refuses FCGI_DATA before the params ended, and ignores it for a responder', () => {
    const filter = owned(Role.FCGI_FILTER);
    expect(() => filter.input.data(Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'FCGI_BAD_DATA' }));
    const { input } = owned();
    expect(input.takesData).toBe(false);
    expect(() => input.data(Buffer.from('x'))).not.toThrow();
  });

  it('fails both inputs for their readers when the request is aborted', async () => {
    const { input } = owned(Role.FCGI_FILTER);
    input.params(EMPTY);
    const body = input.makeInput(10);
    const data = input.makeData([]);
    const error = new Error('gone');
    input.fail(error);
    await expect(text(body)).rejects.toBe(error);
    await expect(text(data)).rejects.toBe(error);
  });
});
