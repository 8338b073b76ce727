// An HTTP front for the e2e tests that answers each request by running libfcgi's `cgi-fcgi -bind -connect` against the daemon.
//
// cgi-fcgi is a CGI program that forwards its own CGI request (environment + stdin) to a FastCGI
// server and prints the CGI response (RFC 3875 §6) it gets back. This gateway is the minimal CGI
// host around it, so the shared suite can run through cgi-fcgi like through any front server:
//   - the environment is built here, nginx-style, with the app mounted at "/": SCRIPT_NAME "",
//     PATH_INFO the decoded path, CONTENT_LENGTH/CONTENT_TYPE only when the request has them, every
//     other header as HTTP_* (except Proxy, httpoxy). cgi-fcgi sends its whole environment as
//     FCGI_PARAMS, so it gets nothing else (no PATH, no HOME);
//   - the request body is piped to its stdin, its stdout is parsed ("Status:", headers) and
//     streamed to the client as it arrives;
//   - cgi-fcgi exits as soon as it has FCGI_END_REQUEST, with its appStatus as exit status (tsgi
//     sends 1 after an app error answered with 500), and with 253 (libfcgi's FCGX_PROTOCOL_ERROR,
//     -3) when the connection ended without it. On 253 (or a signal) the gateway cuts the client's
//     response off instead of ending it: the signal a FastCGI front server gives, and the one
//     tsgi's cut-off relies on;
//   - cgi-fcgi connects to the daemon through a relay that hands it the daemon's bytes unchanged
//     but a batch of records at a time (harness/cgi-fcgi-pacer.ts): cgi-fcgi loses track of the
//     stream when a record header arrives split across two reads (exit 254), which load makes
//     likely on a 10 MiB response.
// Test-only, independent of src/. Not a model CGI host: no timeouts beyond the tests' own.
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { CGI_FCGI } from './binaries.js';
import { startPacedRelay, type PacedRelay } from './cgi-fcgi-pacer.js';
import type { FrontServer } from './front-server.js';
import type { Endpoint } from './ports.js';
import { makePrefix, removePrefix } from './prefix.js';

const HEADER_END_RE = /\r?\n\r?\n/;
/** cgi-fcgi's exit status when the connection ended before FCGI_END_REQUEST: FCGX_PROTOCOL_ERROR (-3). */
export const CGI_FCGI_NO_END_REQUEST = 253;

/** The CGI meta-variables (RFC 3875 §4.1) for one HTTP request, the app mounted at "/". */
function cgiEnvironment(req: IncomingMessage, serverPort: number): Record<string, string> {
  const raw = req.url ?? '/';
  const at = raw.indexOf('?');
  const path = at < 0 ? raw : raw.slice(0, at);
  const env: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'tsgi-e2e-cgi-fcgi-gateway',
    REQUEST_METHOD: req.method ?? 'GET',
    SCRIPT_NAME: '',
    // Throws URIError on a malformed escape; the caller answers 400.
    PATH_INFO: decodeURIComponent(path),
    QUERY_STRING: at < 0 ? '' : raw.slice(at + 1),
    REQUEST_URI: raw,
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_NAME: (req.headers.host ?? '127.0.0.1').replace(/:\d+$/, ''),
    SERVER_PORT: String(serverPort),
    SERVER_ADDR: req.socket.localAddress ?? '127.0.0.1',
    REMOTE_ADDR: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
    REMOTE_PORT: String(req.socket.remotePort ?? ''),
  };
  if (req.headers['content-length'] !== undefined) env.CONTENT_LENGTH = req.headers['content-length'];
  if (req.headers['content-type'] !== undefined) env.CONTENT_TYPE = req.headers['content-type'];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    if (name === 'content-length' || name === 'content-type' || name === 'proxy') continue;
    const key = `HTTP_${name.toUpperCase().replace(/-/g, '_')}`;
    const value = req.rawHeaders[i + 1]!;
    env[key] = key in env ? `${env[key]}${name === 'cookie' ? '; ' : ', '}${value}` : value;
  }
  return env;
}

