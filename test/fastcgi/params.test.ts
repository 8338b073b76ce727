// Tests FastCGI name-value pair encoding against golden byte vectors (FastCGI spec §3.4).
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/core/errors.js';
import { decodeLength, decodeParamList, decodeParams, encodeLength, encodeParams } from '../../src/fastcgi/params.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const unhex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const ascii = (text: string): string => Buffer.from(text, 'latin1').toString('hex');

describe('lengths (FastCGI spec §3.4)', () => {
  const vectors: Array<[number, string]> = [
    [0, '00'],
    [1, '01'],
    [127, '7f'],
    [128, '80000080'],
    [255, '800000ff'],
    [65535, '8000ffff'],
    [0x01020304, '81020304'],
    [2 ** 31 - 1, 'ffffffff'],
  ];

  it.each(vectors)('encodes length %i as %s (FastCGI spec §3.4)', (n, bytes) => {
    const target = new Uint8Array(6).fill(0xee);
    const written = encodeLength(n, target, 1);
    expect(written).toBe(bytes.length / 2);
    expect(hex(target.subarray(1, 1 + written))).toBe(bytes);
    expect(target[0]).toBe(0xee);
  });

  it.each(vectors)('decodes length %i from %s (FastCGI spec §3.4)', (n, bytes) => {
    const padded = unhex(`aa${bytes}bb`);
    expect(decodeLength(padded, 1)).toEqual({ value: n, bytesConsumed: bytes.length / 2 });
  });

  it.each([2 ** 31, -1, 1.5, Number.NaN])('refuses to encode length %s', (n) => {
    expect(() => encodeLength(n, new Uint8Array(4), 0)).toThrow(RangeError);
  });

  it.each([
    ['empty input', '', 0],
    ['offset at the end', '05', 1],
    ['3 of the 4 bytes of a long length', '800000', 0],
    ['1 of the 4 bytes of a long length', '80', 0],
  ])('returns null for %s (more input needed)', (_name, bytes, offset) => {
    expect(decodeLength(unhex(bytes), offset)).toBeNull();
  });
});

describe('encodeParams (FastCGI spec §3.4)', () => {
  it('encodes "\\013\\002SERVER_PORT80" as in spec appendix B', () => {
    expect(hex(encodeParams([['SERVER_PORT', '80']]))).toBe('0b02' + ascii('SERVER_PORT80'));
  });

  it('encodes "\\013\\016SERVER_ADDR199.170.183.42" as in spec appendix B', () => {
    expect(hex(encodeParams([['SERVER_ADDR', '199.170.183.42']]))).toBe('0b0e' + ascii('SERVER_ADDR199.170.183.42'));
  });

  it('encodes a 127-byte value with a 1-byte length (FastCGI spec §3.4)', () => {
    const value = 'v'.repeat(127);
    expect(hex(encodeParams([['A', value]]))).toBe('017f' + ascii('A' + value));
  });

  it('encodes a 128-byte name with a 4-byte length (FastCGI spec §3.4)', () => {
    const name = 'N'.repeat(128);
    expect(hex(encodeParams([[name, 'x']]))).toBe('80000080' + '01' + ascii(name + 'x'));
  });

  it('encodes a 128-byte value with a 4-byte length (FastCGI spec §3.4)', () => {
    const value = 'v'.repeat(128);
    expect(hex(encodeParams([['A', value]]))).toBe('01' + '80000080' + ascii('A' + value));
  });

  it('encodes an empty value, as FCGI_GET_VALUES queries use (FastCGI spec §4.1)', () => {
    expect(hex(encodeParams([['FCGI_MPXS_CONNS', '']]))).toBe('0f00' + ascii('FCGI_MPXS_CONNS'));
  });

  it('counts lengths in UTF-8 bytes, not characters', () => {
    expect(hex(encodeParams([['X', 'é€']]))).toBe('0105' + '58' + 'c3a9' + 'e282ac');
  });

  it('encodes several pairs in order, from any iterable', () => {
    function* pairs(): Generator<[string, string]> {
      yield ['A', '1'];
      yield ['B', ''];
    }
    expect(hex(encodeParams(pairs()))).toBe('0101' + ascii('A1') + '0100' + ascii('B'));
    expect(encodeParams([]).length).toBe(0);
  });
});

