// The Express benchmark app on node:http, the peer behind nginx `proxy_pass`: `node express-http.mjs --listen 127.0.0.1:PORT`.
import { createServer } from 'node:http';
import app from './express-app.mjs';
import { exitOnSignals, listenAddress } from './node-handler.mjs';

const { host, port } = listenAddress(process.argv);
const server = createServer(app);
exitOnSignals(server);
server.listen(port, host, () => {
  process.stderr.write(`bench: express-http listening on ${host}:${port}\n`);
});
