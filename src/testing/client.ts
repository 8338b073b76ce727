// Calls a TSGI app in-process and collects its response, for users' tests (the client side).

import { runApp, type Outcome } from '../core/driver.js';
import type { App, HeaderList } from '../core/types.js';
import { makeEnviron, type TestRequest } from './environ-builder.js';

/** A collected response. */
export interface TestResponse {
  /** e.g. 200. */
  status: number;
  /** The status line as the app gave it, e.g. `"200 OK"`. */
  statusLine: string;
  /** Headers in order, repeats kept (each Set-Cookie separately). */
  headers: HeaderList;
  /** The whole body. */
  body: Buffer;
  /** `complete`, `failed` (the app erred: a 500 or a cut-off response) or `aborted`. */
  outcome: Outcome;
  /** True when the response was cut off after it started (the client would see it incomplete). */
  cutOff: boolean;
  /** Lines the server logged for this request (app errors). */
  log: string[];
  /** The body decoded as UTF-8. */
  text(): string;
  /** The first header with this name (case-insensitive). */
  header(name: string): string | undefined;
}

/**
 * Runs requests against an app in-process through the same driver the CGI runner and the FastCGI
 * daemon use, so error policy, lazy headers and closing behave as in production.
 * @example
 * const client = new TestClient(app);
 * const res = await client.get('/hello?name=x');
 * expect(res.status).toBe(200);
 */
export class TestClient {
  readonly #app: App;

  constructor(app: App) {
    this.#app = app;
  }

  get(url: string, headers?: Record<string, string>): Promise<TestResponse> {
    return this.request({ method: 'GET', url, headers });
  }

  post(url: string, body: Uint8Array | string, headers?: Record<string, string>): Promise<TestResponse> {
    return this.request({ method: 'POST', url, body, headers });
  }

  /** Runs one request; never rejects for app errors (they come back as a 500 or `cutOff`). */
  async request(request: TestRequest): Promise<TestResponse> {
    const { environ } = makeEnviron(request);
    let statusLine = '';
    let headers: HeaderList = [];
    let cutOff = false;
    const chunks: Buffer[] = [];
    const log: string[] = [];
    const outcome = await runApp(
      this.#app,
      environ,
      {
        start(status, list) {
          statusLine = status;
          headers = list;
        },
        write(chunk) {
          chunks.push(Buffer.from(chunk));
          return true;
        },
        drain: () => Promise.resolve(),
        end() {},
        abort() {
          cutOff = statusLine !== '';
        },
      },
      { log: (line) => void log.push(line) },
    );
    const body = Buffer.concat(chunks);
    return {
      status: Number(statusLine.slice(0, 3)),
      statusLine,
      headers,
      body,
      outcome,
      cutOff,
      log,
      text: () => body.toString('utf8'),
      header: (name) => headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1],
    };
  }
}
