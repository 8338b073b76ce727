// Implements one FastCGI request from the application side: PARAMS → environ, STDIN → tsgi.input, STDOUT out.

import { encodeCgiHead } from '../core/cgi-response.js';
import { describeError, requestLine } from '../core/describe.js';
import { runAppNow, type Outcome } from '../core/driver.js';
import { buildEnvironFromList } from '../core/environ.js';
import { RequestAbortedError } from '../core/errors.js';
import { LazyAbort } from '../core/lazy-abort.js';
import type { App, Environ } from '../core/types.js';
import { ProtocolStatus, RecordType, Role } from './constants.js';
import type { ParamList } from './params.js';
import { RequestInput, type AwaitedInput, type InputOwner, type InputLimits } from './request-input.js';
import { StdoutStream } from './stdout.js';
import type { RecordWriter } from './writer.js';

/** What a request needs from its connection. */
export interface RequestHost extends InputLimits {
  readonly app: App;
  readonly writer: RecordWriter;
  readonly connectionId: number;
  readonly multiprocess: boolean;
  readonly scriptName: string | undefined;
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
 * One request on a connection (FastCGI spec §6). Once its PARAMS are in (its {@link RequestInput}),
 * it runs the app while FCGI_STDIN streams into `tsgi.input`; the
 * response goes out as FCGI_STDOUT, closed by an empty record and FCGI_END_REQUEST (spec §5.5).
 * Roles: RESPONDER (§6.2); AUTHORIZER (§6.3: no body; the app answers 200 to allow, with
 * `Variable-NAME` headers for the web server, anything else to deny); FILTER (§6.4: FCGI_DATA is a
 * second input, `fastcgi.data`, bounded by FCGI_DATA_LENGTH).
 */
export class FastCgiRequest implements InputOwner {
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
  /** The request's input streams: FCGI_PARAMS, FCGI_STDIN, a filter's FCGI_DATA (the connection feeds them). */
  readonly input: RequestInput;
  readonly #host: RequestHost;
  readonly #abort = new LazyAbort<RequestAbortedError>();
  #phase = Phase.Params;
  #stderrUsed = false;
  readonly #out: StdoutStream;

  constructor(host: RequestHost, id: number, role: number, keepConn: boolean) {
    this.#host = host;
    this.id = id;
    this.role = role;
    this.keepConn = keepConn;
    this.input = new RequestInput(this, host, id, role);
    // An authorizer gets no body (spec §6.3): nothing to hold its answer for.
    this.#out = new StdoutStream((bytes) => this.#stdout(bytes), () => host.drain(), role !== Role.FCGI_AUTHORIZER);
  }

  /** What the web server still owes this request (see RequestInput), for the stall timeout. */
  get awaiting(): AwaitedInput {
    return this.input.awaiting;
  }

  /** InputOwner: the params ended; the app runs (while the body streams in). */
  paramsEnded(params: ParamList): void {
    this.#phase = Phase.Running;
    void this.#run(params);
  }

  /** InputOwner: the body is in; response bytes held until now go out. */
  bodiesEnded(): void {
    this.#out.release();
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

  #abortWith(error: RequestAbortedError): void {
    this.#abort.abort(error);
    this.input.fail(error);
    this.#out.fail(error);
  }

  /**
   * Runs the app for this request; never throws (tsgi's own failures: see #internalError). A sync
   * app with an array body is answered before this returns (runAppNow).
   */
  #run(params: ParamList): void {
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
      const outcome = runAppNow(host.app, environ, this.#out, { log, isAborted: () => this.#abort.aborted });
      if (typeof outcome === 'string') this.#ran(outcome);
      else outcome.then((ended) => this.#ran(ended)).catch((error: unknown) => this.#internalError(error));
    } catch (error) {
      this.#internalError(error);
    }
  }

  /** The app is done with the request: end it as the outcome says. */
  #ran(outcome: Outcome): void {
    if (this.#phase === Phase.Done) {
      // Aborted, or the connection went away under us: the app is done with the body, so a spool
      // file it left goes now, not when the garbage collector finds its handle.
      this.input.discard();
      return;
    }
    if (this.#out.ended) this.#finish(outcome === 'complete' ? 0 : 1);
    else this.#cutOff();
  }

  /**
   * The environ from the params, with the `fastcgi.*` keys; or undefined when the params cannot make
   * one (a malformed CONTENT_LENGTH...), after answering 400 with a log line.
   */
  #environ(params: ParamList): Environ | undefined {
    const host = this.#host;
    try {
      const environ = buildEnvironFromList(params, {
        input: (contentLength) => this.input.makeInput(contentLength),
        errors: { write: (text) => this.#errors(text) },
        signal: () => this.#abort.signal(),
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
      if (this.role === Role.FCGI_FILTER) environ['fastcgi.data'] = this.input.makeData(params);
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
    this.input.discard();
    this.#host.done(this, 'cut');
  }

  /** A failure of tsgi's own request code (runApp never throws): one log line, and a cut. */
  #internalError(error: unknown): void {
    this.#host.log(`fastcgi: internal error serving request ${this.id}: ${describeError(error)}\n`);
    this.#cutOff();
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

  /** Closes the streams and sends FCGI_END_REQUEST (spec §5.5), once. */
  #finish(appStatus: number): void {
    if (this.#phase === Phase.Done) return;
    this.#out.release();
    const writer = this.#host.writer;
    writer.endStream(RecordType.FCGI_STDOUT, this.id);
    if (this.#stderrUsed) writer.endStream(RecordType.FCGI_STDERR, this.id);
    writer.endRequest(this.id, appStatus, ProtocolStatus.FCGI_REQUEST_COMPLETE);
    this.#phase = Phase.Done;
    this.input.discard();
    this.#host.done(this, this.keepConn ? 'keep' : 'close');
  }
}
