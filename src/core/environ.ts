// Builds the TSGI environ from CGI/FastCGI meta-variables, on the server side; every quirk lives here.

import { TsgiError } from './errors.js';
import type { Environ, ErrorStream, InputStream } from './types.js';

/** The parts of an environ that come from the transport rather than from meta-variables. */
export interface EnvironContext {
  /** Makes `tsgi.input` once CONTENT_LENGTH is validated (`undefined` when the request has none). */
  input: (contentLength: number | undefined) => InputStream;
  errors: ErrorStream;
  /**
   * `tsgi.signal`, or a function making it on first access (an AbortSignal costs microseconds a
   * request that most apps never look at).
   */
  signal: AbortSignal | (() => AbortSignal);
  multithread: boolean;
  multiprocess: boolean;
  runOnce: boolean;
  /**
   * The app's mount point, when the operator gives one (`--script-name`): SCRIPT_NAME becomes this and
   * PATH_INFO the rest of the path, whatever split the front server made. `"/"` means the root.
   */
  scriptName?: string | undefined;
  /** Server extension keys (e.g. `fastcgi.request_id`), copied as-is. */
  extensions?: Record<string, unknown>;
}

const VERSION = Object.freeze([1, 0] as const);

/** Where a lazy `tsgi.signal` keeps its factory, then the signal it made. */
const SIGNAL_SLOT = Symbol('tsgi.signal');

/**
 * The accessor of a lazy `tsgi.signal`, one pair shared by every environ. A getter closing over each
 * environ would give every environ its own hidden class (V8 keys the transition on the accessor's
 * identity); those maps live in the old generation and keep each request's objects alive through
 * young collections: measured 2.4 KB promoted per request and a full GC every ~0.3 s under load,
 * against 4 bytes with this shared pair (docs/performance.md). Assigning the key works as for a data
 * property.
 */
const LAZY_SIGNAL: PropertyDescriptor = {
  configurable: true,
  enumerable: true,
  get(this: Record<PropertyKey, unknown>): unknown {
    const slot = this[SIGNAL_SLOT];
    if (typeof slot !== 'function') return slot;
    const made = (slot as () => AbortSignal)();
    this[SIGNAL_SLOT] = made;
    return made;
  },
  set(this: Record<PropertyKey, unknown>, value: unknown): void {
    this[SIGNAL_SLOT] = value;
  },
};
const DIGITS_RE = /^\d+$/;

/**
 * Turns the front server's meta-variables into a normalised environ (docs/spec.md "environ").
 * @param params - name/value pairs as the front server sent them (CGI: process.env; FastCGI: PARAMS).
 * @param context - transport streams, flags and options.
 * @returns a fresh environ; `params` is not modified.
 * @throws {TsgiError} code `TSGI_BAD_CONTENT_LENGTH` when CONTENT_LENGTH is present but not a decimal
 *   number (RFC 3875 §4.1.2): transports answer 400 without calling the app.
 * @see RFC 3875 §4.1
 */
export function buildEnviron(
  params: Iterable<readonly [string, string]> | Record<string, string | undefined>,
  context: EnvironContext,
): Environ {
  return buildEnvironFromList(toList(params), context);
}

/**
 * {@link buildEnviron} from names and values alternating in one flat array,
 * `[name0, value0, name1, value1, ...]` (what `decodeParamList` gives the daemon per request).
 * @param list - names at even indexes, each followed by its value (a last name without a value is
 *   ignored); not modified.
 * @param context - as for `buildEnviron`.
 * @returns a fresh environ.
 * @throws {TsgiError} as `buildEnviron`.
 */
