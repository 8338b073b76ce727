// Implements one FastCGI request from the application side: PARAMS → environ, STDIN → tsgi.input, STDOUT out.

import { compactView } from '../core/bytes.js';
import { encodeCgiHead } from '../core/cgi-response.js';
import { describeError, requestLine } from '../core/describe.js';
import { runApp } from '../core/driver.js';
import { buildEnvironFromList } from '../core/environ.js';
import { ProtocolError, RequestAbortedError } from '../core/errors.js';
import { BodyInput } from '../core/input.js';
import type { App, Environ } from '../core/types.js';
import { ProtocolStatus, RecordType, Role } from './constants.js';
import { decodeParamList, type ParamList } from './params.js';
import { StdoutStream } from './stdout.js';
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
  /** Largest request body accepted, in bytes (413 before the app runs when CONTENT_LENGTH is larger). */
  readonly maxBodyBytes: number;
  /** Request body bytes held in memory per request; the rest waits in a temp file. */
  readonly bodyMemoryBytes: number;
  /** Whether the app's `tsgi.errors` text also goes to `log` (FastCgiServerOptions `echoErrors`). */
  readonly echoErrors: boolean;
  /** Server log (the daemon's stderr). */
  log(line: string): void;
  /** Resolves when the socket can take more; rejects with RequestAbortedError when it closed. */
  drain(): Promise<void>;
  /**
   * The request finished: `keep` the connection, `close` it once its requests are done, or `cut` it
   * now because the response must be seen as incomplete.
   */
  done(request: FastCgiRequest, next: 'keep' | 'close' | 'cut'): void;
}

const ROLE_NAMES: Record<number, string> = {
  [Role.FCGI_RESPONDER]: 'RESPONDER',
  [Role.FCGI_AUTHORIZER]: 'AUTHORIZER',
  [Role.FCGI_FILTER]: 'FILTER',
};

const enum Phase {
  Params,
  Running,
  Done,
}

/**
 * One request on a connection (FastCGI spec §6). Collects PARAMS until the empty record (pairs may
 * straddle records, spec §3.4), then runs the app while FCGI_STDIN streams into `tsgi.input`; the
 * response goes out as FCGI_STDOUT, closed by an empty record and FCGI_END_REQUEST (spec §5.5).
 * Roles: RESPONDER (§6.2); AUTHORIZER (§6.3: no body; the app answers 200 to allow, with
 * `Variable-NAME` headers for the web server, anything else to deny); FILTER (§6.4: FCGI_DATA is a
 * second input, `fastcgi.data`, bounded by FCGI_DATA_LENGTH).
 */
export class FastCgiRequest {
  readonly id: number;
  readonly role: number;
  readonly keepConn: boolean;
  /**
   * Whether cutting this request's response off takes a reset rather than a close: true when the
   * web server is nginx (SERVER_SOFTWARE, from its stock fastcgi_params), which takes an orderly
   * close for the end of the response without FCGI_KEEP_CONN or with buffering off
   * (docs/front-servers.md "Responses"). Set from the params, before the app can change environ.
   */
  resetToCut = false;
  readonly #host: RequestHost;
  // Made on first use of tsgi.signal: most requests never abort and most apps never look.
  #controller: AbortController | undefined;
  #abortReason: RequestAbortedError | undefined;
  #phase = Phase.Params;
  #params: Uint8Array[] = [];
  #paramsBytes = 0;
  #input: BodyInput | undefined;
  #data: BodyInput | undefined;
  #stdinEnded = false;
  #dataEnded = false;
  #stderrUsed = false;
  readonly #out: StdoutStream;

  constructor(host: RequestHost, id: number, role: number, keepConn: boolean) {
    this.#host = host;
    this.id = id;
    this.role = role;
    this.keepConn = keepConn;
    // An authorizer gets no body (spec §6.3): nothing to hold its answer for. Only a filter gets
    // FCGI_DATA (spec §6.4).
    if (role === Role.FCGI_AUTHORIZER) this.#stdinEnded = true;
    if (role !== Role.FCGI_FILTER) this.#dataEnded = true;
    this.#out = new StdoutStream((bytes) => this.#stdout(bytes), () => host.drain(), role !== Role.FCGI_AUTHORIZER);
  }

