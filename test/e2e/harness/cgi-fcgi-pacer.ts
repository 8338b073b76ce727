// Relays one cgi-fcgi run's FastCGI connection to the daemon, pacing the daemon's records so cgi-fcgi never reads half a header (e2e harness, web-server side).
//
// Why: libfcgi's cgi-fcgi (2.4.2, Debian's build; the fcgi2 sources on GitHub have the same code)
// cannot take a record header that arrives split across two read()s. AppServerReadHandler
// (cgi-fcgi/cgi-fcgi.c) completes it with `memcpy(&header + headerLen, ptr, count)`: pointer
// arithmetic in units of the 8-byte FCGI_Header, so the rest lands past `header`, which keeps the
// previous record's type and lengths. Out of step from there, cgi-fcgi takes content for the next
// header and exits 254 (FCGX_UNSUPPORTED_VERSION, -2), or 253, with the response cut short.
// Nothing on the wire is wrong: TCP may end a read anywhere. A read ends inside a header when
// cgi-fcgi has caught up with the bytes in flight at an unlucky byte (or its 8 KiB read buffer
// fills there), which CPU load makes common: beside two busy loops, a 10 MiB /echo failed so 8
// times in 178 runs, each failing run with a header split by one of cgi-fcgi's reads (logged read
// by read) and the daemon's stream well formed.
//
// What the relay does: every byte passes unchanged and in order, both ways; only *when* the
// daemon's bytes reach cgi-fcgi changes. They go in batches of whole records, each ending with a
// record whose content cgi-fcgi prints (FCGI_STDOUT on its stdout, FCGI_STDERR on its stderr), in
// one write to a unix socket (a write this size is queued for the reader whole), and the next
// batch waits until cgi-fcgi has printed everything sent, so it has read it: at most the last
// record's padding is left unread, and the next batch's headers come in the first bytes of
// cgi-fcgi's next read. Requests still run full duplex (cgi-fcgi's stdin flows to the daemon
// meanwhile), and the daemon still meets backpressure: the relay stops reading it past
// RELAY_HOLD_BYTES held. Test-only, independent of src/.
import { connect, createServer, type Socket } from 'node:net';
import type { Endpoint } from './ports.js';

const FCGI_HEADER_LEN = 8;
const FCGI_STDOUT = 6;
const FCGI_STDERR = 7;
/** Daemon bytes held (not yet handed to cgi-fcgi) past which the relay stops reading the daemon. */
const RELAY_HOLD_BYTES = 256 * 1024;

export interface PacedRelay {
  /** The unix socket to give `cgi-fcgi -connect`; it accepts one connection. */
  readonly path: string;
  /** cgi-fcgi wrote `bytes` to its stdout (FCGI_STDOUT content it read). */
  printedStdout(bytes: number): void;
  /** cgi-fcgi wrote `bytes` to its stderr (FCGI_STDERR content it read). */
  printedStderr(bytes: number): void;
  /** The run is over: closes both sides and stops listening. */
  close(): void;
}

/** The next batch in `held`: up to the first printed record, or every whole record there is. */
function nextBatch(held: Buffer, daemonEnded: boolean): { end: number; stdout: number; stderr: number } | undefined {
  let at = 0;
  let stdout = 0;
  let stderr = 0;
  while (at + FCGI_HEADER_LEN <= held.length) {
    const type = held[at + 1]!;
    const length = held.readUInt16BE(at + 4);
    const next = at + FCGI_HEADER_LEN + length + held[at + 6]!;
    if (next > held.length) break;
    at = next;
    if (type === FCGI_STDOUT) stdout += length;
    if (type === FCGI_STDERR) stderr += length;
    if (length > 0 && (type === FCGI_STDOUT || type === FCGI_STDERR)) return { end: at, stdout, stderr };
  }
  // The daemon has closed: the rest goes as it is (a cut-off record makes cgi-fcgi exit 253).
  if (daemonEnded) return held.length > 0 ? { end: held.length, stdout, stderr } : undefined;
  return at > 0 ? { end: at, stdout, stderr } : undefined;
}

/**
 * Listens on `path` for one cgi-fcgi connection and relays it to `daemon` (see the file header).
 * The caller reports what cgi-fcgi printed (`printedStdout`/`printedStderr`) and calls `close()`
 * when it exits.
 */
export async function startPacedRelay(path: string, daemon: Endpoint, log: (line: string) => void): Promise<PacedRelay> {
  let sentStdout = 0;
  let sentStderr = 0;
  let printedStdout = 0;
  let printedStderr = 0;
  let held: Buffer = Buffer.alloc(0);
  let daemonEnded = false;
  let cgiSide: Socket | undefined;
  let daemonSide: Socket | undefined;

  const pump = (): void => {
    if (cgiSide === undefined || daemonSide === undefined || cgiSide.destroyed) return;
    while (printedStdout >= sentStdout && printedStderr >= sentStderr) {
      const batch = nextBatch(held, daemonEnded);
      if (batch === undefined) break;
      cgiSide.write(held.subarray(0, batch.end));
      held = held.subarray(batch.end);
      sentStdout += batch.stdout;
      sentStderr += batch.stderr;
    }
    if (daemonEnded && held.length === 0) cgiSide.end();
    else if (held.length < RELAY_HOLD_BYTES && daemonSide.isPaused()) daemonSide.resume();
  };

  const server = createServer((socket) => {
    server.close(); // one run, one connection
    cgiSide = socket;
    const upstream = 'path' in daemon ? connect(daemon.path) : connect(daemon.port, daemon.host);
    daemonSide = upstream;
    socket.pipe(upstream); // cgi-fcgi's records as they come (its stdin flows while the response does)
    upstream.on('data', (chunk: Buffer) => {
      held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
      if (held.length >= RELAY_HOLD_BYTES) upstream.pause();
      pump();
    });
    upstream.on('end', () => {
      daemonEnded = true;
      pump();
    });
    // A unix socket has no reset to pass on: either side failing closes the other, and cgi-fcgi
    // reads an end without FCGI_END_REQUEST (exit 253), as when the daemon cuts a response off.
    const onError = (side: string) => (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') log(`[relay] ${side}: ${error.message}\n`);
    };
    upstream.on('error', onError('daemon side'));
    socket.on('error', onError('cgi-fcgi side'));
    upstream.on('close', () => {
      if (!daemonEnded) socket.destroy();
    });
    socket.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });

  return {
    path,
    printedStdout(bytes) {
      printedStdout += bytes;
      pump();
    },
    printedStderr(bytes) {
      printedStderr += bytes;
      pump();
    },
    close() {
      server.close();
      cgiSide?.destroy();
      daemonSide?.destroy();
    },
  };
}
