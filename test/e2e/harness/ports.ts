// Finds free loopback ports and waits for a tcp port or unix socket to accept connections (e2e harness).
import { createServer, connect } from 'node:net';

/** A port the kernel just handed out on 127.0.0.1; free again once this resolves. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('e2e: no tcp address from listen(0)');
  return address.port;
}

/** Where a server listens: a loopback tcp port or a unix socket path. */
export type Endpoint = { host: string; port: number } | { path: string };

export function describeEndpoint(endpoint: Endpoint): string {
  return 'path' in endpoint ? `unix:${endpoint.path}` : `${endpoint.host}:${endpoint.port}`;
}

function tryConnect(endpoint: Endpoint): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = 'path' in endpoint ? connect(endpoint.path) : connect(endpoint.port, endpoint.host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Polls until the endpoint accepts a connection. `isAlive` lets the caller stop early when the
 * server process already died, so a bad config fails in milliseconds instead of after the bound.
 */
export async function waitForEndpoint(
  endpoint: Endpoint,
  { timeoutMs = 10_000, isAlive = () => true }: { timeoutMs?: number; isAlive?: () => boolean } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await tryConnect(endpoint)) return;
    if (!isAlive()) throw new Error(`e2e: server exited before ${describeEndpoint(endpoint)} accepted connections`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`e2e: ${describeEndpoint(endpoint)} did not accept connections within ${timeoutMs} ms`);
}
