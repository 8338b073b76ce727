// Tests tsgi.input: bounded by CONTENT_LENGTH, pull-driven with backpressure (RFC 3875 §4.2).

import { describe, expect, it } from 'vitest';
import { RequestAbortedError } from '../../src/core/errors.js';
import { BodyInput } from '../../src/core/input.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const str = (data: Uint8Array | null): string | null => (data === null ? null : new TextDecoder().decode(data));

describe('BodyInput', () => {
  it('ends after CONTENT_LENGTH bytes and drops what comes after', async () => {
    const input = new BodyInput({ contentLength: 5 });
    input.push(bytes('hel'));
    input.push(bytes('lo, and more'));
    expect(str(await input.readAll())).toBe('hello');
    expect(input.complete).toBe(true);
  });

  it('with no length, reads until the transport ends (nginx fastcgi_request_buffering off)', async () => {
    const input = new BodyInput({ contentLength: undefined });
    const all = input.readAll();
    input.push(bytes('a'));
    input.push(bytes('b'));
    input.end();
    expect(str(await all)).toBe('ab');
  });

  it('is empty at once for CONTENT_LENGTH 0', async () => {
    expect(await new BodyInput({ contentLength: 0 }).read()).toBeNull();
  });

  it('rejects with RequestAbortedError when the stream ends short of CONTENT_LENGTH', async () => {
    const input = new BodyInput({ contentLength: 10 });
    input.push(bytes('abc'));
    input.end();
    expect(str(await input.read())).toBe('abc');
    await expect(input.read()).rejects.toBeInstanceOf(RequestAbortedError);
  });

  it('pauses the source above the high-water mark and resumes once the app reads', async () => {
    const calls: string[] = [];
    const input = new BodyInput({
      contentLength: undefined,
      highWaterMark: 4,
      source: { pause: () => calls.push('pause'), resume: () => calls.push('resume') },
    });
    input.push(bytes('12'));
    expect(calls).toEqual([]);
    input.push(bytes('34'));
    expect(calls).toEqual(['pause']);
    expect(input.paused).toBe(true);
    expect(str(await input.read())).toBe('12');
    expect(calls).toEqual(['pause', 'resume']);
  });

  it('iterates with for await', async () => {
    const input = new BodyInput({ contentLength: 6 });
    setTimeout(() => {
      input.push(bytes('abc'));
      input.push(bytes('def'));
    }, 1);
    const parts: string[] = [];
    for await (const chunk of input) parts.push(str(chunk) as string);
    expect(parts).toEqual(['abc', 'def']);
  });

  it('refuses a body over readAll(maxBytes) with TSGI_BODY_TOO_LARGE', async () => {
    const input = new BodyInput({ contentLength: 8 });
    input.push(bytes('12345678'));
    await expect(input.readAll(4)).rejects.toMatchObject({ code: 'TSGI_BODY_TOO_LARGE' });
  });

  it('after discard(), buffers nothing more and releases the source', () => {
    const calls: string[] = [];
    const input = new BodyInput({
      contentLength: undefined,
      highWaterMark: 2,
      source: { pause: () => calls.push('pause'), resume: () => calls.push('resume') },
    });
    input.push(bytes('123'));
    input.discard();
    input.push(bytes('456'));
    expect(calls).toEqual(['pause', 'resume']);
    expect(input.bytesReceived).toBe(6);
  });

  it('does not lose bytes pushed while a read is settling (the last push also ends the body)', async () => {
    const input = new BodyInput({ contentLength: 3 });
    const pending = input.read();
    input.push(bytes('abc'));
    expect(str(await pending)).toBe('abc');
  });

  it('keeps a complete body readable after an abort', async () => {
    const input = new BodyInput({ contentLength: 2 });
    input.push(bytes('ok'));
    input.fail(new RequestAbortedError());
    expect(str(await input.readAll())).toBe('ok');
  });

  it('serves overlapping reads in order, each with its own chunk', async () => {
    const input = new BodyInput({ contentLength: undefined });
    const reads = [input.read(), input.read(), input.read(), input.read()];
    input.push(bytes('a'));
    input.push(bytes('b'));
    input.push(bytes('c'));
    input.end();
    expect((await Promise.all(reads)).map(str)).toEqual(['a', 'b', 'c', null]);
  });

  it('rejects a waiting read when the request is aborted, and later reads too', async () => {
    const input = new BodyInput({ contentLength: 10 });
    const waiting = input.read();
    const error = new RequestAbortedError();
    input.fail(error);
    await expect(waiting).rejects.toBe(error);
    await expect(input.read()).rejects.toBe(error);
  });

  it('reads a spooled body back in order, from memory then the temp file, while more arrives', async () => {
    const input = new BodyInput({ contentLength: undefined, spool: { memoryBytes: 20 } });
    const expected: string[] = [];
    for (let i = 0; i < 10; i++) {
      const text = `chunk-${i};`; // 8 bytes: two fit in memory, the rest go to the file
      expected.push(text);
      input.push(bytes(text));
    }
    expect(input.memoryBytes).toBe(16);
    const parts: string[] = [];
    const iterator = input[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) {
      const result = await iterator.next();
      if (result.done !== true) parts.push(str(result.value) as string);
    }
    input.push(bytes('tail'));
    input.end();
    for (let result = await iterator.next(); result.done !== true; result = await iterator.next()) parts.push(str(result.value) as string);
    expect(parts.join('')).toBe(`${expected.join('')}tail`);
  });
});
