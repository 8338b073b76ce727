// The example routes as an Express 5 app (node:http style), exported without listen(): tsgi hosts it
// through the node:http adapter (`tsgi fastcgi examples/express.mjs`). Same routes as tsgi-app.mjs.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import cookieParser from 'cookie-parser';
import express from 'express';
import multer from 'multer';

const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: MAX_UPLOAD_BYTES } });

const app = express();
app.disable('x-powered-by');
app.use(cookieParser());

app.get('/json', (req, res) => {
  res.json({ hello: 'world' });
});

app.get('/users/:id', (req, res) => {
  res.json({ id: req.params.id });
});

// Both body parsers; each only acts on its own Content-Type.
app.post('/form', express.urlencoded({ extended: false }), express.json(), (req, res) => {
  res.json(req.body ?? {});
});

app.post('/upload', upload.single('file'), (req, res) => {
  if (!req.file) return void res.status(400).json({ error: 'no file field' });
  res.json({ size: req.file.size, sha256: createHash('sha256').update(req.file.buffer).digest('hex') });
});

app.get('/stream', async (req, res) => {
  res.type('text/plain');
  res.flushHeaders(); // the head goes out now, before the first chunk
  for (let i = 1; i <= 3; i++) {
    if (i > 1) await sleep(20);
    res.write(`chunk ${i}\n`);
  }
  res.end();
});

app.get('/cookies', (req, res) => {
  res.cookie('a', '1', { path: '/' });
  res.cookie('b', '2', { path: '/', httpOnly: true });
  res.json({ received: req.cookies.c ?? null });
});

app.get('/redirect', (req, res) => {
  res.redirect(302, '/json');
});

app.get('/error', () => {
  throw new Error('secret internals: the database password is hunter2');
});

app.use((req, res) => {
  res.status(404).json({ error: 'not found' });
});

// Four parameters make this Express's error handler; the message stays in the log, not the page.
app.use((error, req, res, next) => {
  process.stderr.write(`express example: ${req.method} ${req.originalUrl}: ${error.message}\n`);
  if (res.headersSent) return next(error);
  res.status(500).json({ error: 'Internal Server Error' });
});

export default app;
