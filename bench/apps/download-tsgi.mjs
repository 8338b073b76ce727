// The download case as a plain TSGI app: GET /download streams DOWNLOAD_BYTES (default 100 MiB) in 64 KiB chunks.
//
// An async generator: each chunk is yielded only when the server pulls again, so a slow client (and
// nginx with `fastcgi_buffering off`) holds the generator back. A fresh buffer per chunk, as a file
// read stream would give; bench/download.mjs measures what the backend's RSS does meanwhile.

/** Bytes in the download; `DOWNLOAD_BYTES` in the environment overrides. */
export const DOWNLOAD_BYTES = Number(process.env.DOWNLOAD_BYTES ?? 100 * 1024 * 1024);
export const CHUNK_BYTES = 64 * 1024;

async function* download(total) {
  for (let sent = 0; sent < total; sent += CHUNK_BYTES) {
    yield Buffer.alloc(Math.min(CHUNK_BYTES, total - sent), 0x61);
  }
}

/** @type {import('tsgi').App} */
export default function app(environ, startResponse) {
  if (environ.PATH_INFO !== '/download') {
    startResponse('404 Not Found', [['Content-Type', 'text/plain']]);
    return ['not found\n'];
  }
  startResponse('200 OK', [
    ['Content-Type', 'application/octet-stream'],
    ['Content-Length', String(DOWNLOAD_BYTES)],
  ]);
  return download(DOWNLOAD_BYTES);
}
