// The benchmark app on node:http, the peer behind nginx `proxy_pass`: `node node-http.mjs --listen 127.0.0.1:PORT`.
import { createServer } from 'node:http';
import { exitOnSignals, handler, listenAddress } from './node-handler.mjs';

const { host, port } = listenAddress(process.argv);
const server = createServer(handler);
exitOnSignals(server);
server.listen(port, host, () => {
  process.stderr.write(`bench: node-http listening on ${host}:${port}\n`);
});
