// Property tests (fast-check) of the FastCGI codec: any split of a valid stream parses the same; params round-trip.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/core/errors.js';
import { decodeParamList, decodeParams, encodeParams } from '../../src/fastcgi/params.js';
import { RecordType } from '../../src/fastcgi/constants.js';
import { RecordParser } from '../../src/fastcgi/parser.js';
import { encodeHeader } from '../../src/fastcgi/record.js';

interface Rec {
  type: number;
  id: number;
  content: Uint8Array;
  padding: number;
}

const record = fc.record({
  type: fc.integer({ min: 1, max: 255 }),
  id: fc.integer({ min: 0, max: 0xffff }),
  content: fc.uint8Array({ maxLength: 600 }),
  padding: fc.integer({ min: 0, max: 255 }),
});

/** Like `record`, but half of them stream records (PARAMS, STDIN, DATA). */
const streamRecord = fc.record({
  type: fc.oneof(fc.constantFrom(RecordType.FCGI_PARAMS, RecordType.FCGI_STDIN, RecordType.FCGI_DATA), fc.integer({ min: 1, max: 255 })),
  id: fc.integer({ min: 0, max: 0xffff }),
  content: fc.uint8Array({ maxLength: 600 }),
  padding: fc.integer({ min: 0, max: 255 }),
});

function encode(records: Rec[]): Uint8Array {
  const parts = records.map((r) => {
    const out = new Uint8Array(8 + r.content.length + r.padding);
    encodeHeader(r.type, r.id, r.content.length, r.padding, out);
    out.set(r.content, 8);
    return out;
  });
  return Buffer.concat(parts);
}

function parse(chunks: Uint8Array[]): string[] {
  const seen: string[] = [];
  const parser = new RecordParser((type, id, content) => seen.push(`${type}/${id}/${Buffer.from(content).toString('hex')}`));
  for (const chunk of chunks) parser.push(chunk);
  expect(parser.midRecord).toBe(false);
  return seen;
}

/** Splits `bytes` at the given cut points (any values; taken modulo the length). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

describe('FastCGI codec properties', () => {
  it('any chunking of a valid record stream yields the records of the unsplit stream (spec §3.3)', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 40 }), (records, cuts) => {
        const bytes = encode(records);
        const whole = parse([bytes]);
        expect(whole).toEqual(records.map((r) => `${r.type}/${r.id}/${Buffer.from(r.content).toString('hex')}`));
        expect(parse(split(bytes, cuts))).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });

  it('with split stream types, any chunking yields the same records once pieces are joined', () => {
    fc.assert(
      fc.property(fc.array(streamRecord, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 40 }), (records, cuts) => {
        const bytes = encode(records);
        const splitTypes: number[] = [RecordType.FCGI_PARAMS, RecordType.FCGI_STDIN, RecordType.FCGI_DATA];
        const joined: string[] = [];
        let open: { key: string; hex: string; left: number } | undefined;
        let position = 0; // index into `records` of the record being received
        const parser = new RecordParser(
          (type, id, content) => {
            const expected = records[position]!;
            if (!splitTypes.includes(type) || expected.content.length === 0) {
              joined.push(`${type}/${id}/${Buffer.from(content).toString('hex')}`);
              position++;
              return;
            }
            expect(content.length).toBeGreaterThan(0); // only an empty record comes empty
            open ??= { key: `${type}/${id}`, hex: '', left: expected.content.length };
            expect(`${type}/${id}`).toBe(open.key);
            open.hex += Buffer.from(content).toString('hex');
            open.left -= content.length;
            if (open.left === 0) {
              joined.push(`${open.key}/${open.hex}`);
              open = undefined;
              position++;
            }
          },
          { splitTypes },
        );
        for (const chunk of split(bytes, cuts)) parser.push(chunk);
        expect(parser.midRecord).toBe(false);
        expect(joined).toEqual(parse([bytes]));
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes either parse or throw ProtocolError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
        const parser = new RecordParser(() => {});
        try {
          for (const chunk of split(bytes, cuts)) parser.push(chunk);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
        expect(parser.buffered).toBeLessThanOrEqual(8 + 65535);
      }),
      { numRuns: 500 },
    );
  });

  it('name-value pairs round-trip, with 1- and 4-byte lengths (spec §3.4), as pairs and as a flat list', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 200 });
    fc.assert(
      fc.property(fc.array(fc.tuple(text, text), { maxLength: 20 }), (pairs) => {
        expect(decodeParams(encodeParams(pairs))).toEqual(pairs);
        expect(decodeParamList(encodeParams(pairs))).toEqual(pairs.flat());
      }),
      { numRuns: 300 },
    );
  });

  it('random params bytes decode or throw ProtocolError FCGI_BAD_PARAMS', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeParams(bytes);
        } catch (error) {
          expect(error).toMatchObject({ code: 'FCGI_BAD_PARAMS' });
        }
      }),
      { numRuns: 500 },
    );
  });
});
