// The Express download app on node:http, the reference for bench/download.mjs: `node download-http.mjs --listen 127.0.0.1:PORT`.
import { createServer } from 'node:http';
import app from './download-express.mjs';
import { exitOnSignals, listenAddress } from './node-handler.mjs';

const { host, port } = listenAddress(process.argv);
const server = createServer(app);
exitOnSignals(server);
server.listen(port, host, () => {
  process.stderr.write(`bench: download-http listening on ${host}:${port}\n`);
});