describe('decodeParams (FastCGI spec §3.4)', () => {
  it('round-trips pairs with 1- and 4-byte lengths, empty values, repeats and UTF-8', () => {
    const pairs: Array<[string, string]> = [
      ['REQUEST_METHOD', 'GET'],
      ['EMPTY', ''],
      ['LONG', 'x'.repeat(70000)],
      ['N'.repeat(200), 'short'],
      ['HTTP_COOKIE', 'a=1'],
      ['HTTP_COOKIE', 'b=2'],
      ['PATH_INFO', '/café/€'],
      ['ÜNICODE_NAME', 'ok'],
    ];
    expect(decodeParams(encodeParams(pairs))).toEqual(pairs);
  });

  it('decodes all-ASCII streams (one string, sliced) and names that look like the known ones', () => {
    const pairs: Array<[string, string]> = [
      ['REQUEST_METHOD', 'POST'],
      ['REQUEST_METHOX', 'a'], // same length, first and last byte as a known name: compared in full
      ['REQUEST_MXTHOD', 'b'],
      ['HTTP_HOST', 'example.org:8080'],
      ['HTTP_X_CUSTOM', 'value with spaces and = signs'],
      ['SCRIPT_NAME', ''],
      ['', 'a value for an empty name'],
    ];
    expect(decodeParams(encodeParams(pairs))).toEqual(pairs);
    const viewed = encodeParams(pairs);
    const big = Buffer.alloc(viewed.length + 3, 0xff); // non-ASCII bytes around the view
    big.set(viewed, 1);
    expect(decodeParams(big.subarray(1, 1 + viewed.length))).toEqual(pairs);
  });

  it('decodes from a view into a larger buffer', () => {
    const encoded = encodeParams([['A', 'b']]);
    const big = new Uint8Array(encoded.length + 10);
    big.set(encoded, 5);
    expect(decodeParams(big.subarray(5, 5 + encoded.length))).toEqual([['A', 'b']]);
  });

  it('turns invalid UTF-8 into U+FFFD, as process.env does', () => {
    expect(decodeParams(unhex('0102' + '58' + 'ff41'))).toEqual([['X', '\ufffdA']]);
    expect(decodeParams(unhex('0201' + 'c328' + '41'))).toEqual([['\ufffd(', 'A']]);
  });

  it('returns no pairs for an empty stream', () => {
    expect(decodeParams(new Uint8Array(0))).toEqual([]);
  });

  it.each([
    ['a name length cut short', '0101' + ascii('AB') + '80', 'name length is cut short'],
    ['a missing value length', '05', 'value length is cut short'],
    ['a value length cut short', '0580ff', 'value length is cut short'],
    ['a name that runs past the end', '0501' + ascii('AB'), 'name of 5 bytes runs past the end'],
    ['a value that runs past the end', '0105' + ascii('AB'), 'value of 5 bytes runs past the end'],
    ['a 2^31-1 value length with no value', '01ffffffff' + ascii('A'), 'value of 2147483647 bytes runs past the end'],
  ])('throws FCGI_BAD_PARAMS on %s (FastCGI spec §3.4)', (_name, bytes, detail) => {
    let error: unknown;
    try {
      decodeParams(unhex(bytes));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe('FCGI_BAD_PARAMS');
    expect((error as ProtocolError).message).toContain(detail);
  });

  it('decodes every prefix cut at a pair boundary to exactly its whole pairs, and throws on every other cut', () => {
    // decodeParamList sizes its array from a first pass over the lengths: a miscount would leave a
    // hole or a missing pair, which only a cut in each possible place would show.
    const pairs: Array<[string, string]> = [['A', 'b'], ['N'.repeat(130), 'v'], ['C', 'x'.repeat(200)], ['', '']];
    const encoded = Buffer.from(encodeParams(pairs));
    const boundaries = new Map<number, number>([[0, 0]]);
    pairs.forEach((_, i) => boundaries.set(encodeParams(pairs.slice(0, i + 1)).length, i + 1));
    for (let cut = 0; cut <= encoded.length; cut++) {
      const whole = boundaries.get(cut);
      if (whole === undefined) {
        expect(() => decodeParamList(encoded.subarray(0, cut)), `cut at ${cut}`).toThrow(ProtocolError);
      } else {
        const list = decodeParamList(encoded.subarray(0, cut));
        expect(list, `cut at ${cut}`).toEqual(pairs.slice(0, whole).flat());
        expect(Object.keys(list)).toHaveLength(2 * whole); // no hole
      }
    }
  });

  it('names which pair is truncated', () => {
    expect(() => decodeParams(unhex('0101' + ascii('AB') + '0203' + ascii('C')))).toThrow(/pair #1 at byte 4/);
  });
});
