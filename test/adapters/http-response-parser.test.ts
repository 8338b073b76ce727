// Tests the incremental HTTP/1.1 response parser with byte vectors, whole and fed one byte at a time.

import { describe, expect, it } from 'vitest';
import { HttpResponseParser, type ParseEvent } from '../../src/adapters/http-response-parser.js';

interface Parsed {
  status?: number;
  reason?: string;
  headers?: Array<[string, string]>;
  body: string;
  ended: boolean;
}

function collect(events: ParseEvent[], into: Parsed): void {
  for (const event of events) {
    if (event.type === 'head') Object.assign(into, event.head);
    else if (event.type === 'data') into.body += Buffer.from(event.data).toString('latin1');
    else into.ended = true;
  }
}

/** Parses `wire` whole, and again one byte per push; both must agree. */
function parse(wire: string, method = 'GET', eof = false): Parsed {
  const results = [1, wire.length].map((step) => {
    const parser = new HttpResponseParser(method);
    const out: Parsed = { body: '', ended: false };
    const bytes = Buffer.from(wire, 'latin1');
    for (let i = 0; i < bytes.length; i += step) collect(parser.push(bytes.subarray(i, i + step)), out);
    if (eof) collect(parser.finish(), out);
    return out;
  });
  expect(results[0]).toEqual(results[1]);
  return results[0] as Parsed;
}

describe('HttpResponseParser (RFC 9112)', () => {
  it('reads a Content-Length body (§6.2) and keeps repeated fields in order', () => {
    const res = parse('HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nContent-Length: 5\r\nSet-Cookie: b=2\r\n\r\nhello');
    expect(res).toEqual({
      status: 200,
      reason: 'OK',
      headers: [['Set-Cookie', 'a=1'], ['Content-Length', '5'], ['Set-Cookie', 'b=2']],
      body: 'hello',
      ended: true,
    });
  });

  it('decodes chunked bodies with extensions and trailers (§7.1)', () => {
    const res = parse('HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n');
    expect(res.body).toBe('hello world');
    expect(res.ended).toBe(true);
  });

  it('skips interim 1xx heads (RFC 9110 §15.2) and keeps an empty or Latin-1 reason', () => {
    const res = parse('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 Caf\xe9\r\nContent-Length: 0\r\n\r\n');
    expect(res.status).toBe(200);
    expect(res.reason).toBe('Caf\xe9');
    expect(parse('HTTP/1.1 204 \r\n\r\n').reason).toBe('');
  });

  it('ends a HEAD, 204 or 304 response after its head whatever the head says (RFC 9110 §9.3.2)', () => {
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'HEAD')).toMatchObject({ body: '', ended: true });
    expect(parse('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n')).toMatchObject({ ended: true });
  });

  it('reads a body without framing until the end of the stream (§6.3 rule 8)', () => {
    const res = parse('HTTP/1.0 200 OK\r\n\r\nuntil close', 'GET', true);
    expect(res).toMatchObject({ body: 'until close', ended: true });
  });

  it('reports a stream that ends before the head or before the body is complete', () => {
    const noHead = new HttpResponseParser('GET');
    noHead.push(Buffer.from('HTTP/1.1 200 OK\r\n'));
    expect(() => noHead.finish()).toThrow(expect.objectContaining({ code: 'TSGI_NODE_NO_RESPONSE' }));
    const short = new HttpResponseParser('GET');
    short.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc'));
    expect(() => short.finish()).toThrow(expect.objectContaining({ code: 'TSGI_NODE_TRUNCATED' }));
  });

  it.each([
    ['a bad status line', 'HTTP/2 200 OK\r\n\r\n'],
    ['a field without a colon', 'HTTP/1.1 200 OK\r\nNoColon\r\n\r\n'],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['conflicting Content-Length values', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'],
    ['101 Switching Protocols', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'],
  ])('refuses %s with TSGI_NODE_BAD_RESPONSE', (_, wire) => {
    expect(() => new HttpResponseParser('GET').push(Buffer.from(wire))).toThrow(
      expect.objectContaining({ code: 'TSGI_NODE_BAD_RESPONSE' }),
    );
  });

  it('bounds the head size', () => {
    const parser = new HttpResponseParser('GET', 64);
    expect(() => parser.push(Buffer.from(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(100)}\r\n\r\n`))).toThrow(/exceeds 64 bytes/);
  });

  it('returns body data as views of the pushed bytes, not copies', () => {
    const parser = new HttpResponseParser('GET');
    parser.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n'));
    const chunk = Buffer.from('data');
    const [event] = parser.push(chunk);
    expect(event?.type === 'data' && event.data.buffer === chunk.buffer).toBe(true);
  });
});
