// Keeps a retained byte view from pinning the much larger buffer it was cut from.

/**
 * A view at least this fraction of its backing buffer is kept as it is; a smaller one is copied.
 * A quarter keeps nginx's usual pieces (32 KiB FCGI_STDIN records in 64 KiB socket reads) uncopied
 * and bounds what retained views can hold to 4× the bytes they show.
 */
const MIN_SHARE = 4;

/**
 * Returns `view` itself when it is a sizeable part of its backing `ArrayBuffer`, else a copy of its
 * bytes. For bytes kept beyond the current read (request params, a body's memory window): a 1-byte
 * FastCGI record inside a 64 KiB socket read would otherwise keep all 64 KiB alive, so a limit
 * counted in bytes shown could be passed 65,000 times over in memory held.
 * @param view - bytes to keep.
 * @returns `view`, or a Buffer copy of exactly its bytes (never shares memory with `view`).
 */
export function compactView(view: Uint8Array): Uint8Array {
  if (view.byteLength * MIN_SHARE >= view.buffer.byteLength) return view;
  return Buffer.from(view);
}