export function buildEnvironFromList(list: readonly string[], context: EnvironContext): Environ {
  // Quirks are handled while copying: `delete` afterwards would turn the object into a slow
  // dictionary for every later access by the app. One indexed loop, no closure: this runs per request.
  // The signal slot exists from the start: adding a symbol-keyed property to an object that already
  // has ~30 properties makes V8 turn it into a slow dictionary (2.4 KB allocated per environ).
  const env = { [SIGNAL_SLOT]: undefined } as Record<string, unknown>;
  let headerType: string | undefined;
  let headerLength: string | undefined;
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = list[i] as string;
    const value = list[i + 1] as string;
    switch (name) {
      case 'HTTP_PROXY':
        continue; // httpoxy: a "Proxy:" request header, which HTTP clients would read as their proxy
      case 'CONTENT_TYPE':
      case 'CONTENT_LENGTH':
        // nginx's stock fastcgi_params send both empty on every bodyless request.
        if (value !== '') env[name] = value;
        continue;
      case 'HTTP_CONTENT_TYPE':
        headerType = value; // some fronts pass the body headers as HTTP_* too (RFC 3875 §4.1.18)
        continue;
      case 'HTTP_CONTENT_LENGTH':
        headerLength = value;
        continue;
      default:
        env[name] = value;
    }
  }
  if (env.CONTENT_TYPE === undefined && headerType !== undefined && headerType !== '') env.CONTENT_TYPE = headerType;
  if (env.CONTENT_LENGTH === undefined && headerLength !== undefined && headerLength !== '') env.CONTENT_LENGTH = headerLength;
  const length = env.CONTENT_LENGTH;
  if (length !== undefined && (typeof length !== 'string' || !DIGITS_RE.test(length))) {
    throw new TsgiError('TSGI_BAD_CONTENT_LENGTH', `tsgi: invalid CONTENT_LENGTH ${JSON.stringify(length)}`);
  }

  env.REQUEST_METHOD = stringOr(env.REQUEST_METHOD, 'GET');
  env.QUERY_STRING = stringOr(env.QUERY_STRING, '');
  env.SERVER_NAME = stringOr(env.SERVER_NAME, 'localhost');
  env.SERVER_PROTOCOL = stringOr(env.SERVER_PROTOCOL, 'HTTP/1.0');
  splitPath(env, context.scriptName);

  const scheme = isHttps(env.HTTPS, env.REQUEST_SCHEME) ? 'https' : 'http';
  env.SERVER_PORT = stringOr(env.SERVER_PORT, scheme === 'https' ? '443' : '80');

  env['tsgi.version'] = VERSION;
  env['tsgi.url_scheme'] = scheme;
  env['tsgi.input'] = context.input(length === undefined ? undefined : Number(length));
  env['tsgi.errors'] = context.errors;
  env['tsgi.multithread'] = context.multithread;
  env['tsgi.multiprocess'] = context.multiprocess;
  env['tsgi.run_once'] = context.runOnce;
  const signal = context.signal;
  if (typeof signal === 'function') {
    (env as Record<symbol, unknown>)[SIGNAL_SLOT] = signal;
    Object.defineProperty(env, 'tsgi.signal', LAZY_SIGNAL);
  } else {
    env['tsgi.signal'] = signal;
  }
  if (context.extensions !== undefined) Object.assign(env, context.extensions);
  return env as Environ;
}

function splitPath(env: Record<string, unknown>, mount: string | undefined): void {
  let scriptName = stringOr(env.SCRIPT_NAME, '');
  let pathInfo = stringOr(env.PATH_INFO, '');
  if (env.PATH_INFO === undefined && typeof env.SCRIPT_FILENAME === 'string') {
    [scriptName, pathInfo] = splitProxyFcgi(scriptName, env.SCRIPT_FILENAME);
  }
  if (mount !== undefined) {
    // The operator knows where the app is mounted: rebuild the split from the whole path, so every
    // front presents the same SCRIPT_NAME/PATH_INFO (nginx's stock params and Apache mod_proxy_fcgi
    // put the whole path in SCRIPT_NAME; see docs/front-servers.md).
    const root = mount.replace(/\/+$/, '');
    const full = scriptName + pathInfo;
    if (full === root || full.startsWith(root + '/')) {
      scriptName = root;
      pathInfo = full.slice(root.length);
    }
  } else if (scriptName.endsWith('/')) {
    // SCRIPT_NAME "/" (lighttpd's root mount, hand-written nginx configs) would make URL rebuilding
    // produce "//": PEP 3333 keeps the slash in PATH_INFO instead.
    const trimmed = scriptName.replace(/\/+$/, '');
    pathInfo = scriptName.slice(trimmed.length) + pathInfo;
    pathInfo = pathInfo.replace(/^\/+/, '/');
    scriptName = trimmed;
  }
  env.SCRIPT_NAME = scriptName;
  env.PATH_INFO = pathInfo;
}

// Apache mod_proxy_fcgi sends the whole decoded URL path as SCRIPT_NAME and no PATH_INFO; the part
// below the ProxyPass mount is only in SCRIPT_FILENAME, percent-encoded, after "proxy:fcgi://host[:port]"
// (docs/front-servers.md). SCRIPT_NAME minus that decoded tail is the mount.
const PROXY_FCGI_RE = /^proxy:fcgi:\/\/[^/]*(\/[^?]*)?/;

function splitProxyFcgi(scriptName: string, scriptFilename: string): [string, string] {
  const match = PROXY_FCGI_RE.exec(scriptFilename);
  if (match === null) return [scriptName, ''];
  let tail: string;
  try {
    tail = decodeURIComponent(match[1] ?? '/');
  } catch {
    return [scriptName, '']; // a malformed escape: keep what Apache sent
  }
  if (!scriptName.endsWith(tail)) return [scriptName, ''];
  return [scriptName.slice(0, scriptName.length - tail.length), tail];
}

/** Names and values alternating, from pairs or from a record such as process.env (undefined values skipped). */
function toList(params: Iterable<readonly [string, string]> | Record<string, string | undefined>): string[] {
  const list: string[] = [];
  if (Symbol.iterator in params) {
    for (const pair of params as Iterable<readonly [string, string]>) list.push(pair[0], pair[1]);
    return list;
  }
  for (const name in params) {
    const value = (params as Record<string, string | undefined>)[name];
    if (value !== undefined) list.push(name, value);
  }
  return list;
}

/** HTTPS "on"/"1" (Apache, nginx) or REQUEST_SCHEME "https", in any case. */
function isHttps(https: unknown, requestScheme: unknown): boolean {
  if (typeof https === 'string' && https !== '') {
    const lower = https.toLowerCase();
    if (lower === 'on' || lower === '1') return true;
  }
  return typeof requestScheme === 'string' && requestScheme.length === 5 && requestScheme.toLowerCase() === 'https';
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}
