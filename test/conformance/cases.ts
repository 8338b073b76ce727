// The conformance case table (STYLE habit 13): one list of {name, request, app, expect}, run by every host.

import type { App } from '../../src/core/types.js';
import type { TestRequest } from '../../src/testing/environ-builder.js';

export interface Expectation {
  status: number;
  /** Reason phrase, when the case is about it. */
  reason?: string;
  /** Headers that must be present (name lower-cased → every value, in order). */
  headers?: Record<string, string[]>;
  /** Exact body, or a predicate on it. */
  body?: string | Buffer | ((body: Buffer) => boolean);
  /** Text that must not appear anywhere in the response. */
  absent?: string;
  /** The response must be cut off (incomplete), not completed. */
  cutOff?: boolean;
}

export interface ConformanceCase {
  name: string;
  request: TestRequest;
  app: App;
  expect: Expectation;
}

const binary = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));

export const cases: ConformanceCase[] = [
  {
    name: 'a plain GET with a query string',
    request: { url: '/hello?a=1&b=two%20words' },
    app: (env, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [`${env.REQUEST_METHOD} ${env.PATH_INFO} ${env.QUERY_STRING}`];
    },
    expect: { status: 200, headers: { 'content-type': ['text/plain'] }, body: 'GET /hello a=1&b=two%20words' },
  },
  {
    name: 'PATH_INFO is percent-decoded (RFC 3875 §4.1.5)',
    request: { url: '/caf%C3%A9/a%20b' },
    app: (env, start) => {
      start('200 OK', []);
      return [env.PATH_INFO];
    },
    expect: { status: 200, body: '/café/a b' },
  },
  {
    name: 'a binary POST body comes back intact, across several records',
    request: { method: 'POST', url: '/echo', body: binary, headers: { 'Content-Type': 'application/octet-stream' } },
    app: async function* (env, start) {
      start('200 OK', [['Content-Type', 'application/octet-stream']]);
      for await (const chunk of env['tsgi.input']) yield chunk;
    },
    expect: { status: 200, body: binary },
  },
  {
    name: 'two Set-Cookie headers stay two headers',
    request: { url: '/cookies' },
    app: (_env, start) => {
      start('200 OK', [['Set-Cookie', 'a=1; Path=/'], ['Set-Cookie', 'b=2; Path=/']]);
      return [];
    },
    expect: { status: 200, headers: { 'set-cookie': ['a=1; Path=/', 'b=2; Path=/'] } },
  },
  {
    name: 'a custom reason phrase',
    request: { url: '/teapot' },
    app: (_env, start) => {
      start('418 Short And Stout', []);
      return ['tea'];
    },
    expect: { status: 418, reason: 'Short And Stout', body: 'tea' },
  },
  {
    name: 'an exception before startResponse is a generic 500',
    request: { url: '/error' },
    app: () => {
      throw new Error('secret-internal-detail');
    },
    expect: { status: 500, body: 'Internal Server Error\n', absent: 'secret-internal-detail' },
  },
  {
    name: 'an exception after the first chunk cuts the response off',
    request: { url: '/late' },
    app: async function* (_env, start) {
      start('200 OK', [['Content-Type', 'text/plain']]);
      yield 'partial';
      throw new Error('late-secret');
    },
    expect: { status: 200, cutOff: true, absent: 'late-secret' },
  },
  {
    name: 'an async generator streams several chunks',
    request: { url: '/stream' },
    app: async function* (_env, start) {
      start('200 OK', []);
      for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        yield `${i};`;
      }
    },
    expect: { status: 200, body: '0;1;2;3;4;' },
  },
  {
    name: 'write() before the body, in order',
    request: { url: '/write' },
    app: async (_env, start) => {
      const write = start('200 OK', []);
      await write('from write, ');
      return ['then the body'];
    },
    expect: { status: 200, body: 'from write, then the body' },
  },
  {
    name: 'excInfo replaces headers not yet sent',
    request: { url: '/replace' },
    app: (_env, start) => {
      start('200 OK', [['X-Draft', '1']]);
      start('503 Service Unavailable', [['Retry-After', '7']], new Error('overloaded'));
      return ['busy'];
    },
    expect: { status: 503, headers: { 'retry-after': ['7'] }, body: 'busy' },
  },
  {
    name: 'a header value with CR LF never reaches the wire',
    request: { url: '/inject' },
    app: (_env, start) => {
      start('200 OK', [['X-Evil', 'x\r\nSet-Cookie: injected=1']]);
      return ['no'];
    },
    expect: { status: 500, absent: 'injected' },
  },
  {
    name: 'UTF-8 strings are encoded as UTF-8',
    request: { url: '/utf8' },
    app: (_env, start) => {
      start('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
      return ['grüße ✓'];
    },
    expect: { status: 200, body: Buffer.from('grüße ✓', 'utf8') },
  },
  {
    name: 'a request header arrives as HTTP_*',
    request: { url: '/header', headers: { 'X-Request-Id': 'abc-123' } },
    app: (env, start) => {
      start('200 OK', []);
      return [String(env.HTTP_X_REQUEST_ID)];
    },
    expect: { status: 200, body: 'abc-123' },
  },
  {
    name: 'an app that reads none of a large body still answers',
    request: { method: 'POST', url: '/ignore', body: Buffer.alloc(300_000, 1) },
    app: (_env, start) => {
      start('202 Accepted', []);
      return ['ignored'];
    },
    expect: { status: 202, body: 'ignored' },
  },
];
