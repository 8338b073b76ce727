// Tests the CGI request body read from real descriptors (RFC 3875 §4.2): a file, a non-blocking FIFO.

import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FdBody } from '../../src/cgi/body.js';
import { RequestAbortedError } from '../../src/core/errors.js';

let dir: string;
const fds: number[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsgi-body-'));
});
afterEach(() => {
  for (const fd of fds.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      // closed by the socket that took it over
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** 1 MiB that is not one repeated byte, so order and completeness both show. */
function pattern(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + (i >> 10)) & 0xff;
  return bytes;
}

/** A file holding `bytes`, opened for reading, as a front server's stdin could be. */
function fileFd(bytes: Buffer): number {
  const path = join(dir, 'body');
  writeFileSync(path, bytes);
  const fd = openSync(path, 'r');
  fds.push(fd);
  return fd;
}

function noStream(): never {
  throw new Error('no fallback stream expected');
}

/** Byte equality without a deep comparison per byte (slow on a MiB). */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.byteLength).toBe(expected.byteLength);
  expect(Buffer.from(actual).equals(Buffer.from(expected))).toBe(true);
}

describe('FdBody', () => {
  it('reads exactly CONTENT_LENGTH bytes, never past them (RFC 3875 §4.2)', async () => {
    const bytes = pattern(300_000);
    const fd = fileFd(Buffer.concat([bytes, Buffer.from('next request')]));
    const body = new FdBody(fd, bytes.length, noStream);
    expectSameBytes(await body.input.readAll(), bytes);
    // The descriptor's offset is right after the body: nothing beyond it was consumed.
    const after = Buffer.alloc(4);
    readSync(fd, after);
    expect(after.toString()).toBe('next');
  });

  it('fails the read with RequestAbortedError when the body ends short of CONTENT_LENGTH', async () => {
    const fd = fileFd(Buffer.from('only this'));
    const body = new FdBody(fd, 100, noStream);
    await expect(body.input.readAll()).rejects.toBeInstanceOf(RequestAbortedError);
  });

  it('reads nothing at all without a body', async () => {
    const body = new FdBody(987_654, 0, noStream); // not a descriptor: any read would fail
    expect(await body.input.read()).toBeNull();
    expect(await body.drainRest(1000)).toBe(true);
  });

  it('stops reading while the app does not read (backpressure), then delivers everything', async () => {
    const bytes = pattern(1 << 20);
    const body = new FdBody(fileFd(bytes), bytes.length, noStream);
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setTimeout(resolve, 1));
    // Paused at the 64 KiB high-water mark; one read of 64 KiB may have been under way.
    expect(body.input.bytesReceived).toBeGreaterThan(0);
    expect(body.input.bytesReceived).toBeLessThanOrEqual(2 * 65536);
    expectSameBytes(await body.input.readAll(), bytes);
  });

  it('drainRest reads and drops what the app left, then resolves', async () => {
    const bytes = pattern(500_000);
    const fd = fileFd(Buffer.concat([bytes, Buffer.from('tail')]));
    const body = new FdBody(fd, bytes.length, noStream);
    expect(await body.drainRest(10_000)).toBe(true);
    expect(body.input.bytesReceived).toBe(bytes.length);
    const after = Buffer.alloc(4);
    readSync(fd, after);
    expect(after.toString()).toBe('tail');
  });

  it('never reads past CONTENT_LENGTH, even after the input failed', async () => {
    const fd = fileFd(Buffer.concat([pattern(200_000), Buffer.from('tail')]));
    const body = new FdBody(fd, 200_000, noStream);
    body.input.fail(new RequestAbortedError('the client went away')); // while the first read is pending
    expect(await body.drainRest(10_000)).toBe(true);
    const after = Buffer.alloc(4);
    readSync(fd, after);
    expect(after.toString()).toBe('tail');
  });

  it('reads through the stream when the descriptor is non-blocking and empty (EAGAIN)', async () => {
    const path = join(dir, 'fifo');
    execFileSync('mkfifo', [path]);
    const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    fds.push(reader);
    const writer = openSync(path, constants.O_WRONLY);
    fds.push(writer);
    let opened = 0;
    const body = new FdBody(reader, 11, () => {
      opened++;
      // What process.stdin is for a pipe: a net.Socket over the descriptor.
      return new Socket({ fd: reader, readable: true, writable: false });
    });
    const all = body.input.readAll();
    await new Promise((resolve) => setTimeout(resolve, 20)); // the first read found nothing
    writeSync(writer, Buffer.from('hello world'));
    expect(Buffer.from(await all).toString()).toBe('hello world');
    expect(opened).toBe(1);
    body.stop();
  });
});
