// The benchmark's response bodies and routes, shared by every backend so each serves the same bytes.

/** GET /hello: 14 bytes. */
export const HELLO = Buffer.from('Hello, world!\n');

/** GET /64k: 65536 bytes, allocated once (the benchmark measures the server, not the app). */
export const SIXTY_FOUR_K = Buffer.alloc(64 * 1024, 'x');

export const NOT_FOUND = Buffer.from('Not Found\n');

export const TEXT_PLAIN = 'text/plain; charset=utf-8';
