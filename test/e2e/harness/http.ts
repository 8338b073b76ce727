// Small node:http clients for the e2e tests: whole responses, streamed responses, truncation detection.
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

export interface Response {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  /** Raw header lines as received, names in their original case, repeats kept. */
  rawHeaders: string[];
  body: Buffer;
  /** False when the connection ended before the body was complete (chunked terminator missing, short Content-Length). */
  complete: boolean;
  /** The error the response stream raised, if any (e.g. ECONNRESET / "aborted"). */
  error?: Error;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Sent with Transfer-Encoding: chunked, in pieces of this many bytes. */
  chunkedPieceBytes?: number;
  timeoutMs?: number;
}

/** Opens a request and resolves with the response head; the body is left for the caller to read. */
export function open(url: string, options: RequestOptions = {}): Promise<IncomingMessage> {
  const { method = 'GET', headers = {}, body, chunkedPieceBytes, timeoutMs = 30_000 } = options;
  return new Promise((resolve, reject) => {
    // agent: false — a fresh connection per request, so one test's leftovers never affect another.
    const req = httpRequest(url, { method, headers, agent: false, timeout: timeoutMs }, resolve);
    req.once('error', reject);
    req.once('timeout', () => req.destroy(new Error(`e2e: ${method} ${url} timed out after ${timeoutMs} ms`)));
    if (body === undefined) {
      req.end();
    } else if (chunkedPieceBytes) {
      const bytes = Buffer.from(body);
      for (let at = 0; at < bytes.length; at += chunkedPieceBytes) req.write(bytes.subarray(at, at + chunkedPieceBytes));
      req.end();
    } else {
      req.setHeader('Content-Length', Buffer.byteLength(body));
      req.end(body);
    }
  });
}

/** Reads a response body to its end, recording (instead of throwing) a connection cut short. */
export function readBody(res: IncomingMessage): Promise<{ body: Buffer; complete: boolean; error?: Error }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: Error | undefined;
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('error', (e) => {
      error = e;
    });
    // 'close' comes after 'end' or after an error/abort; res.complete tells them apart.
    res.on('close', () => resolve({ body: Buffer.concat(chunks), complete: res.complete, error }));
    // A 'data' listener does not restart a stream that readUntil() paused explicitly.
    res.resume();
  });
}

export async function fetchRaw(url: string, options: RequestOptions = {}): Promise<Response> {
  const res = await open(url, options);
  const { body, complete, error } = await readBody(res);
  return {
    status: res.statusCode ?? 0,
    statusMessage: res.statusMessage ?? '',
    headers: res.headers,
    rawHeaders: res.rawHeaders,
    body,
    complete,
    error,
  };
}

/** Reads from a streaming response until `text` has arrived (bounded); returns what was read. */
export function readUntil(res: IncomingMessage, text: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`e2e: ${JSON.stringify(text)} did not arrive within ${timeoutMs} ms (got ${JSON.stringify(seen)})`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      if (seen.includes(text)) {
        cleanup();
        resolve(seen);
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`e2e: response ended before ${JSON.stringify(text)} arrived (got ${JSON.stringify(seen)})`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      res.off('data', onData);
      res.off('end', onEnd);
      res.pause();
    };
    res.on('data', onData);
    res.on('end', onEnd);
    res.resume();
  });
}
