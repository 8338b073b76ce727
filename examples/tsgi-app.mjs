#!/usr/bin/env tsgi
// The example routes as a plain TSGI app: no framework and no dependency, the same routes as
// express.mjs, koa.mjs, fastify.mjs and hono.mjs, so one case table (test/examples/cases.ts) checks all.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

const MAX_FORM_BYTES = 1024 * 1024;
const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
const JSON_TYPE = [['Content-Type', 'application/json; charset=utf-8']];

function json(startResponse, value, status = '200 OK', headers = []) {
  startResponse(status, [...JSON_TYPE, ...headers]);
  return [JSON.stringify(value)];
}

/** Cookie request header → { name: value } (RFC 6265 §5.4: "name=value" pairs joined by "; "). */
function cookies(environ) {
  const jar = {};
  for (const pair of (environ.HTTP_COOKIE ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0) jar[pair.slice(0, eq).trim()] = decodeURIComponent(pair.slice(eq + 1).trim());
  }
  return jar;
}

/** The whole body, or null when it is longer than `maxBytes` (the caller answers 413, not a 500). */
async function readBody(environ, maxBytes) {
  try {
    return await environ['tsgi.input'].readAll(maxBytes);
  } catch (error) {
    // readAll refuses a longer body with code TSGI_BODY_TOO_LARGE (docs/spec.md "tsgi.input").
    if (error?.code === 'TSGI_BODY_TOO_LARGE') return null;
    throw error;
  }
}

const tooLarge = (startResponse) => json(startResponse, { error: 'request body too large' }, '413 Content Too Large');

async function form(environ, startResponse) {
  const bytes = await readBody(environ, MAX_FORM_BYTES);
  if (bytes === null) return tooLarge(startResponse);
  const text = Buffer.from(bytes).toString('utf8');
  const type = environ.CONTENT_TYPE ?? '';
  if (type.startsWith('application/json')) return json(startResponse, JSON.parse(text));
  if (type.startsWith('application/x-www-form-urlencoded')) return json(startResponse, Object.fromEntries(new URLSearchParams(text)));
  return json(startResponse, { error: 'unsupported media type' }, '415 Unsupported Media Type');
}

async function upload(environ, startResponse) {
  const body = await readBody(environ, MAX_UPLOAD_BYTES);
  if (body === null) return tooLarge(startResponse);
  // Node's own multipart parser (WHATWG fetch "multipart/form-data parser"), no dependency needed.
  const fields = await new Response(body, { headers: { 'Content-Type': environ.CONTENT_TYPE ?? '' } }).formData();
  const file = fields.get('file');
  if (typeof file === 'string' || file === null) return json(startResponse, { error: 'no file field' }, '400 Bad Request');
  const bytes = new Uint8Array(await file.arrayBuffer());
  return json(startResponse, { size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') });
}

async function* stream(environ) {
  for (let i = 1; i <= 3; i++) {
    if (i > 1) await sleep(20, undefined, { signal: environ['tsgi.signal'] });
    yield `chunk ${i}\n`;
  }
}

/** @type {import('tsgi').App} */
export default async function app(environ, startResponse) {
  const method = environ.REQUEST_METHOD === 'HEAD' ? 'GET' : environ.REQUEST_METHOD; // the server drops HEAD bodies
  const path = environ.PATH_INFO || '/';
  const user = /^\/users\/([^/]+)$/.exec(path);

  if (method === 'GET' && path === '/json') return json(startResponse, { hello: 'world' });
  if (method === 'GET' && user) return json(startResponse, { id: user[1] });
  if (method === 'POST' && path === '/form') return form(environ, startResponse);
  if (method === 'POST' && path === '/upload') return upload(environ, startResponse);
  if (method === 'GET' && path === '/stream') {
    startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
    return stream(environ);
  }
  if (method === 'GET' && path === '/cookies') {
    return json(startResponse, { received: cookies(environ).c ?? null }, '200 OK', [
      ['Set-Cookie', 'a=1; Path=/'],
      ['Set-Cookie', 'b=2; Path=/; HttpOnly'],
    ]);
  }
  if (method === 'GET' && path === '/redirect') {
    // SCRIPT_NAME keeps the link inside the app wherever it is mounted (docs/spec.md "environ").
    startResponse('302 Found', [['Location', `${environ.SCRIPT_NAME}/json`], ['Content-Type', 'text/plain; charset=utf-8']]);
    return ['Found\n'];
  }
  if (method === 'GET' && path === '/error') {
    throw new Error('secret internals: the database password is hunter2'); // the server answers a generic 500
  }
  return json(startResponse, { error: 'not found' }, '404 Not Found');
}
