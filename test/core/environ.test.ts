// Tests environ normalisation: each front-server quirk, named after the server to blame (RFC 3875 §4.1).

import { describe, expect, it } from 'vitest';
import { buildEnviron, type EnvironContext } from '../../src/core/environ.js';
import { BodyInput } from '../../src/core/input.js';
import type { TsgiError } from '../../src/core/errors.js';

function build(params: Record<string, string>, extra: Partial<EnvironContext> = {}) {
  let length: number | undefined | 'unset' = 'unset';
  const environ = buildEnviron(params, {
    input: (contentLength) => {
      length = contentLength;
      return new BodyInput({ contentLength });
    },
    errors: { write: () => {} },
    signal: new AbortController().signal,
    multithread: true,
    multiprocess: false,
    runOnce: false,
    ...extra,
  });
  return { environ, length };
}

describe('buildEnviron', () => {
  it('drops the empty CONTENT_TYPE and CONTENT_LENGTH nginx sends on every GET', () => {
    const { environ, length } = build({ REQUEST_METHOD: 'GET', CONTENT_TYPE: '', CONTENT_LENGTH: '' });
    expect('CONTENT_TYPE' in environ).toBe(false);
    expect('CONTENT_LENGTH' in environ).toBe(false);
    expect(length).toBeUndefined();
  });

  it('passes CONTENT_LENGTH to the input as a number (RFC 3875 §4.1.2)', () => {
    expect(build({ CONTENT_LENGTH: '42' }).length).toBe(42);
  });

  it('throws TSGI_BAD_CONTENT_LENGTH for a non-numeric CONTENT_LENGTH', () => {
    expect(() => build({ CONTENT_LENGTH: '-1' })).toThrow(expect.objectContaining({ code: 'TSGI_BAD_CONTENT_LENGTH' }) as TsgiError);
    expect(() => build({ CONTENT_LENGTH: '12abc' })).toThrow(/invalid CONTENT_LENGTH/);
  });

  it('moves SCRIPT_NAME "/" (lighttpd root mount) into PATH_INFO', () => {
    const { environ } = build({ SCRIPT_NAME: '/', PATH_INFO: '/x' });
    expect([environ.SCRIPT_NAME, environ.PATH_INFO]).toEqual(['', '/x']);
    const bare = build({ SCRIPT_NAME: '/' }).environ;
    expect([bare.SCRIPT_NAME, bare.PATH_INFO]).toEqual(['', '/']);
  });

  it('strips a trailing slash from SCRIPT_NAME and keeps it in PATH_INFO', () => {
    const { environ } = build({ SCRIPT_NAME: '/app/', PATH_INFO: '' });
    expect([environ.SCRIPT_NAME, environ.PATH_INFO]).toEqual(['/app', '/']);
  });

  it('fills absent SCRIPT_NAME, PATH_INFO and QUERY_STRING with ""', () => {
    const { environ } = build({});
    expect([environ.SCRIPT_NAME, environ.PATH_INFO, environ.QUERY_STRING]).toEqual(['', '', '']);
  });

  it('rebuilds the split at a mount point given by the operator (Apache mod_proxy_fcgi sends the whole path)', () => {
    const whole = build({ SCRIPT_NAME: '/app/users/7', PATH_INFO: '' }, { scriptName: '/app' }).environ;
    expect([whole.SCRIPT_NAME, whole.PATH_INFO]).toEqual(['/app', '/users/7']);
    const root = build({ SCRIPT_NAME: '/users/7' }, { scriptName: '/' }).environ;
    expect([root.SCRIPT_NAME, root.PATH_INFO]).toEqual(['', '/users/7']);
    const outside = build({ SCRIPT_NAME: '/other' }, { scriptName: '/app' }).environ;
    expect([outside.SCRIPT_NAME, outside.PATH_INFO]).toEqual(['/other', '']);
    const prefixOnly = build({ SCRIPT_NAME: '/application' }, { scriptName: '/app' }).environ;
    expect(prefixOnly.SCRIPT_NAME).toBe('/application');
  });

  it.each([
    ['/env/x/y', 'proxy:fcgi://127.0.0.1:9000/env/x/y', '', '/env/x/y'],
    ['/app/env/x', 'proxy:fcgi://127.0.0.1:9000/env/x', '/app', '/env/x'],
    ['/app/a b', 'proxy:fcgi://127.0.0.1:9000/a%20b', '/app', '/a b'],
    ['/app/', 'proxy:fcgi://127.0.0.1:9000/', '/app', '/'],
    ['/app/env/x', 'proxy:fcgi://localhost/env/x', '/app', '/env/x'],
    ['/app/x', 'proxy:fcgi://127.0.0.1:9000/backend/x', '/app/x', ''],
    ['/app/x', 'proxy:fcgi://127.0.0.1:9000/%zz', '/app/x', ''],
  ])('splits Apache mod_proxy_fcgi SCRIPT_NAME %s with SCRIPT_FILENAME %s', (scriptName, filename, sn, pi) => {
    const { environ } = build({ SCRIPT_NAME: scriptName, SCRIPT_FILENAME: filename });
    expect([environ.SCRIPT_NAME, environ.PATH_INFO]).toEqual([sn, pi]);
  });

  it('leaves SCRIPT_NAME alone when the front sent PATH_INFO (nginx, CGI)', () => {
    const { environ } = build({ SCRIPT_NAME: '/cgi-bin/app.mjs', PATH_INFO: '/x', SCRIPT_FILENAME: '/usr/lib/cgi-bin/app.mjs' });
    expect([environ.SCRIPT_NAME, environ.PATH_INFO]).toEqual(['/cgi-bin/app.mjs', '/x']);
  });

  it.each([
    [{ HTTPS: 'on' }, 'https'],
    [{ HTTPS: 'ON' }, 'https'],
    [{ HTTPS: '1' }, 'https'],
    [{ HTTPS: 'off' }, 'http'],
    [{ REQUEST_SCHEME: 'https' }, 'https'],
    [{}, 'http'],
  ])('derives tsgi.url_scheme from %j as %s', (params, scheme) => {
    expect(build(params).environ['tsgi.url_scheme']).toBe(scheme);
  });

  it('removes HTTP_PROXY (httpoxy)', () => {
    expect('HTTP_PROXY' in build({ HTTP_PROXY: 'http://evil:1' }).environ).toBe(false);
  });

  it('turns HTTP_CONTENT_TYPE into CONTENT_TYPE when the front sent only the header form', () => {
    const { environ } = build({ HTTP_CONTENT_TYPE: 'text/plain' });
    expect(environ.CONTENT_TYPE).toBe('text/plain');
    expect('HTTP_CONTENT_TYPE' in environ).toBe(false);
  });

  it('sets the tsgi.* keys and copies extensions', () => {
    const { environ } = build({}, { extensions: { 'fastcgi.request_id': 1 } });
    expect(environ['tsgi.version']).toEqual([1, 0]);
    expect(environ['tsgi.multithread']).toBe(true);
    expect(environ['tsgi.run_once']).toBe(false);
    expect(environ['fastcgi.request_id']).toBe(1);
    expect(environ.SERVER_PORT).toBe('80');
  });

  it('does not modify the params it was given', () => {
    const params = { CONTENT_TYPE: '', HTTP_PROXY: 'x' };
    build(params);
    expect(params).toEqual({ CONTENT_TYPE: '', HTTP_PROXY: 'x' });
  });

  describe('a lazy tsgi.signal (signal given as a factory)', () => {
    function lazy() {
      let made = 0;
      const controller = new AbortController();
      const { environ } = build({}, { signal: () => (made++, controller.signal) });
      return { environ, controller, count: () => made };
    }

    it('makes the signal on first access only, and keeps it', () => {
      const { environ, controller, count } = lazy();
      expect(count()).toBe(0);
      expect(Object.keys(environ)).toContain('tsgi.signal');
      expect(environ['tsgi.signal']).toBe(controller.signal);
      expect(environ['tsgi.signal']).toBe(controller.signal);
      expect(count()).toBe(1);
    });

    it('can be replaced by assignment and is copied by a spread', () => {
      const { environ, controller } = lazy();
      expect({ ...environ }['tsgi.signal']).toBe(controller.signal);
      const other = new AbortController().signal;
      environ['tsgi.signal'] = other;
      expect(environ['tsgi.signal']).toBe(other);
    });

    it('uses one accessor for every environ, so environs share a hidden class', () => {
      // A getter per environ made V8 give each environ its own map and promote its objects.
      const first = Object.getOwnPropertyDescriptor(lazy().environ, 'tsgi.signal');
      const second = Object.getOwnPropertyDescriptor(lazy().environ, 'tsgi.signal');
      expect(typeof first?.get).toBe('function');
      expect(second?.get).toBe(first?.get);
    });
  });
});
