// Holds a byte stream first-in first-out: in memory up to a bound, the rest in an unlinked temp file.

import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { compactView } from './bytes.js';
import { TsgiError } from './errors.js';

/** Options for {@link ByteSpool}. */
export interface SpoolOptions {
  /** Bytes kept in memory before further bytes go to a temp file. */
  memoryBytes: number;
  /** Where temp files are made. Default `os.tmpdir()`. */
  directory?: string;
}

const READ_BYTES = 65536;
let serial = 0;

/**
 * A FIFO of bytes that never refuses a push and never holds more than `memoryBytes` in memory: the
 * overflow goes to a temp file that is unlinked as soon as it is open (nothing is left behind if the
 * process dies). This is how a transport that must keep reading (nginx stops sending a request body
 * once a backend's socket blocks after the response started) stays within bounded memory, as nginx
 * does itself with client_body_temp_path.
 */
export class ByteSpool {
  readonly #memoryLimit: number;
  readonly #directory: string | undefined;
  readonly #memory: Uint8Array[] = [];
  #memoryBytes = 0;
  #file: Promise<FileHandle> | undefined;
  #writes: Promise<unknown> = Promise.resolve();
  #writePosition = 0;
  #readPosition = 0;
  #error: unknown;
  #closed = false;
  /** The temp file's directory, once known (for the error message). */
  #whereTo: string | undefined;

  constructor(options: SpoolOptions) {
    this.#memoryLimit = options.memoryBytes;
    this.#directory = options.directory;
  }

  /** Bytes held in memory. */
  get memoryBytes(): number {
    return this.#memoryBytes;
  }

  /** Bytes held in all, memory and file. */
  get size(): number {
    return this.#memoryBytes + this.#writePosition - this.#readPosition;
  }

  /** Appends bytes. Later bytes go to the file once memory is full, and stay there until it is read. */
  push(chunk: Uint8Array): void {
    if (this.#closed) return;
    const spilling = this.#writePosition > this.#readPosition;
    if (!spilling && this.#memoryBytes + chunk.byteLength <= this.#memoryLimit) {
      // Counted by the bytes it shows, so it must not hold more: see compactView.
      this.#memory.push(compactView(chunk));
      this.#memoryBytes += chunk.byteLength;
      return;
    }
    const position = this.#writePosition;
    this.#writePosition += chunk.byteLength;
    const queued = compactView(chunk); // held until the write ran
    const file = (this.#file ??= this.#openFile());
    this.#writes = this.#writes
      .then(() => file)
      .then((handle) => handle.write(queued, 0, queued.byteLength, position))
      .catch((error: unknown) => {
        this.#error ??= new TsgiError('TSGI_SPOOL', `tsgi: cannot spool a request body to ${this.#whereTo ?? this.#directory ?? 'the temp directory'}`, { cause: error });
      });
  }

  /**
   * Takes the oldest chunk when it is in memory, synchronously (memory always holds the oldest
   * bytes: once bytes go to the file, later ones follow them there).
   * @returns `undefined` when memory is empty (the spool is empty, or what is left is in the file).
   */
  takeMemory(): Uint8Array | undefined {
    const chunk = this.#memory.shift();
    if (chunk !== undefined) this.#memoryBytes -= chunk.byteLength;
    return chunk;
  }

  /**
   * Takes the oldest bytes: a whole chunk from memory, or up to 64 KiB from the file.
   * @returns `null` when the spool is empty.
   * @throws {TsgiError} code `TSGI_SPOOL` when the temp file could not be written or read.
   */
  async shift(): Promise<Uint8Array | null> {
    const chunk = this.takeMemory();
    if (chunk !== undefined) return chunk;
    if (this.#writePosition === this.#readPosition) return null;
    // Only bytes pushed before this point are in the writes awaited here: one pushed while this
    // waits is written later, and reading its range now would return what the reused file held
    // there before (another body's bytes, same length). So the range is fixed first.
    const start = this.#readPosition;
    const length = Math.min(READ_BYTES, this.#writePosition - start);
    await this.#writes;
    if (this.#error !== undefined) throw this.#error;
    const handle = await (this.#file as Promise<FileHandle>);
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await handle.read(buffer, 0, length, start);
    this.#readPosition += bytesRead;
    if (this.#readPosition === this.#writePosition) {
      // Drained: start over at the file's beginning so it does not grow without end.
      this.#readPosition = 0;
      this.#writePosition = 0;
    }
    return buffer.subarray(0, bytesRead);
  }

  /** Drops everything and closes the temp file. */
  close(): void {
    this.#closed = true;
    this.#memory.length = 0;
    this.#memoryBytes = 0;
    this.#readPosition = this.#writePosition;
    const file = this.#file;
    this.#file = undefined;
    if (file !== undefined) {
      void this.#writes.then(() => file).then((handle) => handle.close()).catch(() => {});
    }
  }

  async #openFile(): Promise<FileHandle> {
    // Loaded here, by the few requests that spill: a CGI process, which starts per request, would
    // otherwise load fs/promises and os for every GET (docs/performance.md "CGI start-up").
    const [{ open, unlink }, { tmpdir }] = await Promise.all([import('node:fs/promises'), import('node:os')]);
    this.#whereTo = this.#directory ?? tmpdir();
    const path = join(this.#whereTo, `tsgi-body-${process.pid}-${++serial}`);
    const handle = await open(path, 'wx+', 0o600);
    await unlink(path);
    return handle;
  }
}
