// The benchmark app on node-fastcgi (a FastCGI peer with the node:http API): `node node-fastcgi.mjs --listen 127.0.0.1:PORT`.
import fcgi from 'node-fastcgi';
import { exitOnSignals, handler, listenAddress } from './node-handler.mjs';

const { host, port } = listenAddress(process.argv);
// node-fastcgi's server is a net.Server: listen(port, host) instead of the inherited fd 0.
const server = fcgi.createServer(handler);
exitOnSignals(server);
server.listen(port, host, () => {
  process.stderr.write(`bench: node-fastcgi listening on ${host}:${port}\n`);
});
