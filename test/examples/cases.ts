// The example apps' shared case table: one request and its expected response per route, for every host.
//
// Every file in examples/ (tsgi-app, express, koa, fastify, hono) implements the same routes, so one
// table checks them all (STYLE habit 13). The table is plain data so that the e2e suites can send the
// same requests through nginx → FastCGI and Apache → CGI later.

import { createHash } from 'node:crypto';

/** A request, in the shape of `TestRequest` (src/testing/environ-builder.ts). */
export interface ExampleRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

/** What the response must look like; omitted fields are not checked. */
export interface ExampleExpect {
  status: number;
  /** The body parsed as JSON deep-equals this. */
  json?: unknown;
  /** The body equals this text. */
  text?: string;
  /** The body is empty (HEAD). */
  emptyBody?: boolean;
  /** The body does not contain this (no internals on error pages). */
  bodyExcludes?: string;
  /** Header (lower-case name) → its first value, exactly or by pattern. */
  headers?: Record<string, string | RegExp>;
  /** Each Set-Cookie field, in order, starts with these (`name=value`; attributes differ by framework). */
  setCookies?: string[];
  /** At least this many separate body chunks (a streamed response); checked where chunks are visible. */
  minChunks?: number;
}

export interface ExampleCase {
  name: string;
  request: ExampleRequest;
  expect: ExampleExpect;
}

/** The example apps, relative to the repository root. */
export const EXAMPLES = [
  { name: 'tsgi-app', file: 'examples/tsgi-app.mjs' },
  { name: 'express', file: 'examples/express.mjs' },
  { name: 'koa', file: 'examples/koa.mjs' },
  { name: 'fastify', file: 'examples/fastify.mjs' },
  { name: 'hono', file: 'examples/hono.mjs' },
] as const;

const UPLOAD_BYTES = 10 * 1024 * 1024;

/** 10 MiB of deterministic, incompressible-looking bytes (a multiplicative hash of the offset). */
function uploadFile(): Buffer {
  const bytes = Buffer.allocUnsafe(UPLOAD_BYTES);
  for (let i = 0; i < UPLOAD_BYTES; i++) bytes[i] = Math.imul(i + 1, 2654435761) >>> 24;
  return bytes;
}

/** A multipart/form-data body (RFC 7578) with one file field. */
export function multipart(field: string, filename: string, content: Uint8Array): { body: Buffer; contentType: string } {
  const boundary = '----tsgi-example-boundary-7MA4YWxkTrZu0gW';
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, content, tail]), contentType: `multipart/form-data; boundary=${boundary}` };
}

const file = uploadFile();
const upload = multipart('file', 'data.bin', file);

export const CASES: ExampleCase[] = [
  {
    name: 'GET /json',
    request: { method: 'GET', url: '/json' },
    expect: { status: 200, json: { hello: 'world' }, headers: { 'content-type': /^application\/json/ } },
  },
  {
    name: 'HEAD /json has the GET headers and no body',
    request: { method: 'HEAD', url: '/json' },
    expect: { status: 200, emptyBody: true, headers: { 'content-type': /^application\/json/ } },
  },
  {
    name: 'GET /users/:id',
    request: { method: 'GET', url: '/users/42' },
    expect: { status: 200, json: { id: '42' } },
  },
  {
    name: 'POST /form, urlencoded',
    request: {
      method: 'POST',
      url: '/form',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'a=1&b=two+words&c=%C3%A9',
    },
    expect: { status: 200, json: { a: '1', b: 'two words', c: 'é' } },
  },
  {
    name: 'POST /form, JSON',
    request: { method: 'POST', url: '/form', headers: { 'Content-Type': 'application/json' }, body: '{"a":1,"b":["x","y"]}' },
    expect: { status: 200, json: { a: 1, b: ['x', 'y'] } },
  },
  {
    name: 'POST /upload, 10 MiB multipart',
    request: { method: 'POST', url: '/upload', headers: { 'Content-Type': upload.contentType }, body: upload.body },
    expect: { status: 200, json: { size: UPLOAD_BYTES, sha256: createHash('sha256').update(file).digest('hex') } },
  },
  {
    name: 'GET /stream, three chunks',
    request: { method: 'GET', url: '/stream' },
    expect: { status: 200, text: 'chunk 1\nchunk 2\nchunk 3\n', headers: { 'content-type': /^text\/plain/ }, minChunks: 3 },
  },
  {
    name: 'GET /cookies sets two cookies and reads one',
    request: { method: 'GET', url: '/cookies', headers: { Cookie: 'c=hello; d=other' } },
    expect: { status: 200, setCookies: ['a=1', 'b=2'], json: { received: 'hello' } },
  },
  {
    name: 'GET /redirect',
    request: { method: 'GET', url: '/redirect' },
    expect: { status: 302, headers: { location: '/json' } },
  },
  {
    name: 'unknown path → 404',
    request: { method: 'GET', url: '/no/such/page' },
    expect: { status: 404 },
  },
  {
    name: 'GET /error → 500 without internals',
    request: { method: 'GET', url: '/error' },
    expect: { status: 500, bodyExcludes: 'hunter2' },
  },
];