  /**
   * The input the web server still owes this request, up to each stream's empty record: its
   * FCGI_PARAMS first; then FCGI_STDIN (none for an authorizer, spec §6.3) and, for a filter,
   * FCGI_DATA (spec §6.4), both at once while neither has ended (a web server may send DATA before
   * STDIN's end); undefined once it has all of it.
   */
  get awaiting(): 'FCGI_PARAMS' | 'FCGI_STDIN' | 'FCGI_DATA' | 'FCGI_STDIN and FCGI_DATA' | undefined {
    if (this.#phase === Phase.Params) return 'FCGI_PARAMS';
    if (!this.#stdinEnded) return this.#dataEnded ? 'FCGI_STDIN' : 'FCGI_STDIN and FCGI_DATA';
    return this.#dataEnded ? undefined : 'FCGI_DATA';
  }

  /** True while FCGI_STDIN is input this request takes: never for an authorizer, and until its empty record. */
  get takesStdin(): boolean {
    return !this.#stdinEnded;
  }

  /** True while FCGI_DATA is input this request takes: a filter's (spec §6.4), until its empty record. */
  get takesData(): boolean {
    return !this.#dataEnded;
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
      // A view into a socket chunk Node never reuses: no copy, unless it is a sliver of that chunk
      // (the params limit counts the bytes shown, so the views must not hold much more).
      this.#params.push(compactView(content));
      return;
    }
    const list = decodeParamList(this.#params.length === 1 ? (this.#params[0] as Uint8Array) : Buffer.concat(this.#params, this.#paramsBytes));
    this.#params = [];
    this.#phase = Phase.Running;
    void this.#run(list);
  }

  /** FCGI_STDIN content; the empty record ends the body. */
  stdin(content: Uint8Array): void {
    if (this.#stdinEnded) return;
    if (this.#phase === Phase.Params) {
      // STDIN, even the empty record, before the params ended is out of order (spec §3.3).
      throw new ProtocolError('FCGI_BAD_STDIN', `fastcgi: FCGI_STDIN before the params ended (request ${this.id})`);
    }
    if (content.byteLength === 0) {
      this.#stdinEnded = true;
      this.#input?.end();
      this.#bodyArrived();
      return;
    }
    this.#input?.push(content);
  }

  /** FCGI_DATA content (FILTER role, spec §6.4); the empty record ends it. Ignored for other roles. */
  data(content: Uint8Array): void {
    if (this.#dataEnded) return;
    if (this.#phase === Phase.Params || this.#data === undefined) {
      throw new ProtocolError('FCGI_BAD_DATA', `fastcgi: FCGI_DATA before the params ended (request ${this.id})`);
    }
    if (content.byteLength === 0) {
      this.#dataEnded = true;
      this.#data.end();
      this.#bodyArrived();
      return;
    }
    this.#data.push(content);
  }

  #bodyArrived(): void {
    if (this.#stdinEnded && this.#dataEnded) this.#out.release();
  }

  /**
   * FCGI_ABORT_REQUEST (spec §5.4): the client went away. The app's signal fires, and
   * FCGI_END_REQUEST goes out now: the web server waits for it, and neither an app that does not
   * stop at the signal nor a slow `close()` may hold it or the request id. The app finishes on its
   * own; what it writes from now on is dropped.
   */
  abortRequest(): void {
    if (this.#phase === Phase.Running) {
      this.#abortWith(new RequestAbortedError('fastcgi: FCGI_ABORT_REQUEST from the web server'));
    }
    this.#finish(1);
  }

  /** The connection closed under the request: abort it; nothing can be sent any more. */
  connectionClosed(): void {
    this.#phase = Phase.Done;
    this.#abortWith(new RequestAbortedError('fastcgi: connection closed by the web server'));
  }

  #signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  #abortWith(error: RequestAbortedError): void {
    if (this.#abortReason === undefined) {
      this.#abortReason = error;
      this.#controller?.abort(error);
    }
    this.#input?.fail(error);
    this.#data?.fail(error);
    this.#out.fail(error);
  }

  /** Runs the app for this request; never rejects (tsgi's own failures: see #internalError). */
  async #run(params: ParamList): Promise<void> {
    try {
      const environ = this.#environ(params);
      if (environ === undefined) return;
      const host = this.#host;
      if (environ.CONTENT_LENGTH !== undefined && Number(environ.CONTENT_LENGTH) > host.maxBodyBytes) {
        // Refuse before the app runs: nothing of the body needs to be read (RFC 9110 §15.5.14).
        host.log(`tsgi: 413 for ${requestLine(environ)}: a body of ${environ.CONTENT_LENGTH} bytes exceeds --max-body-bytes ${host.maxBodyBytes}\n`);
        this.#answer('413 Content Too Large');
        return;
      }
      // App errors also go to FCGI_STDERR (the web server's error log, like PHP-FPM's "PHP message");
      // a client going away is only the daemon's business.
      const log = (line: string, level: 'error' | 'info'): void => {
        host.log(line);
        if (level === 'error') this.#stderr(line);
      };
      const software = environ.SERVER_SOFTWARE;
      this.resetToCut = typeof software === 'string' && software.startsWith('nginx');
      const outcome = await runApp(host.app, environ, this.#out, { log, isAborted: () => this.#abortReason !== undefined });
      if (this.#phase === Phase.Done) {
        // Aborted, or the connection went away under us: the app is done with the body, so a spool
        // file it left goes now, not when the garbage collector finds its handle.
        this.#discardBodies();
        return;
      }
      if (this.#out.ended) this.#finish(outcome === 'complete' ? 0 : 1);
      else this.#cutOff();
    } catch (error) {
      this.#internalError(error);
    }
  }

  /**
   * The environ from the params, with the `fastcgi.*` keys; or undefined when the params cannot make
   * one (a malformed CONTENT_LENGTH...), after answering 400 with a log line.
   */
  #environ(params: ParamList): Environ | undefined {
    const host = this.#host;
    try {
      const environ = buildEnvironFromList(params, {
        input: (contentLength) => this.#makeInput(contentLength),
        errors: { write: (text) => this.#errors(text) },
        signal: () => this.#signal(),
        multithread: true,
        multiprocess: host.multiprocess,
        runOnce: false,
        scriptName: host.scriptName,
      });
      // Set here rather than through `extensions`: constant keys, no object to copy per request.
      environ['fastcgi.request_id'] = this.id;
      environ['fastcgi.connection_id'] = host.connectionId;
      environ['fastcgi.keep_conn'] = this.keepConn;
      environ['fastcgi.role'] = ROLE_NAMES[this.role];
      if (this.role === Role.FCGI_FILTER) environ['fastcgi.data'] = this.#makeData(params);
      return environ;
    } catch (error) {
      host.log(`${error instanceof Error ? error.message : String(error)}\n`);
      this.#answer('400 Bad Request');
      return undefined;
    }
  }

  /**
   * The response cannot be completed after it started: closing the connection without
   * FCGI_END_REQUEST is the only way to make the web server show the client an incomplete response.
   * What the app did send goes out first, so the client sees the start of the response, then the cut.
   */
  #cutOff(): void {
    if (this.#phase === Phase.Done) return;
    this.#out.release();
    this.#phase = Phase.Done;
    this.#discardBodies();
    this.#host.done(this, 'cut');
  }

  /** A failure of tsgi's own request code (runApp never throws): one log line, and a cut. */
  #internalError(error: unknown): void {
    this.#host.log(`fastcgi: internal error serving request ${this.id}: ${describeError(error)}\n`);
    this.#cutOff();
  }

  #makeInput(contentLength: number | undefined): BodyInput {
    if (this.role === Role.FCGI_AUTHORIZER) contentLength = 0;
    // The socket is never paused for a body: nginx stops sending a request body for good once the
    // backend's socket blocks after the response started (docs/front-servers.md), and other requests
    // may share the connection. Unread bytes beyond the memory window wait in a temp file instead.
    this.#input = new BodyInput({
      contentLength,
      spool: { memoryBytes: this.#host.bodyMemoryBytes },
      maxBytes: this.#host.maxBodyBytes,
    });
    return this.#input;
  }

  /** The FILTER role's second input: FCGI_DATA, FCGI_DATA_LENGTH bytes long (spec §6.4). */
  #makeData(params: ParamList): BodyInput {
    let length: string | undefined;
    for (let i = 0; i + 1 < params.length; i += 2) if (params[i] === 'FCGI_DATA_LENGTH') length = params[i + 1];
    this.#data = new BodyInput({
      contentLength: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
      spool: { memoryBytes: this.#host.bodyMemoryBytes },
      maxBytes: this.#host.maxBodyBytes,
    });
    return this.#data;
  }

  /** A response of the daemon's own (400, 413), with the status as a plain-text body. */
  #answer(status: string): void {
    const body = Buffer.from(`${status.slice(4)}\n`);
    this.#stdout(encodeCgiHead(status, [['Content-Type', 'text/plain'], ['Content-Length', String(body.byteLength)]]));
    this.#stdout(body);
    this.#finish(1);
  }

  #stdout(bytes: Uint8Array): boolean {
    if (this.#phase === Phase.Done) return true;
    return this.#host.writer.stream(RecordType.FCGI_STDOUT, this.id, bytes);
  }

  /** `tsgi.errors`: the web server's error log, and the daemon's own with `echoErrors`. */
  #errors(text: string): void {
    if (this.#host.echoErrors && text.length > 0) this.#host.log(text);
    this.#stderr(text);
  }

  #stderr(text: string): void {
    if (this.#phase === Phase.Done || text.length === 0) return;
    this.#stderrUsed = true;
    this.#host.writer.stream(RecordType.FCGI_STDERR, this.id, Buffer.from(text, 'utf8'));
  }

  /** The app is done with its inputs: drop what they hold (a spool file too) and what still arrives. */
  #discardBodies(): void {
    this.#input?.discard();
    this.#data?.discard();
  }

  /** Closes the streams and sends FCGI_END_REQUEST (spec §5.5), once. */
  #finish(appStatus: number): void {
    if (this.#phase === Phase.Done) return;
    this.#out.release();
    const writer = this.#host.writer;
    writer.endStream(RecordType.FCGI_STDOUT, this.id);
    if (this.#stderrUsed) writer.endStream(RecordType.FCGI_STDERR, this.id);
    writer.endRequest(this.id, appStatus, ProtocolStatus.FCGI_REQUEST_COMPLETE);
    this.#phase = Phase.Done;
    this.#discardBodies();
    this.#host.done(this, this.keepConn ? 'keep' : 'close');
  }
}
