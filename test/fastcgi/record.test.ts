// Tests the FastCGI record codecs and constants against golden byte vectors (FastCGI spec §3.3, §4.2, §5.1, §5.5).
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/core/errors.js';
import {
  FCGI_KEEP_CONN,
  ProtocolStatus,
  RecordType,
  Role,
  recordTypeName,
} from '../../src/fastcgi/constants.js';
import {
  decodeBeginRequestBody,
  decodeEndRequestBody,
  decodeHeader,
  encodeBeginRequestBody,
  encodeEndRequestBody,
  encodeHeader,
  encodeRecord,
  encodeUnknownTypeBody,
  paddingFor,
} from '../../src/fastcgi/record.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const unhex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

describe('record header (FastCGI spec §3.3)', () => {
  const vectors: Array<{ name: string; type: number; id: number; length: number; padding: number; bytes: string }> = [
    { name: 'BEGIN_REQUEST id 1, 8 bytes', type: RecordType.FCGI_BEGIN_REQUEST, id: 1, length: 8, padding: 0, bytes: '01 01 0001 0008 00 00' },
    { name: 'empty STDOUT id 1', type: RecordType.FCGI_STDOUT, id: 1, length: 0, padding: 0, bytes: '01 06 0001 0000 00 00' },
    { name: 'STDOUT id 0x1234, 65535 bytes', type: RecordType.FCGI_STDOUT, id: 0x1234, length: 65535, padding: 1, bytes: '01 06 1234 ffff 01 00' },
    { name: 'STDIN id 65535, 300 bytes', type: RecordType.FCGI_STDIN, id: 65535, length: 300, padding: 4, bytes: '01 05 ffff 012c 04 00' },
    { name: 'GET_VALUES_RESULT on the null request id', type: RecordType.FCGI_GET_VALUES_RESULT, id: 0, length: 0, padding: 0, bytes: '01 0a 0000 0000 00 00' },
    { name: 'padding 255', type: RecordType.FCGI_PARAMS, id: 2, length: 1, padding: 255, bytes: '01 04 0002 0001 ff 00' },
  ];

  it.each(vectors)('encodes $name', ({ type, id, length, padding, bytes }) => {
    const target = new Uint8Array(8);
    encodeHeader(type, id, length, padding, target);
    expect(hex(target)).toBe(hex(unhex(bytes)));
  });

  it.each(vectors)('decodes $name', ({ type, id, length, padding, bytes }) => {
    expect(decodeHeader(unhex(bytes))).toEqual({ version: 1, type, requestId: id, contentLength: length, paddingLength: padding });
  });

  it('encodes and decodes at an offset', () => {
    const target = new Uint8Array(12).fill(0xee);
    encodeHeader(RecordType.FCGI_STDERR, 7, 9, 7, target, 4);
    expect(hex(target)).toBe('eeeeeeee' + '0107000700090700');
    expect(decodeHeader(target, 4).requestId).toBe(7);
  });

  it('ignores the reserved byte when decoding (FastCGI spec §3.3)', () => {
    expect(decodeHeader(unhex('0106000100000099')).contentLength).toBe(0);
  });

  it.each([0, 2, 255])('rejects header version %i with FCGI_BAD_VERSION (FastCGI spec §3.3)', (version) => {
    const bytes = unhex('0106000100000000');
    bytes[0] = version;
    const error = (() => {
      try {
        decodeHeader(bytes);
      } catch (caught) {
        return caught;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: 'FCGI_BAD_VERSION', message: `fastcgi: invalid header version ${version}` });
  });

  it('throws RangeError on out-of-range fields and short buffers', () => {
    const target = new Uint8Array(8);
    expect(() => encodeHeader(1, 65536, 0, 0, target)).toThrow(RangeError);
    expect(() => encodeHeader(1, 1, 65536, 0, target)).toThrow(RangeError);
    expect(() => encodeHeader(1, 1, 0, 256, target)).toThrow(RangeError);
    expect(() => encodeHeader(256, 1, 0, 0, target)).toThrow(RangeError);
    expect(() => encodeHeader(1, 1, 0, 0, new Uint8Array(7))).toThrow(RangeError);
    expect(() => decodeHeader(new Uint8Array(7))).toThrow(RangeError);
  });
});

describe('padding (FastCGI spec §3.3 "Padding")', () => {
  it.each([
    [0, 0], [1, 7], [7, 1], [8, 0], [9, 7], [465, 7], [65528, 0], [65535, 1],
  ])('pads %i content bytes with %i', (length, padding) => {
    expect(paddingFor(length)).toBe(padding);
    expect((8 + length + padding) % 8).toBe(0);
  });
});

describe('encodeRecord (FastCGI spec §3.3)', () => {
  it.each([
    { name: 'the empty record that closes STDOUT', type: RecordType.FCGI_STDOUT, content: undefined, bytes: '0106000100000000' },
    { name: '"abc" on STDOUT, padded with 5 zeros', type: RecordType.FCGI_STDOUT, content: 'abc', bytes: '0106000100030500 616263 0000000000' },
    { name: '8 bytes, no padding', type: RecordType.FCGI_STDERR, content: 'abcdefgh', bytes: '0107000100080000 6162636465666768' },
  ])('encodes $name', ({ type, content, bytes }) => {
    const record = encodeRecord(type, 1, content === undefined ? undefined : new Uint8Array(Buffer.from(content)));
    expect(hex(record)).toBe(hex(unhex(bytes)));
  });

  it('encodes {FCGI_END_REQUEST, 1, {938, FCGI_REQUEST_COMPLETE}} from spec appendix B example 3', () => {
    const record = encodeRecord(RecordType.FCGI_END_REQUEST, 1, encodeEndRequestBody(938, ProtocolStatus.FCGI_REQUEST_COMPLETE));
    expect(hex(record)).toBe('0103000100080000' + '000003aa00000000');
  });

  it('encodes 65535 content bytes in one record and refuses 65536 (FastCGI spec §3.3)', () => {
    expect(encodeRecord(RecordType.FCGI_STDOUT, 1, new Uint8Array(65535)).length).toBe(8 + 65535 + 1);
    expect(() => encodeRecord(RecordType.FCGI_STDOUT, 1, new Uint8Array(65536))).toThrow(RangeError);
  });
});

describe('discrete record bodies', () => {
  it.each([
    { role: Role.FCGI_RESPONDER, flags: FCGI_KEEP_CONN, bytes: '0001 01 0000000000' },
    { role: Role.FCGI_RESPONDER, flags: 0, bytes: '0001 00 0000000000' },
    { role: Role.FCGI_FILTER, flags: 0, bytes: '0003 00 0000000000' },
    { role: 0x1234, flags: 0xff, bytes: '1234 ff 0000000000' },
  ])('encodes and decodes BEGIN_REQUEST role $role flags $flags (FastCGI spec §5.1)', ({ role, flags, bytes }) => {
    expect(hex(encodeBeginRequestBody(role, flags))).toBe(hex(unhex(bytes)));
    expect(decodeBeginRequestBody(unhex(bytes))).toEqual({ role, flags });
  });

  it.each([0, 7, 9, 16])('rejects a %i-byte BEGIN_REQUEST body with FCGI_BAD_BEGIN_REQUEST (FastCGI spec §5.1)', (length) => {
    expect(() => decodeBeginRequestBody(new Uint8Array(length))).toThrow(
      expect.objectContaining({ code: 'FCGI_BAD_BEGIN_REQUEST', name: 'ProtocolError' }),
    );
  });

  it.each([
    { appStatus: 0, protocolStatus: ProtocolStatus.FCGI_REQUEST_COMPLETE, bytes: '00000000 00 000000', decoded: 0 },
    { appStatus: 938, protocolStatus: ProtocolStatus.FCGI_REQUEST_COMPLETE, bytes: '000003aa 00 000000', decoded: 938 },
    { appStatus: 0, protocolStatus: ProtocolStatus.FCGI_CANT_MPX_CONN, bytes: '00000000 01 000000', decoded: 0 },
    { appStatus: 0, protocolStatus: ProtocolStatus.FCGI_OVERLOADED, bytes: '00000000 02 000000', decoded: 0 },
    { appStatus: 0xffffffff, protocolStatus: ProtocolStatus.FCGI_UNKNOWN_ROLE, bytes: 'ffffffff 03 000000', decoded: 0xffffffff },
    { appStatus: -1, protocolStatus: 0, bytes: 'ffffffff 00 000000', decoded: 0xffffffff },
    { appStatus: 0x01020304, protocolStatus: 0, bytes: '01020304 00 000000', decoded: 0x01020304 },
  ])('encodes END_REQUEST appStatus $appStatus protocolStatus $protocolStatus as big-endian uint32 (FastCGI spec §5.5)', ({ appStatus, protocolStatus, bytes, decoded }) => {
    expect(hex(encodeEndRequestBody(appStatus, protocolStatus))).toBe(hex(unhex(bytes)));
    expect(decodeEndRequestBody(unhex(bytes))).toEqual({ appStatus: decoded, protocolStatus });
  });

  it('rejects bad END_REQUEST values and lengths (FastCGI spec §5.5)', () => {
    expect(() => encodeEndRequestBody(2 ** 32, 0)).toThrow(RangeError);
    expect(() => encodeEndRequestBody(1.5, 0)).toThrow(RangeError);
    expect(() => encodeEndRequestBody(0, 256)).toThrow(RangeError);
    expect(() => decodeEndRequestBody(new Uint8Array(9))).toThrow(expect.objectContaining({ code: 'FCGI_BAD_END_REQUEST' }));
  });

  it('encodes {FCGI_UNKNOWN_TYPE, 0, {T}} bodies (FastCGI spec §4.2)', () => {
    expect(hex(encodeUnknownTypeBody(42))).toBe('2a00000000000000');
    expect(hex(encodeUnknownTypeBody(RecordType.FCGI_DATA))).toBe('0800000000000000');
    expect(() => encodeUnknownTypeBody(256)).toThrow(RangeError);
  });
});

describe('constants (FastCGI spec §8)', () => {
  it('names record types for log lines', () => {
    expect(recordTypeName(4)).toBe('FCGI_PARAMS');
    expect(recordTypeName(RecordType.FCGI_UNKNOWN_TYPE)).toBe('FCGI_UNKNOWN_TYPE');
    expect(recordTypeName(42)).toBe('type 42');
    expect(recordTypeName(0)).toBe('type 0');
  });

  it('numbers record types 1..11 as in spec §8', () => {
    expect(Object.values(RecordType)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(Object.values(ProtocolStatus)).toEqual([0, 1, 2, 3]);
    expect(Object.values(Role)).toEqual([1, 2, 3]);
  });
});
