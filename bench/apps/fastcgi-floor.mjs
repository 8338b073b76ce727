// The floor for a FastCGI responder on Node, a benchmark peer and not a server to use: the least work per request behind nginx.
//
//   node fastcgi-floor.mjs --listen 127.0.0.1:PORT
//
// What tsgi is measured against when the question is "how much of this is Node's, how much ours":
// the same net.Server, 'data' events and one socket write per response as tsgi, and nothing else.
// It frames records (FastCGI spec §3.3) without checking them, picks the route by looking for the
// path in the PARAMS bytes, never decodes a pair, makes no environ and runs no app, counts an
// upload's FCGI_STDIN bytes without keeping them, and answers GETs with records built once per
// request id. It ignores backpressure (nginx reads what it is sent). The responses are tsgi's for
// the benchmark's routes (bench/apps/tsgi-app.mjs), framed in as few records as fit: tsgi puts the
// head of a 64 KiB body in a record of its own, one 8-byte header more.
//
// It does less than any real responder must (no pair decoded, nothing validated), so it bounds
// from one side only: what the floor cannot reach, no Node FastCGI backend can on the same machine;
// what it does reach, a real one may still not.

import { createServer } from 'node:net';
import { exitOnSignals, listenAddress } from './node-handler.mjs';
import { HELLO, NOT_FOUND, SIXTY_FOUR_K, TEXT_PLAIN } from './payloads.mjs';

const BEGIN_REQUEST = 1;
const END_REQUEST = 3;
const PARAMS = 4;
const STDIN = 5;
const STDOUT = 6;
const MAX_CONTENT = 65535;

function header(type, id, length, padding) {
  return Buffer.from([1, type, id >> 8, id & 0xff, length >> 8, length & 0xff, padding, 0]);
}

/** A CGI response as FCGI_STDOUT records, the empty STDOUT and FCGI_END_REQUEST, in one buffer. */
function records(id, status, type, body) {
  const bytes = Buffer.concat([Buffer.from(`Status: ${status}\r\nContent-Type: ${type}\r\nContent-Length: ${body.byteLength}\r\n\r\n`), body]);
  const parts = [];
  for (let at = 0; at < bytes.byteLength; at += MAX_CONTENT) {
    const piece = bytes.subarray(at, Math.min(bytes.byteLength, at + MAX_CONTENT));
    const padding = (8 - (piece.byteLength % 8)) % 8;
    parts.push(header(STDOUT, id, piece.byteLength, padding), piece, Buffer.alloc(padding));
  }
  parts.push(header(STDOUT, id, 0, 0), header(END_REQUEST, id, 8, 0), Buffer.alloc(8));
  return Buffer.concat(parts);
}

const ROUTES = [
  { path: Buffer.from('/hello'), status: '200 OK', type: TEXT_PLAIN, body: HELLO },
  { path: Buffer.from('/64k'), status: '200 OK', type: 'application/octet-stream', body: SIXTY_FOUR_K },
  { path: Buffer.from('/upload'), upload: true },
];
const MISSING = { status: '404 Not Found', type: TEXT_PLAIN, body: NOT_FOUND };
/** PARAMS bytes kept from one piece to the next: one less than the longest path. */
const CARRY_BYTES = Math.max(...ROUTES.map((route) => route.path.byteLength)) - 1;
const EMPTY = Buffer.alloc(0);
/** Prebuilt answers by route and request id (nginx uses id 1 on every connection). */
const built = new Map();

function answer(route, id, uploaded) {
  if (route.upload) return records(id, '200 OK', TEXT_PLAIN, Buffer.from(`${uploaded}\n`));
  let byId = built.get(route);
  if (byId === undefined) built.set(route, (byId = new Map()));
  let bytes = byId.get(id);
  if (bytes === undefined) byId.set(id, (bytes = records(id, route.status, route.type, route.body)));
  return bytes;
}

/** One connection's record framing, streamed: a header may span reads; content is never kept but for PARAMS. */
function serve(socket) {
  socket.setNoDelay(true);
  const head = Buffer.alloc(8);
  let headBytes = 0;
  let type = 0;
  let id = 0;
  let contentLeft = 0;
  let paddingLeft = 0;
  /** Bytes of the current record's content already seen (a record's content may span reads). */
  let contentAt = 0;
  let keepConn = true;
  let route = MISSING;
  let uploaded = 0;
  /** The end of the PARAMS bytes seen so far, for a path cut by a read or a record boundary. */
  let carry = EMPTY;
  socket.on('data', (chunk) => {
    let at = 0;
    while (at < chunk.byteLength) {
      if (contentLeft === 0 && paddingLeft === 0) {
        const take = Math.min(8 - headBytes, chunk.byteLength - at);
        chunk.copy(head, headBytes, at, at + take);
        headBytes += take;
        at += take;
        if (headBytes < 8) return;
        headBytes = 0;
        type = head[1];
        id = (head[2] << 8) | head[3];
        contentLeft = (head[4] << 8) | head[5];
        contentAt = 0;
        paddingLeft = head[6];
        if (contentLeft === 0) {
          if (type === STDIN) {
            socket.write(answer(route, id, uploaded));
            if (!keepConn) socket.end();
          }
          continue;
        }
      }
      if (contentLeft > 0) {
        const take = Math.min(contentLeft, chunk.byteLength - at);
        const content = chunk.subarray(at, at + take);
        if (type === BEGIN_REQUEST) {
          if (contentAt === 0) {
            route = MISSING;
            uploaded = 0;
            carry = EMPTY;
          }
          // The flags are byte 2 of the body (spec §5.1), in whichever piece holds it.
          if (contentAt <= 2 && contentAt + take > 2) keepConn = (content[2 - contentAt] & 1) === 1;
        } else if (type === PARAMS) {
          // The route's path in the pairs' bytes (nginx sends it in REQUEST_URI and PATH_INFO).
          const hay = carry.byteLength === 0 ? content : Buffer.concat([carry, content]);
          for (const candidate of ROUTES) if (hay.indexOf(candidate.path) >= 0) route = candidate;
          carry = Buffer.from(hay.subarray(Math.max(0, hay.byteLength - CARRY_BYTES)));
        } else if (type === STDIN) {
          uploaded += take;
        }
        contentAt += take;
        contentLeft -= take;
        at += take;
        continue;
      }
      const skip = Math.min(paddingLeft, chunk.byteLength - at);
      paddingLeft -= skip;
      at += skip;
    }
  });
  socket.on('error', () => socket.destroy());
}

const { host, port } = listenAddress(process.argv);
const server = createServer({ allowHalfOpen: false, noDelay: true }, serve);
exitOnSignals(server);
server.listen(port, host, () => {
  process.stderr.write(`bench: fastcgi-floor listening on ${host}:${port}\n`);
});
