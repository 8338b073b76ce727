// Tests the CGI response head codec in both directions (RFC 3875 §6.2, §6.3).
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { encodeCgiHead, MAX_CGI_HEAD_BYTES, parseCgiHead } from '../../src/core/cgi-response.js';
import { TsgiError } from '../../src/core/errors.js';

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));

function failure(text: string): TsgiError {
  try {
    parseCgiHead(bytes(text));
  } catch (error) {
    expect(error).toBeInstanceOf(TsgiError);
    return error as TsgiError;
  }
  throw new Error('expected parseCgiHead to throw');
}

describe('encodeCgiHead (RFC 3875 §6.3)', () => {
  it('writes Status first, one CRLF line per header, then the blank line', () => {
    const head = encodeCgiHead('404 Not Found', [
      ['Content-Type', 'text/plain'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
    ]);
    expect(Buffer.from(head).toString('latin1')).toBe(
      'Status: 404 Not Found\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n',
    );
  });

  it('encodes characters up to U+00FF as single latin1 bytes', () => {
    expect(Buffer.from(encodeCgiHead('200 OK', [['X-Name', 'café']])).toString('hex')).toContain('636166e9');
  });

  it('round-trips through parseCgiHead', () => {
    const headers: Array<[string, string]> = [['Content-Type', 'text/html'], ['X-Empty', '']];
    const head = encodeCgiHead('201 Created', headers);
    expect(parseCgiHead(head)).toEqual({ status: 201, statusText: 'Created', headers, headerBytes: head.length });
  });
});

describe('parseCgiHead (RFC 3875 §6.2, §6.3)', () => {
  it('returns null until the blank line arrives', () => {
    expect(parseCgiHead(bytes(''))).toBeNull();
    expect(parseCgiHead(bytes('Content-Type: text/plain'))).toBeNull();
    expect(parseCgiHead(bytes('Content-Type: text/plain\r\n'))).toBeNull();
    expect(parseCgiHead(bytes('Content-Type: text/plain\r\n\r'))).toBeNull();
  });

  it.each([
    ['CRLF', 'Content-Type: text/plain\r\n\r\nbody', 28],
    ['LF', 'Content-Type: text/plain\n\nbody', 26],
    ['mixed', 'Content-Type: text/plain\r\n\nbody', 27],
  ])('accepts %s line ends and reports where the body starts', (_name, text, headerBytes) => {
    const head = parseCgiHead(bytes(text));
    expect(head).toEqual({ status: 200, statusText: 'OK', headers: [['Content-Type', 'text/plain']], headerBytes });
    expect(text.slice(headerBytes)).toBe('body');
  });

  it('takes the status from the Status field and drops it from the headers (RFC 3875 §6.3.3)', () => {
    expect(parseCgiHead(bytes('status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n'))).toMatchObject({
      status: 404,
      statusText: 'Not Found',
      headers: [['Content-Type', 'text/plain']],
    });
  });

  it('accepts a Status with a code alone, with an empty reason phrase', () => {
    expect(parseCgiHead(bytes('Status: 204\r\n\r\n'))).toMatchObject({ status: 204, statusText: '' });
  });

  it('defaults to 200 OK without a Status field (RFC 3875 §6.3.3)', () => {
    expect(parseCgiHead(bytes('X-A: 1\n\n'))).toMatchObject({ status: 200, statusText: 'OK' });
  });

  it('defaults to 302 Found when Location is given without Status (RFC 3875 §6.2.3)', () => {
    expect(parseCgiHead(bytes('Location: http://example.com/\r\n\r\n'))).toEqual({
      status: 302,
      statusText: 'Found',
      headers: [['Location', 'http://example.com/']],
      headerBytes: 33,
    });
  });

  it('keeps an explicit Status next to Location (RFC 3875 §6.2.4)', () => {
    expect(parseCgiHead(bytes('Status: 301 Moved Permanently\r\nLocation: /x\r\n\r\n'))).toMatchObject({ status: 301 });
  });

  it('keeps repeated fields in order and trims values, not names', () => {
    expect(parseCgiHead(bytes('Set-Cookie:a=1\r\nset-cookie: \t b=2 \t\r\nX-Empty:\r\n\r\n'))!.headers).toEqual([
      ['Set-Cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['X-Empty', ''],
    ]);
  });

  it('keeps colons inside values', () => {
    expect(parseCgiHead(bytes('Link: <http://a/b>; rel=x\r\n\r\n'))!.headers).toEqual([['Link', '<http://a/b>; rel=x']]);
  });

  it('reads header bytes as latin1', () => {
    expect(parseCgiHead(new Uint8Array([...bytes('X: caf'), 0xe9, ...bytes('\r\n\r\n')]))!.headers).toEqual([['X', 'café']]);
  });

  it('accepts an empty head', () => {
    expect(parseCgiHead(bytes('\r\nbody'))).toEqual({ status: 200, statusText: 'OK', headers: [], headerBytes: 2 });
  });

  it.each([
    ['a line without a colon', 'Content-Type text/plain\r\n\r\n', /no colon/],
    ['an empty name', ': value\r\n\r\n', /invalid response header name/],
    ['a name with a space', 'Content Type: x\r\n\r\n', /invalid response header name/],
    ['a folded line', 'X-A: 1\r\n  more: 2\r\n\r\n', /folded/],
    ['a bare CR in a value', 'X-A: 1\r2\r\n\r\n', /control character/],
    ['a NUL in a value', 'X-A: 1\u00002\r\n\r\n', /control character/],
    ['a Status without a code', 'Status: OK\r\n\r\n', /invalid Status/],
    ['a Status with a 2-digit code', 'Status: 20 OK\r\n\r\n', /invalid Status/],
    ['a repeated Status', 'Status: 200 OK\r\nStatus: 404 Not Found\r\n\r\n', /repeated/],
  ])('throws CGI_BAD_RESPONSE on %s', (_name, text, message) => {
    const error = failure(text);
    expect(error.code).toBe('CGI_BAD_RESPONSE');
    expect(error.message).toMatch(/^cgi: /);
    expect(error.message).toMatch(message);
  });

  it('throws CGI_HEAD_TOO_LARGE past 64 KiB without a blank line', () => {
    expect(failure('X: ' + 'a'.repeat(MAX_CGI_HEAD_BYTES)).code).toBe('CGI_HEAD_TOO_LARGE');
    const manyLines = 'X-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(2000);
    expect(failure(manyLines).code).toBe('CGI_HEAD_TOO_LARGE');
    expect(failure(manyLines + '\r\n').code).toBe('CGI_HEAD_TOO_LARGE');
  });

  it('accepts a head of exactly 64 KiB', () => {
    const line = 'X: ' + 'a'.repeat(MAX_CGI_HEAD_BYTES - 3 - 4) + '\r\n';
    const head = parseCgiHead(bytes(line + '\r\n'));
    expect(head!.headerBytes).toBe(MAX_CGI_HEAD_BYTES);
  });
});
