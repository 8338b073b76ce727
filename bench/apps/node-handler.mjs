// The benchmark app as a node:http request listener, hosted by node-http.mjs and node-fastcgi.mjs.
// Same routes, bytes and headers as tsgi-app.mjs.

import { HELLO, NOT_FOUND, SIXTY_FOUR_K, TEXT_PLAIN } from './payloads.mjs';

const HELLO_HEADERS = { 'Content-Type': TEXT_PLAIN, 'Content-Length': String(HELLO.byteLength) };
const SIXTY_FOUR_K_HEADERS = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(SIXTY_FOUR_K.byteLength) };
const NOT_FOUND_HEADERS = { 'Content-Type': TEXT_PLAIN, 'Content-Length': String(NOT_FOUND.byteLength) };

/** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res */
export function handler(req, res) {
  const path = req.url;
  if (path === '/hello' && req.method === 'GET') {
    res.writeHead(200, HELLO_HEADERS);
    res.end(HELLO);
    return;
  }
  if (path === '/64k' && req.method === 'GET') {
    res.writeHead(200, SIXTY_FOUR_K_HEADERS);
    res.end(SIXTY_FOUR_K);
    return;
  }
  if (path === '/upload' && req.method === 'POST') {
    let length = 0;
    req.on('data', (chunk) => {
      length += chunk.byteLength;
    });
    req.on('end', () => {
      const body = Buffer.from(`${length}\n`);
      res.writeHead(200, { 'Content-Type': TEXT_PLAIN, 'Content-Length': String(body.byteLength) });
      res.end(body);
    });
    return;
  }
  res.writeHead(404, NOT_FOUND_HEADERS);
  res.end(NOT_FOUND);
}

/** `--listen HOST:PORT` from argv; loopback only, like every process the benchmark starts. */
export function listenAddress(argv) {
  const index = argv.indexOf('--listen');
  const value = index >= 0 ? argv[index + 1] : undefined;
  const match = /^(127\.0\.0\.1):(\d+)$/.exec(value ?? '');
  if (match === null) {
    process.stderr.write('usage: node <app>.mjs --listen 127.0.0.1:PORT\n');
    process.exit(2);
  }
  return { host: match[1], port: Number(match[2]) };
}

/** Exit on SIGTERM/SIGINT with a normal exit, so `node --cpu-prof` writes its profile. */
export function exitOnSignals(server) {
  const stop = () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
