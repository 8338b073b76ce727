// Tests the CGI response output on real descriptors: a file, a FIFO that blocks, a FIFO nobody reads.

import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FdOutput } from '../../src/cgi/output.js';
import { RequestAbortedError } from '../../src/core/errors.js';

let dir: string;
const fds: number[] = [];
/** Sockets made over a test's descriptors: destroyed first (they close their descriptor themselves). */
const sockets: Socket[] = [];
function socketOver(fd: number): Socket {
  const socket = new Socket({ fd, readable: false, writable: true });
  socket.on('error', () => {}); // EPIPE is what the tests cause; FdOutput's own listener records it
  sockets.push(socket);
  return socket;
}
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsgi-output-'));
});
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const fd of fds.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      // closed by the socket that took it over
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

function open(path: string, flags: number): number {
  const fd = openSync(path, flags);
  fds.push(fd);
  return fd;
}

/** A FIFO with both ends open without blocking; the write end non-blocking, as a front server may leave it. */
function fifo(): { reader: number; writer: number } {
  const path = join(dir, 'fifo');
  execFileSync('mkfifo', [path]);
  const reader = open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = open(path, constants.O_WRONLY | constants.O_NONBLOCK);
  return { reader, writer };
}

/** 1 MiB that is not one repeated byte, so order and completeness both show. */
function pattern(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + (i >> 10)) & 0xff;
  return bytes;
}

/** Byte equality without a deep comparison per byte (slow on a MiB). */
function expectSameBytes(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length);
  expect(actual.equals(expected)).toBe(true);
}

describe('FdOutput', () => {
  it('writes every byte, in order, to a blocking descriptor and needs no drain', async () => {
    const path = join(dir, 'out');
    const fd = open(path, constants.O_WRONLY | constants.O_CREAT);
    const errors: unknown[] = [];
    const output = new FdOutput(fd, () => {
      throw new Error('no fallback expected');
    }, (error) => errors.push(error));
    const body = pattern(1 << 20);
    expect(output.write(Buffer.from('Status: 200 OK\r\n\r\n'))).toBe(true);
    expect(output.write(body)).toBe(true);
    await output.drain();
    await output.flush();
    expectSameBytes(readFileSync(path), Buffer.concat([Buffer.from('Status: 200 OK\r\n\r\n'), body]));
    expect(errors).toEqual([]);
  });

  it('hands the rest to the stream when a non-blocking descriptor is full (EAGAIN), keeping the order', async () => {
    const { reader, writer } = fifo();
    let opened = 0;
    let socket: Socket | undefined;
    const output = new FdOutput(
      writer,
      () => {
        opened++;
        // What process.stdout is for a pipe: a net.Socket over the descriptor.
        socket = socketOver(writer);
        return socket;
      },
      (error) => {
        throw error;
      },
    );
    const first = pattern(1 << 20);
    const second = Buffer.from('and the end\n');
    output.write(first); // more than a pipe holds: part goes directly, the rest through the socket
    output.write(second);
    expect(opened).toBe(1);
    const received: Buffer[] = [];
    const flushed = output.flush().then(() => socket?.end());
    const chunk = Buffer.alloc(65536);
    let total = 0;
    const deadline = Date.now() + 10_000;
    while (total < first.length + second.length && Date.now() < deadline) {
      let n = 0;
      try {
        n = readSync(reader, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
        await new Promise((resolve) => setImmediate(resolve)); // let the socket write more
        continue;
      }
      received.push(Buffer.from(chunk.subarray(0, n)));
      total += n;
    }
    await flushed;
    expectSameBytes(Buffer.concat(received), Buffer.concat([first, second]));
  });

  it('reports EPIPE once when nobody reads any more, then refuses writes and rejects drain', async () => {
    const { reader, writer } = fifo();
    closeSync(reader);
    fds.splice(fds.indexOf(reader), 1);
    const errors: unknown[] = [];
    const output = new FdOutput(writer, () => {
      throw new Error('no fallback expected');
    }, (error) => errors.push(error));
    expect(output.write(Buffer.from('Status: 200 OK\r\n\r\n'))).toBe(false);
    expect(output.write(Buffer.from('more'))).toBe(false);
    expect(errors).toHaveLength(1);
    expect((errors[0] as NodeJS.ErrnoException).code).toBe('EPIPE');
    await expect(output.drain()).rejects.toBeInstanceOf(RequestAbortedError);
    await output.flush(); // nothing pending: settles at once
  });

  it('reports a failure of the last bytes to flush() (EPIPE after the fallback took them)', async () => {
    const { reader, writer } = fifo();
    const errors: unknown[] = [];
    const output = new FdOutput(
      writer,
      () => socketOver(writer),
      (error) => errors.push(error),
    );
    output.write(pattern(1 << 20)); // fills the pipe: the rest waits in the socket
    closeSync(reader); // the front server goes away without reading
    fds.splice(fds.indexOf(reader), 1);
    await output.flush();
    expect(errors).toHaveLength(1);
    expect((errors[0] as NodeJS.ErrnoException).code).toBe('EPIPE');
  });
});
