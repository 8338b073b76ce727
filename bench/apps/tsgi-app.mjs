// The benchmark app as a TSGI app (served by `tsgi fastcgi` and `tsgi cgi`); same routes as node-handler.mjs.
//
//   GET  /hello   -> "Hello, world!\n" (14 bytes)
//   GET  /64k     -> 65536 bytes
//   POST /upload  -> the request body's length in bytes, counted as it streams in (not buffered)
// Bodies are preallocated Buffers and Content-Length is set explicitly, as in node-handler.mjs.

import { HELLO, NOT_FOUND, SIXTY_FOUR_K, TEXT_PLAIN } from './payloads.mjs';

const HELLO_HEADERS = [['Content-Type', TEXT_PLAIN], ['Content-Length', String(HELLO.byteLength)]];
const SIXTY_FOUR_K_HEADERS = [['Content-Type', 'application/octet-stream'], ['Content-Length', String(SIXTY_FOUR_K.byteLength)]];
const NOT_FOUND_HEADERS = [['Content-Type', TEXT_PLAIN], ['Content-Length', String(NOT_FOUND.byteLength)]];

/** @type {import('tsgi').App} */
export default function app(environ, startResponse) {
  const path = environ.PATH_INFO;
  const method = environ.REQUEST_METHOD;
  if (path === '/hello' && method === 'GET') {
    startResponse('200 OK', HELLO_HEADERS);
    return [HELLO];
  }
  if (path === '/64k' && method === 'GET') {
    startResponse('200 OK', SIXTY_FOUR_K_HEADERS);
    return [SIXTY_FOUR_K];
  }
  if (path === '/upload' && method === 'POST') return countBody(environ, startResponse);
  startResponse('404 Not Found', NOT_FOUND_HEADERS);
  return [NOT_FOUND];
}

async function countBody(environ, startResponse) {
  let length = 0;
  for await (const chunk of environ['tsgi.input']) length += chunk.byteLength;
  const body = Buffer.from(`${length}\n`);
  startResponse('200 OK', [['Content-Type', TEXT_PLAIN], ['Content-Length', String(body.byteLength)]]);
  return [body];
}
