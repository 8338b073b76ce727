// Tests stream splitting, padding and write coalescing of the FastCGI record writer (FastCGI spec §3.3, §5.3).
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { ProtocolStatus, RecordType } from '../../src/fastcgi/constants.js';
import { RecordParser } from '../../src/fastcgi/parser.js';
import { encodeUnknownTypeBody } from '../../src/fastcgi/record.js';
import { encodeStream, RecordWriter, type ByteSink } from '../../src/fastcgi/writer.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

/** Models a corkable socket: writes while corked leave together as one flush (one writev). */
class FakeSink implements ByteSink {
  flushes: Uint8Array[][] = [];
  writes = 0;
  corks = 0;
  #corked = 0;
  #pending: Uint8Array[] = [];
  constructor(private readonly accept = true) {}
  write(chunk: Uint8Array): boolean {
    this.writes++;
    if (this.#corked > 0) this.#pending.push(chunk);
    else this.flushes.push([chunk]);
    return this.accept;
  }
  cork(): void {
    this.corks++;
    this.#corked++;
  }
  uncork(): void {
    if (--this.#corked === 0 && this.#pending.length > 0) {
      this.flushes.push(this.#pending);
      this.#pending = [];
    }
  }
  bytes(): Buffer {
    return Buffer.concat(this.flushes.flat());
  }
}

/** A sink without cork, recording each write. */
class PlainSink implements ByteSink {
  writes: Uint8Array[] = [];
  write(chunk: Uint8Array): boolean {
    this.writes.push(chunk);
    return true;
  }
}

function parse(bytes: Uint8Array): Array<{ type: number; id: number; length: number }> {
  const out: Array<{ type: number; id: number; length: number }> = [];
  new RecordParser((type, id, content) => out.push({ type, id, length: content.length })).push(bytes);
  return out;
}

describe('encodeStream (FastCGI spec §3.3, §5.3)', () => {
  it.each([
    { length: 0, headers: [] },
    { length: 1, headers: ['0106000100010700'] },
    { length: 8, headers: ['0106000100080000'] },
    { length: 65535, headers: ['01060001ffff0100'] },
    { length: 65536, headers: ['01060001ffff0100', '0106000100010700'] },
    { length: 66000, headers: ['01060001ffff0100', '01060001 01d1 0700'.replace(/ /g, '')] },
  ])('splits $length bytes into records of at most 65535, padded to 8', ({ length, headers }) => {
    const data = new Uint8Array(length).map((_, i) => i & 0xff);
    const pieces = encodeStream(RecordType.FCGI_STDOUT, 1, data);
    const all = Buffer.concat(pieces);
    const found: string[] = [];
    let at = 0;
    while (at < all.length) {
      found.push(hex(all.subarray(at, at + 8)));
      const contentLength = all.readUInt16BE(at + 4);
      const padding = all[at + 6]!;
      expect(all.subarray(at + 8 + contentLength, at + 8 + contentLength + padding).every((b) => b === 0)).toBe(true);
      at += 8 + contentLength + padding;
    }
    expect(found).toEqual(headers);
    expect(all.length % 8).toBe(0);
    const contents = Buffer.concat(
      pieces.filter((piece) => piece.buffer === data.buffer),
    );
    expect(contents.equals(Buffer.from(data))).toBe(true);
  });

  it('shares one zero buffer for padding across records', () => {
    const a = encodeStream(RecordType.FCGI_STDOUT, 1, new Uint8Array(1));
    const b = encodeStream(RecordType.FCGI_STDERR, 2, new Uint8Array(3));
    expect(a[2]!.buffer).toBe(b[2]!.buffer);
    expect(a[2]!.length).toBe(7);
    expect(b[2]!.length).toBe(5);
  });
});

describe('RecordWriter', () => {
  it('sends a small response (STDOUT, empty STDOUT, END_REQUEST) as one buffer in one write, at the end of the turn', async () => {
    const sink = new FakeSink();
    const writer = new RecordWriter(sink);
    expect(writer.stream(RecordType.FCGI_STDOUT, 1, Buffer.from('Status: 200 OK\r\n\r\nhi'))).toBe(true);
    expect(writer.endStream(RecordType.FCGI_STDOUT, 1)).toBe(true);
    expect(writer.endRequest(1, 0, ProtocolStatus.FCGI_REQUEST_COMPLETE)).toBe(true);
    expect(sink.writes).toBe(0);
    await tick();
    expect(sink.writes).toBe(1);
    expect(sink.flushes).toHaveLength(1);
    expect(parse(sink.bytes())).toEqual([
      { type: RecordType.FCGI_STDOUT, id: 1, length: 20 },
      { type: RecordType.FCGI_STDOUT, id: 1, length: 0 },
      { type: RecordType.FCGI_END_REQUEST, id: 1, length: 8 },
    ]);
  });

  it('keeps one write when the response ends after awaits, from a socket-like callback', async () => {
    // A socket 'data' callback writes STDOUT at once; END_REQUEST follows a few awaits later (the
    // driver's async function). Both belong to one turn: ticks queued from a macrotask run before
    // its microtasks, so a plain nextTick flush would send them apart.
    const sink = new FakeSink();
    const writer = new RecordWriter(sink);
    await new Promise<void>((resolve) => {
      setImmediate(() => {
        writer.stream(RecordType.FCGI_STDOUT, 1, Buffer.from('Status: 200 OK\r\n\r\nhi'));
        void (async () => {
          for (let i = 0; i < 5; i++) await null;
          writer.endStream(RecordType.FCGI_STDOUT, 1);
          writer.endRequest(1, 0, ProtocolStatus.FCGI_REQUEST_COMPLETE);
        })();
        setImmediate(resolve);
      });
    });
    expect(sink.writes).toBe(1);
    expect(parse(sink.bytes()).map((record) => record.type)).toEqual([
      RecordType.FCGI_STDOUT,
      RecordType.FCGI_STDOUT,
      RecordType.FCGI_END_REQUEST,
    ]);
  });

  it('flush() sends the queue at once', () => {
    const sink = new FakeSink();
    const writer = new RecordWriter(sink);
    writer.endStream(RecordType.FCGI_STDOUT, 1);
    writer.flush();
    expect(sink.writes).toBe(1);
    expect(hex(sink.bytes())).toBe('0106000100000000');
  });

  it('writes END_REQUEST as {FCGI_END_REQUEST, 1, {0, FCGI_REQUEST_COMPLETE}} (FastCGI spec §5.5)', async () => {
    const sink = new FakeSink();
    new RecordWriter(sink).endRequest(1, 0, ProtocolStatus.FCGI_REQUEST_COMPLETE);
    await tick();
    expect(hex(sink.bytes())).toBe('0103000100080000' + '0000000000000000');
  });

  it('writes management records on the null request id (FastCGI spec §4.2)', async () => {
    const sink = new FakeSink();
    new RecordWriter(sink).record(RecordType.FCGI_UNKNOWN_TYPE, 0, encodeUnknownTypeBody(42));
    await tick();
    expect(hex(sink.bytes())).toBe('010b000000080000' + '2a00000000000000');
  });

  it('pads small content with zeros, even in a reused allocation', async () => {
    const sink = new FakeSink();
    new RecordWriter(sink).stream(RecordType.FCGI_STDERR, 3, Buffer.from('oops\n'));
    await tick();
    expect(hex(sink.bytes())).toBe('0107000300050300' + Buffer.from('oops\n').toString('hex') + '000000');
  });

  it('writes large content as pieces, without copying, under one cork', async () => {
    const sink = new FakeSink();
    const data = new Uint8Array(100_000).fill(7);
    new RecordWriter(sink).stream(RecordType.FCGI_STDOUT, 1, data);
    await tick();
    expect(sink.flushes).toHaveLength(1);
    expect(sink.flushes[0]!.some((piece) => piece.buffer === data.buffer)).toBe(true);
    expect(parse(sink.bytes())).toEqual([
      { type: RecordType.FCGI_STDOUT, id: 1, length: 65535 },
      { type: RecordType.FCGI_STDOUT, id: 1, length: 100_000 - 65535 },
    ]);
  });

  it('writes 66000 bytes as 2 padded records to a sink without cork', () => {
    const sink = new PlainSink();
    const writer = new RecordWriter(sink);
    writer.stream(RecordType.FCGI_STDOUT, 1, new Uint8Array(66000));
    writer.flush();
    const bytes = Buffer.concat(sink.writes);
    expect(bytes.length).toBe(8 + 65535 + 1 + 8 + 465 + 7);
    expect(parse(bytes)).toEqual([
      { type: RecordType.FCGI_STDOUT, id: 1, length: 65535 },
      { type: RecordType.FCGI_STDOUT, id: 1, length: 465 },
    ]);
  });

  it('writes nothing for empty stream data', () => {
    const sink = new FakeSink();
    expect(new RecordWriter(sink).stream(RecordType.FCGI_STDOUT, 1, new Uint8Array(0))).toBe(true);
    expect(sink.writes).toBe(0);
  });

  it('returns the sink backpressure signal (its writableNeedDrain, else its last answer)', () => {
    const writer = new RecordWriter(new FakeSink(false));
    expect(writer.stream(RecordType.FCGI_STDOUT, 1, Buffer.from('x'))).toBe(true); // nothing written yet
    writer.flush(); // the sink answers false
    expect(writer.stream(RecordType.FCGI_STDOUT, 1, new Uint8Array(70000))).toBe(false);
    expect(writer.endStream(RecordType.FCGI_STDOUT, 1)).toBe(false);
    const full = Object.assign(new FakeSink(true), { writableNeedDrain: true });
    expect(new RecordWriter(full).stream(RecordType.FCGI_STDOUT, 1, Buffer.from('x'))).toBe(false);
  });

  it('writes once per turn: a later turn gets its own write', async () => {
    const sink = new FakeSink();
    const writer = new RecordWriter(sink);
    writer.endStream(RecordType.FCGI_STDOUT, 1);
    await tick();
    writer.endStream(RecordType.FCGI_STDERR, 1);
    await tick();
    expect(sink.flushes).toHaveLength(2);
  });
});