/** Parses a CGI response head (RFC 3875 §6.2): Status line, Location without Status means 302. */
function parseHead(head: string): { status: number; reason: string; headers: string[] } {
  let status = 200;
  let reason = '';
  let sawStatus = false;
  let location = false;
  const headers: string[] = [];
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      const match = /^(\d{3})\s*(.*)$/.exec(value);
      if (match) {
        status = Number(match[1]);
        reason = match[2] ?? '';
        sawStatus = true;
      }
      continue;
    }
    if (name.toLowerCase() === 'location') location = true;
    headers.push(name, value);
  }
  if (!sawStatus && location) status = 302;
  return { status, reason, headers };
}

/**
 * Starts the gateway on a free loopback port; each request runs `cgi-fcgi -bind -connect <relay>`,
 * the relay connected to `daemon`.
 */
export async function startCgiFcgiGateway({ daemon }: { daemon: Endpoint }): Promise<FrontServer> {
  const cgiFcgi = CGI_FCGI.require();
  const prefix = await makePrefix('cgi-fcgi'); // the relays' unix sockets
  let runs = 0;
  let log = '';
  let port = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const label = `${req.method} ${req.url}`;
    let env: Record<string, string>;
    try {
      env = cgiEnvironment(req, port);
    } catch {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('bad request path\n');
      return;
    }
    let relay: PacedRelay;
    try {
      relay = await startPacedRelay(join(prefix, `${++runs}.sock`), daemon, (line) => (log += line));
    } catch (error) {
      log += `[gateway] relay for ${label}: ${(error as Error).message}\n`;
      res.writeHead(502, { 'Content-Type': 'text/plain' }).end('no relay\n');
      return;
    }
    const child = spawn(cgiFcgi, ['-bind', '-connect', relay.path], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.on('error', () => {}); // cgi-fcgi reads only CONTENT_LENGTH bytes, then may exit
    req.pipe(child.stdin);
    child.stderr.on('data', (chunk: Buffer) => {
      relay.printedStderr(chunk.length);
      log += chunk.toString('utf8');
    });
    // The client went away before the response finished: stop this request's cgi-fcgi.
    res.on('close', () => {
      if (!res.writableFinished && child.exitCode === null) child.kill('SIGTERM');
    });

    let head = Buffer.alloc(0);
    let headSent = false;
    child.stdout.on('data', (chunk: Buffer) => {
      relay.printedStdout(chunk.length);
      if (headSent) {
        if (!res.write(chunk)) {
          child.stdout.pause();
          res.once('drain', () => child.stdout.resume());
        }
        return;
      }
      head = Buffer.concat([head, chunk]);
      const text = head.toString('latin1');
      const end = HEADER_END_RE.exec(text);
      if (!end) return;
      const { status, reason, headers } = parseHead(text.slice(0, end.index));
      res.writeHead(status, reason || undefined, headers);
      headSent = true;
      const rest = head.subarray(end.index + end[0].length);
      if (rest.length > 0) res.write(rest);
    });
    child.on('close', (code, signal) => {
      relay.close();
      if (code !== 0) log += `[gateway] cgi-fcgi exited with ${code ?? signal} for ${label}\n`;
      if (!headSent) {
        if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end('cgi-fcgi gave no response head\n');
      } else if (code === null || code === CGI_FCGI_NO_END_REQUEST) {
        // No FCGI_END_REQUEST: the response is incomplete, so the client must not see an end.
        res.destroy();
      } else {
        res.end();
      }
    });
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('e2e: cgi-fcgi gateway has no tcp address');
  port = address.port;

  return {
    url: `http://127.0.0.1:${port}`,
    prefix,
    logs: async () => log,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await removePrefix(prefix);
    },
  };
}
