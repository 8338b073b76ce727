// Implements one FastCGI request from the application side: PARAMS → environ, STDIN → tsgi.input, STDOUT out.

import { encodeCgiHead } from '../core/cgi-response.js';
import { runApp, type ResponseSink } from '../core/driver.js';
import { buildEnviron } from '../core/environ.js';
import { ProtocolError, RequestAbortedError } from '../core/errors.js';
import { BodyInput } from '../core/input.js';
import type { App, Environ, HeaderList } from '../core/types.js';
import { ProtocolStatus, RecordType } from './constants.js';
import { decodeParams } from './params.js';
import type { RecordWriter } from './writer.js';

/** What a request needs from its connection. */
export interface RequestHost {
  readonly app: App;
  readonly writer: RecordWriter;
  readonly connectionId: number;
  readonly multiprocess: boolean;
  readonly scriptName: string | undefined;
  /** Largest PARAMS stream accepted, in bytes. */
  readonly maxParamsBytes: number;
  /** Server log (the daemon's stderr). */
  log(line: string): void;
  /** Stop/restart reading the socket (backpressure from tsgi.input). */
  pause(): void;
  resume(): void;
  /** Resolves when the socket can take more; rejects with RequestAbortedError when it closed. */
  drain(): Promise<void>;
  /** The request finished (END_REQUEST sent, or the connection must be dropped). */
  done(request: FastCgiRequest, closeConnection: boolean): void;
}

const enum Phase {
  Params,
  Running,
  Done,
}

/**
 * One request on a connection, responder role (FastCGI spec §6.2). Collects PARAMS until the empty
 * record (pairs may straddle records, spec §3.4), then runs the app while FCGI_STDIN streams into
 * `tsgi.input`; the response goes out as FCGI_STDOUT, closed by an empty record and FCGI_END_REQUEST
 * (spec §5.5).
 */
export class FastCgiRequest {
  readonly id: number;
  readonly keepConn: boolean;
  readonly #host: RequestHost;
  readonly #controller = new AbortController();
  #phase = Phase.Params;
  #params: Uint8Array[] = [];
  #paramsBytes = 0;
  #input: BodyInput | undefined;
  #stdinEnded = false;
  #stderrUsed = false;
  #abortRequested = false;
  #responseEnded = false;

  constructor(host: RequestHost, id: number, keepConn: boolean) {
    this.#host = host;
    this.id = id;
    this.keepConn = keepConn;
  }

