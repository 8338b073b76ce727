// The CGI start-up case "an app that imports a framework": a TSGI app whose module imports express.
//
// Express does not route the request here (that is bench/apps/express-app.mjs, through the node:http
// adapter): the module pays for loading express and building an express app, as a real framework
// app would on every CGI request, then answers /hello like tsgi-app.mjs.

import express from 'express';
import tsgiApp from './tsgi-app.mjs';

const framework = express();
framework.get('/hello', (_req, res) => res.send('Hello, world!\n'));

/** @type {import('tsgi').App} */
export default function app(environ, startResponse) {
  return tsgiApp(environ, startResponse);
}
