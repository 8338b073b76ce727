// The benchmark app as an Express 5 app (the adapter case): exported, never listening, so tsgi can
// host it through fromNodeHttp; express-http.mjs hosts the same module on node:http.
import express from 'express';
import { HELLO, SIXTY_FOUR_K, TEXT_PLAIN } from './payloads.mjs';

const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.get('/hello', (_req, res) => {
  res.set('Content-Type', TEXT_PLAIN).send(HELLO);
});
app.get('/64k', (_req, res) => {
  res.set('Content-Type', 'application/octet-stream').send(SIXTY_FOUR_K);
});
app.post('/upload', (req, res) => {
  let length = 0;
  req.on('data', (chunk) => {
    length += chunk.byteLength;
  });
  req.on('end', () => res.set('Content-Type', TEXT_PLAIN).send(`${length}\n`));
});

export default app;
