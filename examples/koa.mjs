// The example routes as a Koa 3 app (node:http style), exported without listen(): tsgi hosts it through
// the node:http adapter (`tsgi fastcgi examples/koa.mjs`). Same routes as tsgi-app.mjs.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import multer from '@koa/multer';
import Router from '@koa/router';
import Koa from 'koa';

const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
const MAX_FORM_BYTES = 1024 * 1024;
const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: MAX_UPLOAD_BYTES } });

/** Reads a urlencoded or JSON body (Koa has no body parser of its own; @koa/bodyparser is the usual one). */
async function readForm(ctx) {
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) ctx.throw(413);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (ctx.is('application/json')) return JSON.parse(text);
  if (ctx.is('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text));
  ctx.throw(415);
}

const router = new Router();

router.get('/json', (ctx) => {
  ctx.body = { hello: 'world' };
});

router.get('/users/:id', (ctx) => {
  ctx.body = { id: ctx.params.id };
});

router.post('/form', async (ctx) => {
  ctx.body = await readForm(ctx);
});

router.post('/upload', upload.single('file'), (ctx) => {
  const file = ctx.request.file;
  if (!file) ctx.throw(400, 'no file field');
  ctx.body = { size: file.size, sha256: createHash('sha256').update(file.buffer).digest('hex') };
});

router.get('/stream', (ctx) => {
  ctx.type = 'text/plain';
  ctx.body = Readable.from(
    (async function* () {
      for (let i = 1; i <= 3; i++) {
        if (i > 1) await sleep(20);
        yield `chunk ${i}\n`;
      }
    })(),
  );
});

router.get('/cookies', (ctx) => {
  ctx.cookies.set('a', '1', { path: '/', httpOnly: false });
  ctx.cookies.set('b', '2', { path: '/', httpOnly: true });
  ctx.body = { received: ctx.cookies.get('c') ?? null };
});

router.get('/redirect', (ctx) => {
  ctx.status = 302;
  ctx.redirect('/json');
});

router.get('/error', () => {
  throw new Error('secret internals: the database password is hunter2');
});

const app = new Koa();
app.use(router.routes()).use(router.allowedMethods());
// Koa answers errors with a generic page for 5xx (err.expose is false); this replaces its stack dump.
app.on('error', (error, ctx) => {
  process.stderr.write(`koa example: ${ctx?.method} ${ctx?.originalUrl}: ${error.message}\n`);
});

export default app;