  /** FCGI_PARAMS content; the empty record ends the stream and starts the app. */
  params(content: Uint8Array): void {
    if (this.#phase !== Phase.Params) {
      throw new ProtocolError('FCGI_BAD_PARAMS', `fastcgi: FCGI_PARAMS after the params stream ended (request ${this.id})`);
    }
    if (content.byteLength > 0) {
      this.#paramsBytes += content.byteLength;
      if (this.#paramsBytes > this.#host.maxParamsBytes) {
        throw new ProtocolError(
          'FCGI_PARAMS_TOO_LARGE',
          `fastcgi: params of request ${this.id} exceed ${this.#host.maxParamsBytes} bytes`,
        );
      }
      this.#params.push(content); // a view into a socket chunk Node never reuses: no copy needed
      return;
    }
    const pairs = decodeParams(concat(this.#params, this.#paramsBytes));
    this.#params = [];
    this.#phase = Phase.Running;
    void this.#run(pairs);
  }

  /** FCGI_STDIN content; the empty record ends the body. */
  stdin(content: Uint8Array): void {
    if (this.#stdinEnded) return;
    if (content.byteLength === 0) {
      this.#stdinEnded = true;
      this.#input?.end();
      return;
    }
    if (this.#input === undefined) {
      // STDIN before the params ended is out of order (spec §3.3): keep nothing, fail loudly.
      throw new ProtocolError('FCGI_BAD_STDIN', `fastcgi: FCGI_STDIN before the params ended (request ${this.id})`);
    }
    this.#input.push(content);
  }

  /** FCGI_ABORT_REQUEST (spec §5.4): the client went away; the app's signal fires. */
  abortRequest(): void {
    this.#abortRequested = true;
    if (this.#phase === Phase.Params) {
      this.#finish(1);
      return;
    }
    this.#abortWith(new RequestAbortedError('fastcgi: FCGI_ABORT_REQUEST from the web server'));
  }

  /** The connection closed under the request: abort it; nothing can be sent any more. */
  connectionClosed(): void {
    this.#phase = Phase.Done;
    this.#abortWith(new RequestAbortedError('fastcgi: connection closed by the web server'));
  }

  #abortWith(error: RequestAbortedError): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(error);
    this.#input?.fail(error);
  }

  async #run(pairs: Array<[string, string]>): Promise<void> {
    const host = this.#host;
    let environ: Environ;
    try {
      environ = buildEnviron(pairs, {
        input: (contentLength) => this.#makeInput(contentLength),
        errors: { write: (text) => this.#stderr(text) },
        signal: this.#controller.signal,
        multithread: true,
        multiprocess: host.multiprocess,
        runOnce: false,
        scriptName: host.scriptName,
        extensions: {
          'fastcgi.request_id': this.id,
          'fastcgi.connection_id': host.connectionId,
          'fastcgi.keep_conn': this.keepConn,
          'fastcgi.role': 'RESPONDER',
        },
      });
    } catch (error) {
      host.log(`${error instanceof Error ? error.message : String(error)}\n`);
      this.#stdout(encodeCgiHead('400 Bad Request', [['Content-Type', 'text/plain']]));
      this.#stdout(new TextEncoder().encode('Bad Request\n'));
      this.#finish(1);
      return;
    }
    const log = (line: string): void => {
      host.log(line);
      this.#stderr(line);
    };
    const outcome = await runApp(host.app, environ, this.#sink(), { log });
    if (this.#phase === Phase.Done) return; // the connection went away under us
    if (this.#responseEnded || this.#abortRequested) {
      this.#finish(outcome === 'complete' ? 0 : 1);
    } else {
      // The response was cut off after it started: closing the connection without FCGI_END_REQUEST
      // is the only way to make the web server show the client an incomplete response.
      this.#phase = Phase.Done;
      this.#input?.discard();
      host.done(this, true);
    }
  }

  #sink(): ResponseSink {
    return {
      start: (status: string, headers: HeaderList) => {
        this.#stdout(encodeCgiHead(status, headers));
      },
      write: (chunk: Uint8Array) => this.#stdout(chunk),
      drain: () => (this.#controller.signal.aborted ? Promise.reject(new RequestAbortedError()) : this.#host.drain()),
      end: () => {
        this.#responseEnded = true;
      },
      abort: () => {},
    };
  }

  #makeInput(contentLength: number | undefined): BodyInput {
    const host = this.#host;
    this.#input = new BodyInput({ contentLength, source: { pause: () => host.pause(), resume: () => host.resume() } });
    return this.#input;
  }

  #stdout(bytes: Uint8Array): boolean {
    if (this.#phase === Phase.Done) return true;
    return this.#host.writer.stream(RecordType.FCGI_STDOUT, this.id, bytes);
  }

  #stderr(text: string): void {
    if (this.#phase === Phase.Done || text.length === 0) return;
    this.#stderrUsed = true;
    this.#host.writer.stream(RecordType.FCGI_STDERR, this.id, Buffer.from(text, 'utf8'));
  }

  /** Closes the streams and sends FCGI_END_REQUEST (spec §5.5), once. */
  #finish(appStatus: number): void {
    if (this.#phase === Phase.Done) return;
    const writer = this.#host.writer;
    writer.endStream(RecordType.FCGI_STDOUT, this.id);
    if (this.#stderrUsed) writer.endStream(RecordType.FCGI_STDERR, this.id);
    writer.endRequest(this.id, appStatus, ProtocolStatus.FCGI_REQUEST_COMPLETE);
    this.#phase = Phase.Done;
    this.#input?.discard();
    this.#host.done(this, !this.keepConn);
  }
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const all = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return all;
}
