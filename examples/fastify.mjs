// The example routes as a Fastify 5 app (node:http style), exported without listen() or ready(): tsgi
// awaits ready() and hosts it through the node:http adapter. Same routes as tsgi-app.mjs.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import cookie from '@fastify/cookie';
import multipart from '@fastify/multipart';
import Fastify from 'fastify';

const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;

const app = Fastify({ logger: false });
await app.register(cookie);
// @fastify/multipart limits a file to bodyLimit (1 MiB) unless told otherwise.
await app.register(multipart, { limits: { fileSize: MAX_UPLOAD_BYTES, files: 1 } });

// Fastify parses JSON itself; urlencoded needs a parser (@fastify/formbody is the usual plugin).
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => {
  done(null, Object.fromEntries(new URLSearchParams(body)));
});

app.get('/json', async () => ({ hello: 'world' }));

app.get('/users/:id', async (request) => ({ id: request.params.id }));

app.post('/form', async (request) => request.body ?? {});

app.post('/upload', async (request, reply) => {
  const data = await request.file();
  if (!data || data.fieldname !== 'file') return reply.code(400).send({ error: 'no file field' });
  // Hash while the upload streams in: nothing is buffered whole.
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of data.file) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex') };
});

app.get('/stream', (request, reply) => {
  reply.type('text/plain');
  return reply.send(
    Readable.from(
      (async function* () {
        for (let i = 1; i <= 3; i++) {
          if (i > 1) await sleep(20);
          yield `chunk ${i}\n`;
        }
      })(),
    ),
  );
});

app.get('/cookies', async (request, reply) => {
  reply.setCookie('a', '1', { path: '/' });
  reply.setCookie('b', '2', { path: '/', httpOnly: true });
  return { received: request.cookies.c ?? null };
});

app.get('/redirect', async (request, reply) => reply.redirect('/json', 302));

app.get('/error', async () => {
  throw new Error('secret internals: the database password is hunter2');
});

app.setNotFoundHandler(async (request, reply) => reply.code(404).send({ error: 'not found' }));

// Fastify's default error reply includes error.message; keep internals in the log.
app.setErrorHandler(async (error, request, reply) => {
  if ((error.statusCode ?? 500) < 500) return reply.code(error.statusCode).send({ error: error.message });
  process.stderr.write(`fastify example: ${request.method} ${request.url}: ${error.message}\n`);
  return reply.code(500).send({ error: 'Internal Server Error' });
});

export default app;
