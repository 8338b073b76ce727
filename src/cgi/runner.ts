// Implements CGI (RFC 3875) from the script side: process.env + stdin → one TSGI request → stdout.

import type { Readable, Writable } from 'node:stream';
import { encodeCgiHead } from '../core/cgi-response.js';
import { requestLine } from '../core/describe.js';
import { runApp, type Outcome, type ResponseSink } from '../core/driver.js';
import { buildEnviron } from '../core/environ.js';
import { RequestAbortedError } from '../core/errors.js';
import { LazyAbort } from '../core/lazy-abort.js';
import type { App, ErrorStream, HeaderList } from '../core/types.js';
import { FdBody, StreamBody, type CgiBody } from './body.js';
import { FdOutput, StreamOutput, type CgiOutput } from './output.js';

/** Options for {@link runCgi}; the defaults are the process's own streams and environment. */
export interface CgiOptions {
  /** Meta-variables (RFC 3875 §4.1). Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** The request body. Default: fd 0 read directly (process.stdin is opened only if fd 0 is non-blocking). */
  stdin?: Readable;
  /**
   * Where the response goes. Default: fd 1 written directly (process.stdout is not opened). runCgi
   * does not wait for a stream given here to drain: it may resolve before the stream is read.
   */
  stdout?: Writable;
  /** The error stream (`tsgi.errors`, the front server's error log). Default `process.stderr`. */
  stderr?: Writable;
  /** The app's mount point, overriding the front server's SCRIPT_NAME/PATH_INFO split. */
  scriptName?: string;
}

/**
 * Serves one CGI request with `app` (RFC 3875): builds the environ from the meta-variables, gives
 * the app exactly CONTENT_LENGTH bytes of stdin as `tsgi.input` (all of stdin for a chunked upload,
 * which Apache passes without CONTENT_LENGTH), and streams `Status:` + headers +
 * body to stdout (RFC 3875 §6). Nothing is written to stdout before the header block.
 * @returns the process exit code, once the whole response has been handed to the operating system: 0
 *   when the response completed, 1 when the app failed or the client went away (the response was a
 *   500 or was cut off).
 * @example
 * import { runCgi } from 'tsgi';
 * process.exitCode = await runCgi(app);
 */
export async function runCgi(app: App, options: CgiOptions = {}): Promise<number> {
  const env = options.env ?? process.env;
  // process.stderr is opened only when used (a line to log), and process.stdin and process.stdout
  // not at all (FdBody, FdOutput): making a stdio stream is a measurable part of a CGI process's
  // start-up.
  const log = (line: string): void => void (options.stderr ?? process.stderr).write(line);
  const errors: ErrorStream = { write: log };
  // The front server closing our stdout means the client went away (EPIPE). tsgi.signal is made only
  // if the app reads it: most never do, and an AbortController loads a module of Node's at start-up.
  const abort = new LazyAbort<RequestAbortedError>();
  const onOutputError = (error: unknown): void => {
    if (!abort.aborted) abort.abort(new RequestAbortedError(undefined, { cause: error }));
  };
  const output: CgiOutput =
    options.stdout !== undefined
      ? new StreamOutput(options.stdout, onOutputError)
      : new FdOutput(1, () => process.stdout, onOutputError);

  let environ;
  let body: CgiBody | undefined;
  try {
    environ = buildEnviron(env, {
      // RFC 3875 §4.2: without CONTENT_LENGTH there is no body. Except that Apache hands a chunked
      // upload to the script de-chunked, without CONTENT_LENGTH, and closes stdin after it: with
      // Transfer-Encoding in the request, the body is all of stdin.
      input: (contentLength) => {
        const length = contentLength ?? (env.HTTP_TRANSFER_ENCODING === undefined ? 0 : undefined);
        body =
          options.stdin !== undefined
            ? new StreamBody(options.stdin, length, false)
            : new FdBody(0, length, () => process.stdin);
        return body.input;
      },
      errors,
      signal: () => abort.signal(),
      multithread: false,
      multiprocess: true,
      runOnce: true,
      scriptName: options.scriptName,
    });
  } catch (error) {
    // A CONTENT_LENGTH that is not a number: the front server is broken; answer 400, call no app.
    log(`${error instanceof Error ? error.message : String(error)}\n`);
    output.write(encodeCgiHead('400 Bad Request', [['Content-Type', 'text/plain']]));
    output.write(Buffer.from('Bad Request\n'));
    await output.flush();
    return 1;
  }

  const outcome: Outcome = await runApp(app, environ, outputSink(output), { log, isAborted: () => abort.aborted });
  if (body !== undefined) {
    // An app answering a POST without reading it (401, 404, 413) must not cost the client its
    // response (CgiBody.drainRest: mod_cgid).
    if (!(await body.drainRest(DRAIN_TIMEOUT_MS))) {
      log(`tsgi: gave up on the rest of the request body after ${DRAIN_TIMEOUT_MS / 1000} s (the front server sent less than CONTENT_LENGTH)\n`);
    }
    body.stop();
  }
  await output.flush();
  if (outcome === 'complete' && abort.aborted) {
    // The last bytes failed after the app finished (EPIPE while flushing): the response was cut off.
    log(`tsgi: client went away during ${requestLine(environ)}\n`);
    return 1;
  }
  return outcome === 'complete' ? 0 : 1;
}

/** Longest wait for the rest of a body the app did not read, in milliseconds. */
const DRAIN_TIMEOUT_MS = 10_000;

function outputSink(output: CgiOutput): ResponseSink {
  return {
    start(status: string, headers: HeaderList): void {
      output.write(encodeCgiHead(status, headers));
    },
    write(chunk: Uint8Array): boolean {
      return output.write(chunk);
    },
    drain(): Promise<void> {
      return output.drain();
    },
    end(): void {
      // Nothing to close: the process exits once runCgi has flushed the output.
    },
    abort(): void {
      // RFC 3875 has no way to say "incomplete": the exit code and the log line are what we have; a
      // client sees the truncation only when the app set Content-Length (docs/spec.md "Error handling").
    },
  };
}
