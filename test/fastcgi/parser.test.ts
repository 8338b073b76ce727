// Tests the incremental FastCGI record parser: any chunking gives the same records (FastCGI spec §3.3).
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/core/errors.js';
import { FCGI_KEEP_CONN, RecordType, Role } from '../../src/fastcgi/constants.js';
import { decodeParams, encodeParams } from '../../src/fastcgi/params.js';
import { RecordParser } from '../../src/fastcgi/parser.js';
import { encodeBeginRequestBody, encodeHeader, encodeRecord } from '../../src/fastcgi/record.js';

interface Seen {
  type: number;
  id: number;
  content: string;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** mulberry32: a small deterministic PRNG, so random splits are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A record with a chosen padding length (senders may pad as they like, spec §3.3). */
function recordWithPadding(type: number, id: number, content: Uint8Array, padding: number): Uint8Array {
  const out = new Uint8Array(8 + content.length + padding).fill(0xaa);
  encodeHeader(type, id, content.length, padding, out);
  out.set(content, 8);
  return out;
}

const params = encodeParams([
  ['SERVER_PORT', '80'],
  ['SERVER_ADDR', '199.170.183.42'],
  ['LONG_VALUE', 'v'.repeat(300)],
]);
/** The PARAMS stream split mid-pair across two records, as in spec appendix B example 2. */
const streamRecords: Uint8Array[] = [
  encodeRecord(RecordType.FCGI_BEGIN_REQUEST, 1, encodeBeginRequestBody(Role.FCGI_RESPONDER, FCGI_KEEP_CONN)),
  encodeRecord(RecordType.FCGI_PARAMS, 1, params.subarray(0, 20)),
  encodeRecord(RecordType.FCGI_PARAMS, 1, params.subarray(20)),
  encodeRecord(RecordType.FCGI_PARAMS, 1),
  encodeRecord(RecordType.FCGI_STDIN, 1, Buffer.from('quantity=100&item=3047936')),
  encodeRecord(RecordType.FCGI_STDIN, 1, new Uint8Array(65535).fill(0x41)),
  recordWithPadding(RecordType.FCGI_STDIN, 1, Buffer.from('odd padding'), 255),
  encodeRecord(RecordType.FCGI_STDIN, 1),
  encodeRecord(RecordType.FCGI_GET_VALUES, 0, encodeParams([['FCGI_MPXS_CONNS', '']])),
  encodeRecord(RecordType.FCGI_ABORT_REQUEST, 1),
];
const stream = Buffer.concat(streamRecords);

function parseChunks(chunks: Uint8Array[]): Seen[] {
  const seen: Seen[] = [];
  const parser = new RecordParser((type, id, content) => seen.push({ type, id, content: hex(content) }));
  for (const chunk of chunks) parser.push(chunk);
  expect(parser.midRecord).toBe(false);
  expect(parser.buffered).toBe(0);
  return seen;
}

const whole = parseChunks([stream]);

describe('RecordParser (FastCGI spec §3.3)', () => {
  it('parses a whole stream into its records, padding skipped', () => {
    expect(whole.map((r) => r.type)).toEqual([1, 4, 4, 4, 5, 5, 5, 5, 9, 2]);
    expect(whole[4]!.content).toBe(hex(Buffer.from('quantity=100&item=3047936')));
    expect(whole[5]!.content.length).toBe(65535 * 2);
    expect(whole[6]!.content).toBe(hex(Buffer.from('odd padding')));
    expect(whole[8]!.id).toBe(0);
  });

  it('gives the same records when fed one byte at a time', () => {
    const bytes: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1));
    expect(parseChunks(bytes)).toEqual(whole);
  });

  it('gives the same records for random chunk splits (seeded)', () => {
    const random = prng(0x7a61);
    for (let round = 0; round < 40; round++) {
      const chunks: Uint8Array[] = [];
      const maxChunk = [3, 17, 700, 9000, 70000][round % 5]!;
      for (let at = 0; at < stream.length; ) {
        const size = 1 + Math.floor(random() * maxChunk);
        chunks.push(stream.subarray(at, at + size));
        at += size;
      }
      expect(parseChunks(chunks)).toEqual(whole);
    }
  });

  it('decodes PARAMS pairs straddling two records once reassembled (FastCGI spec §3.3, §5.2)', () => {
    const paramsContent = whole.filter((r) => r.type === RecordType.FCGI_PARAMS).map((r) => Buffer.from(r.content, 'hex'));
    expect(paramsContent[0]!.length).toBe(20);
    expect(() => decodeParams(paramsContent[0]!)).toThrow(ProtocolError);
    expect(decodeParams(Buffer.concat(paramsContent))).toEqual([
      ['SERVER_PORT', '80'],
      ['SERVER_ADDR', '199.170.183.42'],
      ['LONG_VALUE', 'v'.repeat(300)],
    ]);
  });

  it('hands out a view when a record lies in one chunk, a copy when it spans chunks', () => {
    const record = encodeRecord(RecordType.FCGI_STDOUT, 1, Buffer.from('hello'));
    const contents: Uint8Array[] = [];
    const parser = new RecordParser((_type, _id, content) => contents.push(content));
    const chunk = new Uint8Array(record);
    parser.push(chunk);
    expect(contents[0]!.buffer).toBe(chunk.buffer);
    const first = record.slice(0, 10);
    const second = record.slice(10);
    parser.push(first);
    parser.push(second);
    expect(contents[1]!.buffer).not.toBe(first.buffer);
    expect(contents[1]!.buffer).not.toBe(second.buffer);
    expect(Buffer.from(contents[1]!).toString()).toBe('hello');
  });

