// Tests the environ → HTTP request rules shared by the adapters (docs/spec.md "URL reconstruction").

import { describe, expect, it } from 'vitest';
import { bodyFraming, encodePath, requestHeaders, requestHost, requestTarget, requestUrl, toByteString } from '../../src/adapters/environ-request.js';
import { statusLine } from '../../src/adapters/reason-phrase.js';
import { endToEndHeaders } from '../../src/core/headers.js';
import { environFor } from './helpers.js';

describe('URL reconstruction (docs/spec.md)', () => {
  it('re-quotes SCRIPT_NAME + PATH_INFO and keeps QUERY_STRING as sent', () => {
    const { environ } = environFor({ url: '/app/a%20b/%C3%BC%3F?x=%41&y', scriptName: '/app' });
    expect(environ.PATH_INFO).toBe('/a b/ü?');
    expect(requestTarget(environ)).toBe('/app/a%20b/%C3%BC%3F?x=%41&y');
    expect(requestTarget(environ, false)).toBe('/a%20b/%C3%BC%3F?x=%41&y');
    expect(requestUrl(environ)).toBe('http://localhost/app/a%20b/%C3%BC%3F?x=%41&y');
  });

  it('gives "/" for an empty path, with or without the mount point', () => {
    const { environ } = environFor({ url: '/app', scriptName: '/app' });
    expect(requestTarget(environ)).toBe('/app');
    expect(requestTarget(environ, false)).toBe('/');
  });

  it('encodes query characters that cannot travel raw (space, #, non-ASCII), leaving escapes alone', () => {
    const { environ } = environFor({ url: '/' });
    environ.QUERY_STRING = 'a=b c&d=#&e=é&f=%20';
    expect(requestTarget(environ)).toBe('/?a=b%20c&d=%23&e=%C3%A9&f=%20');
  });

  it('uses SERVER_NAME and a non-default SERVER_PORT without HTTP_HOST', () => {
    const { environ } = environFor({ url: '/', extra: { SERVER_NAME: 'example.org', SERVER_PORT: '8080' } });
    delete environ.HTTP_HOST;
    expect(requestHost(environ)).toBe('example.org:8080');
    environ.SERVER_PORT = '80';
    expect(requestUrl(environ)).toBe('http://example.org/');
    environ['tsgi.url_scheme'] = 'https';
    environ.SERVER_PORT = '443';
    expect(requestUrl(environ)).toBe('https://example.org/');
  });

  it('turns lone surrogates into U+FFFD instead of throwing', () => {
    expect(encodePath('/a\ud800b')).toBe('/a%EF%BF%BDb');
  });
});

describe('request headers (RFC 3875 §4.1.18)', () => {
  it('maps HTTP_* to canonical names and adds Content-Type/Length, without Host or hop-by-hop fields', () => {
    const { environ } = environFor({
      method: 'POST',
      url: '/',
      body: 'abc',
      headers: { 'Content-Type': 'text/plain', 'X-Forwarded-For': '10.0.0.1', Connection: 'keep-alive', TE: 'trailers', Expect: '100-continue' },
    });
    expect(requestHeaders(environ)).toEqual([
      ['X-Forwarded-For', '10.0.0.1'],
      ['Content-Type', 'text/plain'],
      ['Content-Length', '3'],
    ]);
  });

  it('leaves out values with CR/LF (no field injection) and says so', () => {
    const { environ } = environFor({ url: '/' });
    environ.HTTP_X_EVIL = 'a\r\nInjected: yes';
    const dropped: string[] = [];
    expect(requestHeaders(environ, (name) => dropped.push(name))).toEqual([]);
    expect(dropped).toEqual(['X-Evil']);
  });

  it('turns characters above U+00FF back into their UTF-8 bytes for Headers', () => {
    expect(toByteString('ü')).toBe('ü'); // within Latin-1: unchanged
    expect(toByteString('€')).toBe('\u00e2\u0082\u00ac');
  });
});

describe('body framing (RFC 3875 §4.2)', () => {
  it('is CONTENT_LENGTH, else a stream when Transfer-Encoding was sent, else none', () => {
    expect(bodyFraming(environFor({ method: 'POST', url: '/', body: 'abcd' }).environ)).toEqual({ kind: 'length', length: 4 });
    expect(bodyFraming(environFor({ method: 'POST', url: '/', headers: { 'Transfer-Encoding': 'chunked' } }).environ)).toEqual({ kind: 'stream' });
    expect(bodyFraming(environFor({ method: 'POST', url: '/' }).environ)).toEqual({ kind: 'none' });
  });
});

describe('response headers (RFC 9110 §7.6.1)', () => {
  it('drops hop-by-hop fields and those Connection names, keeping order and repeats', () => {
    expect(
      endToEndHeaders([
        ['Connection', 'keep-alive, X-Hop'],
        ['Set-Cookie', 'a=1'],
        ['Keep-Alive', 'timeout=5'],
        ['X-Hop', 'gone'],
        ['Transfer-Encoding', 'chunked'],
        ['Set-Cookie', 'b=2'],
      ], 200),
    ).toEqual([
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
    ]);
  });

  it('keeps Upgrade in a 426, even when Connection names it, and nowhere else (RFC 9110 §15.5.22)', () => {
    const headers: Array<[string, string]> = [['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['X-A', '1']];
    expect(endToEndHeaders(headers, 426)).toEqual([['Upgrade', 'websocket'], ['X-A', '1']]);
    for (const status of [101, 200, 400]) expect(endToEndHeaders(headers, status)).toEqual([['X-A', '1']]);
  });

  it('fills an empty reason phrase from RFC 9110', () => {
    expect(statusLine(404)).toBe('404 Not Found');
    expect(statusLine(201, 'Made')).toBe('201 Made');
    expect(statusLine(599)).toBe('599 ');
  });
});
