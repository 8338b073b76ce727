// Validator rules for the server side: the environ it hands the app (the environ.* rules of validator.ts).
import { DIGITS, TOKEN, describe, hasMethod, isSignal, type Reporter } from './validator-shared.js';

const REQUIRED_KEYS = [
  'REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL',
  'tsgi.version', 'tsgi.url_scheme', 'tsgi.input', 'tsgi.errors', 'tsgi.multithread', 'tsgi.multiprocess',
  'tsgi.run_once', 'tsgi.signal',
];

/** Checks the environ before the app sees it; each violation goes to `report`. */
export function checkEnviron(environ: unknown, report: Reporter): void {
  if (typeof environ !== 'object' || environ === null || Array.isArray(environ) || environ instanceof Map) {
    return report.fail('environ.type', `environ is ${describe(environ)}; pass a plain object of meta-variables and tsgi.* keys`);
  }
  const env = environ as Record<string, unknown>;
  for (const key of REQUIRED_KEYS) {
    if (!(key in env)) report.fail('environ.missing-key', `environ has no ${key}; the server must always set it (use "" for an empty path or query)`);
  }
  for (const [key, value] of Object.entries(env)) {
    if (!key.includes('.') && typeof value !== 'string') {
      report.fail('environ.not-string', `environ.${key} is ${describe(value)}; meta-variables are strings: convert the value, or delete the key when there is none`);
    }
  }
  const str = (key: string): string | undefined => (typeof env[key] === 'string' ? (env[key] as string) : undefined);
  const method = str('REQUEST_METHOD');
  if (method !== undefined && !TOKEN.test(method)) {
    report.fail('environ.request-method', `REQUEST_METHOD ${JSON.stringify(method)} is not an HTTP token; pass the method as the request line has it, e.g. "GET"`);
  }
  const script = str('SCRIPT_NAME');
  if (script === '/') report.fail('environ.script-name-slash', "SCRIPT_NAME cannot be '/'; use '' and put '/' in PATH_INFO");
  else if (script !== undefined && script !== '' && !script.startsWith('/')) {
    report.fail('environ.script-name', `SCRIPT_NAME ${JSON.stringify(script)} must be '' or start with '/'; prefix it with '/'`);
  } else if (script?.endsWith('/')) {
    report.fail('environ.script-name', `SCRIPT_NAME ${JSON.stringify(script)} ends with '/'; drop the trailing '/' and start PATH_INFO with it`);
  }
  const pathInfo = str('PATH_INFO');
  if (pathInfo !== undefined && pathInfo !== '' && !pathInfo.startsWith('/')) {
    report.fail('environ.path-info', `PATH_INFO ${JSON.stringify(pathInfo)} must be '' or start with '/'; prefix it with '/'`);
  }
  for (const key of ['CONTENT_TYPE', 'CONTENT_LENGTH']) {
    if (env[key] === '') report.fail('environ.content-empty', `${key} is ""; delete the key when the request has no ${key === 'CONTENT_TYPE' ? 'content type' : 'body length'}`);
  }
  const length = str('CONTENT_LENGTH');
  if (length !== undefined && length !== '' && !DIGITS.test(length)) {
    report.fail('environ.content-length', `CONTENT_LENGTH ${JSON.stringify(length)} is not decimal digits; pass the byte count, or delete the key`);
  }
  for (const key of ['HTTP_CONTENT_TYPE', 'HTTP_CONTENT_LENGTH']) {
    if (key in env) report.fail('environ.http-content', `environ has ${key}; the value belongs in ${key.slice(5)} only: delete ${key}`);
  }
  const version = env['tsgi.version'];
  if ('tsgi.version' in env && !(Array.isArray(version) && version.length === 2 && version[0] === 1 && version[1] === 0)) {
    report.fail('environ.version', `tsgi.version is ${describe(version)}; set it to [1, 0]`);
  }
  const scheme = env['tsgi.url_scheme'];
  if ('tsgi.url_scheme' in env && scheme !== 'http' && scheme !== 'https') {
    report.fail('environ.url-scheme', `tsgi.url_scheme is ${describe(scheme)}; set it to "http" or "https"`);
  }
  const input = env['tsgi.input'] as Record<PropertyKey, unknown> | undefined;
  if ('tsgi.input' in env && !(hasMethod(input, 'read') && hasMethod(input, 'readAll') && hasMethod(input, Symbol.asyncIterator))) {
    report.fail('environ.input', `tsgi.input is ${describe(input)}; give an InputStream with read(), readAll() and [Symbol.asyncIterator]()`);
  }
  if ('tsgi.errors' in env && !hasMethod(env['tsgi.errors'], 'write')) {
    report.fail('environ.errors', `tsgi.errors is ${describe(env['tsgi.errors'])}; give an object with write(text)`);
  }
  for (const key of ['tsgi.multithread', 'tsgi.multiprocess', 'tsgi.run_once']) {
    if (key in env && typeof env[key] !== 'boolean') report.fail('environ.flags', `${key} is ${describe(env[key])}; set it to true or false`);
  }
  if ('tsgi.signal' in env && !isSignal(env['tsgi.signal'])) {
    report.fail('environ.signal', `tsgi.signal is ${describe(env['tsgi.signal'])}; give an AbortSignal (new AbortController().signal)`);
  }
}