  it('reports midRecord and buffered bytes for a partial header, content and padding', () => {
    const parser = new RecordParser(() => {});
    expect(parser.midRecord).toBe(false);
    const record = encodeRecord(RecordType.FCGI_STDOUT, 1, Buffer.from('abc'));
    parser.push(record.subarray(0, 3));
    expect(parser).toMatchObject({ midRecord: true, buffered: 3 });
    parser.push(record.subarray(3, 10));
    expect(parser).toMatchObject({ midRecord: true, buffered: 2 });
    parser.push(record.subarray(10, 12));
    expect(parser).toMatchObject({ midRecord: true, buffered: 0 });
    parser.push(record.subarray(12));
    expect(parser).toMatchObject({ midRecord: false, buffered: 0 });
  });

  it('never holds more than one record, header and content, while fed one byte at a time', () => {
    const record = encodeRecord(RecordType.FCGI_STDIN, 1, new Uint8Array(65535));
    const parser = new RecordParser(() => {});
    let most = 0;
    for (let i = 0; i < record.length; i++) {
      parser.push(record.subarray(i, i + 1));
      most = Math.max(most, parser.buffered);
    }
    // The header is consumed as soon as it is complete; then at most the content minus one byte waits.
    expect(most).toBe(65535 - 1);
    expect(most).toBeLessThan(8 + 65535);
  });

  it('throws ProtocolError FCGI_BAD_VERSION on a bad header, after delivering the records before it', () => {
    const seen: number[] = [];
    const parser = new RecordParser((type) => seen.push(type));
    const bad = encodeRecord(RecordType.FCGI_STDIN, 1);
    bad[0] = 2;
    expect(() => parser.push(Buffer.concat([encodeRecord(RecordType.FCGI_PARAMS, 1), bad]))).toThrow(
      expect.objectContaining({ name: 'ProtocolError', code: 'FCGI_BAD_VERSION', message: 'fastcgi: invalid header version 2' }),
    );
    expect(seen).toEqual([RecordType.FCGI_PARAMS]);
    expect(parser.buffered).toBe(0);
  });

  it('stays dead after a bad header: later pushes throw the same kind of error', () => {
    const parser = new RecordParser(() => {});
    const bad = encodeRecord(RecordType.FCGI_STDIN, 1);
    bad[0] = 0;
    parser.push(bad.subarray(0, 5));
    expect(() => parser.push(bad.subarray(5))).toThrow(ProtocolError);
    let error: unknown;
    try {
      parser.push(encodeRecord(RecordType.FCGI_STDIN, 1));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: 'FCGI_BAD_VERSION' });
  });

  it('lets a throwing handler propagate, and carries on with the next push', () => {
    const seen: number[] = [];
    const parser = new RecordParser((type) => {
      seen.push(type);
      if (type === RecordType.FCGI_PARAMS) throw new Error('handler failed');
    });
    expect(() => parser.push(encodeRecord(RecordType.FCGI_PARAMS, 1))).toThrow('handler failed');
    parser.push(encodeRecord(RecordType.FCGI_STDIN, 1));
    expect(seen).toEqual([RecordType.FCGI_PARAMS, RecordType.FCGI_STDIN]);
  });

  it('ignores empty chunks', () => {
    const parser = new RecordParser(() => {});
    parser.push(new Uint8Array(0));
    expect(parser.midRecord).toBe(false);
  });

  describe('splitTypes', () => {
    it('hands on a STDIN record spanning two chunks as two views of those chunks, not a copy', () => {
      const content = Buffer.alloc(32768, 7);
      const bytes = encodeRecord(RecordType.FCGI_STDIN, 1, content);
      const first = bytes.subarray(0, 20000);
      const second = bytes.subarray(20000);
      const pieces: Uint8Array[] = [];
      const parser = new RecordParser((type, id, piece) => {
        expect([type, id]).toEqual([RecordType.FCGI_STDIN, 1]);
        pieces.push(piece);
      }, { splitTypes: [RecordType.FCGI_STDIN] });
      parser.push(first);
      expect(pieces).toHaveLength(1); // the first piece comes before the rest of the record is in
      parser.push(second);
      expect(pieces.map((piece) => piece.length)).toEqual([20000 - 8, 32768 - (20000 - 8)]);
      expect(pieces[0]!.buffer).toBe(first.buffer);
      expect(pieces[1]!.buffer).toBe(second.buffer);
      expect(Buffer.concat(pieces).equals(content)).toBe(true);
      expect(parser.midRecord).toBe(false);
    });

    it('still delivers the empty record closing a stream as one empty call, and other types whole', () => {
      const seen: string[] = [];
      const parser = new RecordParser((type, _id, piece) => seen.push(`${type}:${piece.length}`), {
        splitTypes: [RecordType.FCGI_STDIN],
      });
      const bytes = Buffer.concat([
        encodeRecord(RecordType.FCGI_PARAMS, 1, Buffer.alloc(10)),
        encodeRecord(RecordType.FCGI_STDIN, 1, new Uint8Array(0)),
      ]);
      for (let i = 0; i < bytes.length; i++) parser.push(bytes.subarray(i, i + 1));
      expect(seen).toEqual([`${RecordType.FCGI_PARAMS}:10`, `${RecordType.FCGI_STDIN}:0`]);
    });
  });
});
