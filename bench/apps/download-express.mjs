// The download case as an Express 5 app (the node:http adapter): GET /download pipes a Readable of DOWNLOAD_BYTES (default 100 MiB) to res.
//
// GET /download-chunked does the same without Content-Length.
//
// `readable.pipe(res)` stops reading while `res.write()` returns false and resumes on 'drain', the
// way Express apps stream files (res.sendFile, fs.createReadStream(...).pipe(res)). Exported, never
// listening: tsgi hosts it through fromNodeHttp.
import { Readable } from 'node:stream';
import express from 'express';
import { CHUNK_BYTES, DOWNLOAD_BYTES } from './download-tsgi.mjs';

/** A Readable of `total` bytes in 64 KiB chunks, each made when the stream asks for it. */
function source(total) {
  let sent = 0;
  return new Readable({
    highWaterMark: CHUNK_BYTES,
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const size = Math.min(CHUNK_BYTES, total - sent);
      sent += size;
      this.push(Buffer.alloc(size, 0x61));
    },
  });
}

const app = express();
app.disable('x-powered-by');
app.get('/download', (_req, res) => {
  res.set('Content-Type', 'application/octet-stream');
  res.set('Content-Length', String(DOWNLOAD_BYTES));
  source(DOWNLOAD_BYTES).pipe(res);
});
// The same without Content-Length: Node would send it chunked on a socket of its own.
app.get('/download-chunked', (_req, res) => {
  res.set('Content-Type', 'application/octet-stream');
  source(DOWNLOAD_BYTES).pipe(res);
});

export default app;
