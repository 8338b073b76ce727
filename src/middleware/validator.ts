// Lints a TSGI app and the server hosting it against docs/spec.md, from both sides (like wsgiref.validate).
/*
 * Wrap an app with `validator(app)` in development and tests. Every rule below has a stable id; each
 * violation says what is wrong and what to do instead. Section names refer to docs/spec.md.
 *
 * Server side: the environ ("environ")
 *   environ.type                 the environ is a plain object
 *   environ.missing-key          REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING, SERVER_NAME, SERVER_PORT,
 *                                SERVER_PROTOCOL and every tsgi.* key of the Environ type are present
 *   environ.not-string           every key without a dot (a CGI meta-variable, HTTP_*) holds a string
 *   environ.request-method       REQUEST_METHOD is an HTTP token (RFC 9110 §5.6.2)
 *   environ.script-name-slash    SCRIPT_NAME is never "/" (it is "" with "/" in PATH_INFO)
 *   environ.script-name          SCRIPT_NAME is "" or starts with "/", and does not end with "/"
 *   environ.path-info            PATH_INFO is "" or starts with "/"
 *   environ.content-length       CONTENT_LENGTH, when present, is decimal digits (RFC 3875 §4.1.2)
 *   environ.content-empty        CONTENT_TYPE / CONTENT_LENGTH are absent rather than "" (nginx sends "")
 *   environ.http-content         HTTP_CONTENT_TYPE / HTTP_CONTENT_LENGTH are absent (RFC 3875 §4.1.18)
 *   environ.version              tsgi.version is [1, 0]
 *   environ.url-scheme           tsgi.url_scheme is "http" or "https"
 *   environ.input                tsgi.input has read(), readAll() and async iteration
 *   environ.errors               tsgi.errors has write()
 *   environ.flags                tsgi.multithread, tsgi.multiprocess and tsgi.run_once are booleans
 *   environ.signal               tsgi.signal is an AbortSignal
 * Server side: iterating and closing the body ("Closing")
 *   server.iterate-twice         the server iterates the body at most once
 *   server.close-twice           close() (or, for bodies without close(), return()) is called at most once
 *   server.close-missing         once the server is done with the body it calls close() if the body has one,
 *                                else return() when it stopped early (client gone). Checked closeGraceMs after
 *                                the server stopped iterating; reported through onViolation or tsgi.errors
 * Server side: closing the app ("Closing the app")
 *   server.app-close-twice       the server calls the app's close() at most once. The validated app always has
 *                                a close(), which calls the wrapped app's close() if it has one by then
 * App side ("The application side", "startResponse", "write", "The body")
 *   app.return-type              the app returns (a promise of) an iterable or async iterable, not a string,
 *                                a Uint8Array, null or a fetch Response
 *   start.status                 status is "NNN Reason": 200-599, one space, a reason of tab, printable ASCII
 *                                or U+0080-U+00FF (no other control characters)
 *   start.headers                headers is an array of [name, value] string pairs
 *   start.header-name            each name is an HTTP token
 *   start.header-value           no control character but tab, nothing above U+00FF
 *   start.status-header          no "Status" header (the CGI field; the status is the first argument)
 *   start.hop-by-hop             no hop-by-hop header (Connection, Transfer-Encoding, ...; PEP 3333),
 *                                but Upgrade with 426 (RFC 9110 §15.5.22)
 *   start.upgrade-missing        a 426 Upgrade Required carries Upgrade (RFC 9110 §15.5.22)
 *   start.content-length         at most one Content-Length, decimal digits
 *   start.already-started        a second startResponse call passes excInfo (neither undefined nor null)
 *   write.chunk-type             write() takes a Uint8Array or a string
 *   write.after-end              write() is not called once the server is done with the body
 *   write.chunk-mutated          a Uint8Array passed to write() is unchanged until its promise resolves
 *   body.chunk-type              the body yields Uint8Array or string chunks
 *   body.chunk-mutated           a yielded Uint8Array is unchanged until the server pulls the next chunk
 *   body.start-response-missing  startResponse was called before the body yields its first non-empty chunk
 *                                or ends
 *   body.content-length          write() + body bytes equal Content-Length when the app set it (not checked
 *                                for HEAD and 204/304, which carry no body)
 *
 * The checks live beside this file: validator-environ.ts (environ.*), validator-response.ts (start.*, write.*
 * and the chunk type, startResponse order and Content-Length count shared by write() and the body),
 * validator-body.ts (app.return-type, body.chunk-mutated, server.*); validator-shared.ts reports violations.
 *
 * By default a violation throws ValidationError: from the environ check or startResponse/write (so it reaches
 * the server's error policy), from the body's next() or from close(). With `onViolation` every violation is
 * reported there instead and the call goes through unchanged, so the server's own checks run as well.
 */
import { isThenable } from '../core/thenable.js';
import type { App } from '../core/types.js';
import { BodyCheck } from './validator-body.js';
import { checkEnviron } from './validator-environ.js';
import { ResponseCheck } from './validator-response.js';
import { Reporter, type Violation } from './validator-shared.js';

export { ValidationError, type Violation } from './validator-shared.js';

/** Options for {@link validator}. */
export interface ValidatorOptions {
  /** Where violations are reported; when given, nothing is thrown. Default: throw ValidationError. */
  onViolation?: (violation: Violation) => void;
  /**
   * How long after the server stopped iterating the body it may take to close it before
   * `server.close-missing` is reported. Milliseconds; default 1000.
   */
  closeGraceMs?: number;
}

const DEFAULT_CLOSE_GRACE_MS = 1000;

/**
 * Wraps an app so that both it and the server calling it are checked against TSGI 1.0.
 * Development and test use: it copies every Uint8Array chunk to detect mutation.
 * @throws {ValidationError} code `TSGI_VALIDATION`, unless `options.onViolation` is given.
 * @see docs/spec.md "Middleware", and the rule list at the top of this file.
 * @example
 * const checked = validator(app, { onViolation: (v) => console.warn(v.rule, v.message) });
 */
export function validator(app: App, options: ValidatorOptions = {}): App {
  const checked: App = (environ, startResponse) => {
    const env = (typeof environ === 'object' && environ !== null ? environ : {}) as Record<string, unknown>;
    const report = new Reporter(options.onViolation, env);
    const response = new ResponseCheck(env, report);
    const body = new BodyCheck(response, report, env, options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS);
    checkEnviron(environ, report);
    const result: unknown = app(environ, response.startResponse(startResponse));
    if (isThenable(result)) return Promise.resolve(result).then((value: unknown) => body.wrap(value));
    return body.wrap(result);
  };
  // A middleware keeps its inner app's close() (spec "Closing the app"); looked up when called, so
  // a close() the app gets after being wrapped still counts.
  // A second call is reported and not passed on: the app is closed once whatever the server does.
  let closed: Promise<void> | undefined;
  checked.close = async () => {
    if (closed !== undefined) {
      new Reporter(options.onViolation, {}).fail('server.app-close-twice', "the server called the app's close() a second time; call it once, when it stops serving the app for good");
      return closed;
    }
    closed = (async () => void (await app.close?.()))();
    return closed;
  };
  return checked;
}

