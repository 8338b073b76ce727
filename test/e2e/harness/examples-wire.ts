// Sends the example case table (test/examples/cases.ts) to a real front server over HTTP and checks the answers (e2e).
import { expect } from 'vitest';
import type { ExampleExpect, ExampleRequest } from '../../examples/cases.js';
import { open } from './http.js';

/** One response as the client received it over HTTP/1.1. */
export interface WireResponse {
  status: number;
  /** Header fields in the order received, names as sent, repeats (Set-Cookie) kept. */
  headers: Array<[string, string]>;
  body: Buffer;
  /** How many 'data' events the body arrived in: more than one when the front server streamed it. */
  chunks: number;
  /** False when the connection ended before the body was complete. */
  complete: boolean;
}

/** Sends `request` to `base + request.url` on a fresh connection (bounded by `timeoutMs`). */
export async function send(base: string, request: ExampleRequest, timeoutMs = 30_000): Promise<WireResponse> {
  const body = request.body === undefined ? undefined : Buffer.from(request.body);
  const res = await open(`${base}${request.url}`, { method: request.method, headers: request.headers, body, timeoutMs });
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const timer = setTimeout(() => res.destroy(new Error(`e2e: body of ${request.method} ${request.url} took over ${timeoutMs} ms`)), timeoutMs);
    res.on('data', (chunk: Buffer) => parts.push(chunk));
    res.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    res.once('close', () => {
      clearTimeout(timer);
      const headers: Array<[string, string]> = [];
      for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
      resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(parts), chunks: parts.length, complete: res.complete });
    });
  });
}

export function header(res: WireResponse, name: string): string | undefined {
  return res.headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

export function setCookies(res: WireResponse): string[] {
  return res.headers.filter(([n]) => n.toLowerCase() === 'set-cookie').map(([, v]) => v);
}

export interface CheckContext {
  /** The app's SCRIPT_NAME at this mount ("" behind nginx at "/", "/cgi-bin/<name>.cgi" under CGI). */
  scriptName: string;
  /**
   * True when the app builds its redirect from SCRIPT_NAME (tsgi-app.mjs), so `Location: /json`
   * becomes `<SCRIPT_NAME>/json`. Express, Koa, Fastify and Hono write the Location they are given,
   * whatever the mount, as they do when mounted as a sub-app.
   */
  mountAwareRedirect: boolean;
  /** Whether separate body chunks must be visible to the client (a streaming front server). */
  streaming: boolean;
}

/** The case table's expectations, as examples.test.ts checks them, over a real HTTP connection. */
export function checkExample(res: WireResponse, want: ExampleExpect, context: CheckContext): void {
  const text = res.body.toString('utf8');
  expect(res.status, text.slice(0, 500)).toBe(want.status);
  expect(res.complete, 'the response body ended early').toBe(true);
  if (want.json !== undefined) expect(JSON.parse(text)).toEqual(want.json);
  if (want.text !== undefined) expect(text).toBe(want.text);
  if (want.emptyBody === true) expect(res.body.byteLength).toBe(0);
  if (want.bodyExcludes !== undefined) expect(text).not.toContain(want.bodyExcludes);
  for (const [name, value] of Object.entries(want.headers ?? {})) {
    const got = header(res, name);
    if (name === 'location' && typeof value === 'string' && value.startsWith('/') && context.mountAwareRedirect) {
      expect(got).toBe(`${context.scriptName}${value}`);
    } else if (typeof value === 'string') expect(got).toBe(value);
    else expect(got).toMatch(value);
  }
  if (want.setCookies !== undefined) {
    const cookies = setCookies(res);
    expect(cookies).toHaveLength(want.setCookies.length);
    want.setCookies.forEach((prefix, i) => expect(cookies[i]?.startsWith(`${prefix};`) || cookies[i] === prefix, cookies[i]).toBe(true));
  }
  if (want.minChunks !== undefined && context.streaming) expect(res.chunks).toBeGreaterThanOrEqual(want.minChunks);
}

/**
 * What must not depend on the transport, for one app and one request: status, body, Content-Type,
 * each Set-Cookie, and Location relative to the mount. Headers the front server adds or rewrites
 * (Date, Server, Connection, Keep-Alive, Transfer-Encoding, Content-Length) are left out.
 */
export function transportIndependent(res: WireResponse, scriptName: string): Record<string, unknown> {
  const location = header(res, 'location');
  return {
    status: res.status,
    body: res.body.toString('utf8'),
    contentType: header(res, 'content-type'),
    setCookies: setCookies(res),
    location: location !== undefined && scriptName !== '' && location.startsWith(`${scriptName}/`) ? location.slice(scriptName.length) : location,
  };
}
