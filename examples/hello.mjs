#!/usr/bin/env tsgi
// The example TSGI app that `npm start` serves: plain JavaScript, no dependencies, and the same file
// runs unchanged as a CGI script (drop it into cgi-bin) and under the FastCGI daemon.

const MAX_ECHO_BYTES = 1024 * 1024;

/** @type {import('tsgi').App} */
export default async function app(environ, startResponse) {
  const path = environ.PATH_INFO || '/';

  if (path === '/') {
    startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
    return [
      `Hello from tsgi!\n\n`,
      `method       ${environ.REQUEST_METHOD}\n`,
      `SCRIPT_NAME  ${JSON.stringify(environ.SCRIPT_NAME)}\n`,
      `PATH_INFO    ${JSON.stringify(environ.PATH_INFO)}\n`,
      `QUERY_STRING ${JSON.stringify(environ.QUERY_STRING)}\n`,
      `run_once     ${environ['tsgi.run_once']} (true under CGI, false under FastCGI)\n`,
      `\nTry /stream, or POST something to /echo.\n`,
    ];
  }

  if (path === '/stream') {
    // An async generator streams: each chunk goes out as soon as it is yielded.
    startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
    return (async function* () {
      for (let i = 1; i <= 5; i++) {
        yield `tick ${i}\n`;
        await new Promise((resolve) => setTimeout(resolve, 200));
        if (environ['tsgi.signal'].aborted) return; // the client went away
      }
    })();
  }

  if (path === '/echo' && environ.REQUEST_METHOD === 'POST') {
    let body;
    try {
      body = await environ['tsgi.input'].readAll(MAX_ECHO_BYTES);
    } catch (error) {
      // readAll refuses a longer body with code TSGI_BODY_TOO_LARGE (docs/spec.md "tsgi.input"): that
      // is the client's mistake, so say so instead of letting it become a 500.
      if (error?.code !== 'TSGI_BODY_TOO_LARGE') throw error;
      startResponse('413 Content Too Large', [['Content-Type', 'text/plain; charset=utf-8']]);
      return [`The body is over ${MAX_ECHO_BYTES} bytes.\n`];
    }
    startResponse('200 OK', [['Content-Type', environ.CONTENT_TYPE ?? 'application/octet-stream']]);
    return [body];
  }

  startResponse('404 Not Found', [['Content-Type', 'text/plain; charset=utf-8']]);
  return [`No route for ${path}\n`];
}
