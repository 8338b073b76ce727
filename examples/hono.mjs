// The example routes as a Hono 4 app (fetch style), exported without a server: tsgi hosts it through
// the fetch adapter (`tsgi fastcgi examples/hono.mjs`). Same routes as tsgi-app.mjs.
import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { stream } from 'hono/streaming';

const app = new Hono();

app.get('/json', (c) => c.json({ hello: 'world' }));

app.get('/users/:id', (c) => c.json({ id: c.req.param('id') }));

app.post('/form', async (c) => {
  if ((c.req.header('content-type') ?? '').startsWith('application/json')) return c.json(await c.req.json());
  return c.json(await c.req.parseBody());
});

app.post('/upload', async (c) => {
  const body = await c.req.parseBody();
  const file = body.file;
  if (!(file instanceof File)) return c.json({ error: 'no file field' }, 400);
  const bytes = new Uint8Array(await file.arrayBuffer());
  return c.json({ size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') });
});

app.get('/stream', (c) => {
  c.header('Content-Type', 'text/plain; charset=utf-8');
  return stream(c, async (out) => {
    for (let i = 1; i <= 3; i++) {
      if (i > 1) await out.sleep(20);
      await out.write(`chunk ${i}\n`);
    }
  });
});

app.get('/cookies', (c) => {
  setCookie(c, 'a', '1', { path: '/' });
  setCookie(c, 'b', '2', { path: '/', httpOnly: true });
  return c.json({ received: getCookie(c, 'c') ?? null });
});

app.get('/redirect', (c) => c.redirect('/json', 302));

app.get('/error', () => {
  throw new Error('secret internals: the database password is hunter2');
});

app.notFound((c) => c.json({ error: 'not found' }, 404));

app.onError((error, c) => {
  process.stderr.write(`hono example: ${c.req.method} ${c.req.path}: ${error.message}\n`);
  return c.json({ error: 'Internal Server Error' }, 500);
});

export default app;
