// The benchmark's GET /hello as a CommonJS TSGI app, for the CGI start-up table only (bench/lib/cgi.mjs).
//
// tsgi require()s a CommonJS app where an ES module app goes through Node's ES module machinery
// (src/cli/load-app.ts); this row shows what that leaves of CGI start-up. Self-contained: a
// require() of payloads.mjs would bring that machinery back.

const HELLO = Buffer.from('Hello, world!\n');
const HELLO_HEADERS = [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(HELLO.byteLength)]];
const NOT_FOUND = Buffer.from('Not Found\n');
const NOT_FOUND_HEADERS = [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(NOT_FOUND.byteLength)]];

/** @type {import('tsgi').App} */
module.exports = function app(environ, startResponse) {
  if (environ.PATH_INFO === '/hello' && environ.REQUEST_METHOD === 'GET') {
    startResponse('200 OK', HELLO_HEADERS);
    return [HELLO];
  }
  startResponse('404 Not Found', NOT_FOUND_HEADERS);
  return [NOT_FOUND];
};
