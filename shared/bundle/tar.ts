// Bundle plumbing: tar entries -> gzip -> a sink, with the sha256 and size of what reaches the sink, and spool
// files for entries whose size must be known before they are written. The exporter and the join write through it.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import {
  type Duplex,
  PassThrough,
  type Readable,
  Transform,
  type TransformCallback,
  type Writable,
} from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';

/**
 * tar -> gzip -> sink, with the sha256 and size of what reaches the sink. With `encryptor` (shared/bundle/age.ts),
 * tar -> gzip -> age -> sink: the sha256 and size are then those of the encrypted file, what a download is
 * checked against.
 */
export function bundleWriter(sink: Writable, encryptor?: Duplex) {
  // Buffers sized so that small messages flow through without a round trip to zlib's thread per entry.
  const pack = tar.pack({ highWaterMark: 1024 * 1024 } as object);
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new PassThrough();
  tap.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  const gzip = createGzip({ chunkSize: 256 * 1024 });
  const written = encryptor
    ? pipeline(pack as unknown as Readable, new Coalesce(), gzip, encryptor, tap, sink)
    : pipeline(pack as unknown as Readable, new Coalesce(), gzip, tap, sink);
  written.catch(() => undefined);
  return { pack, written, digest: () => ({ sha256: hash.digest('hex'), bytes }) };
}

/**
 * tar-stream emits a 512-byte header, the body and the padding of every entry as separate chunks; handed one by
 * one to zlib (a thread-pool round trip each) that is 4x slower than gzip itself. Gathered into 256 KB first.
 */
class Coalesce extends Transform {
  private parts: Buffer[] = [];
  private size = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.parts.push(chunk);
    this.size += chunk.length;
    if (this.size < 256 * 1024) {
      callback();
      return;
    }
    const gathered = Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    callback(null, gathered);
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.size ? Buffer.concat(this.parts) : undefined);
  }
}

/** Lines appended to a temporary file (in 64 KB writes), counted in bytes, read back as a tar entry. */
export class Spool {
  private readonly out: WriteStream;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  bytes = 0;
  private closed?: Promise<void>;
  /** The stream's error (it cannot be opened, the disk is full): every later append and close rejects with it. */
  private failed?: Error;

  constructor(readonly path: string) {
    this.out = createWriteStream(path);
    // Without a listener, a stream error is an uncaught exception that ends the process with a stack trace.
    this.out.on('error', (error) => {
      this.failed ??= error;
    });
  }

  append(text: string): Promise<void> {
    return this.appendBytes(Buffer.from(text));
  }

  appendBytes(bytes: Buffer): Promise<void> {
    this.bytes += bytes.length;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    return this.pendingBytes >= 64 * 1024 ? this.flush() : Promise.resolve();
  }

  private flush(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.pendingBytes === 0) return Promise.resolve();
    const chunk = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    if (this.out.write(chunk)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (error?: Error) => {
        this.out.off('drain', done);
        this.out.off('error', done);
        if (error) reject(error);
        else resolve();
      };
      this.out.once('drain', done);
      this.out.once('error', done);
    });
  }

  close(): Promise<void> {
    this.closed ??= this.flush().then(
      () =>
        new Promise((resolve, reject) => {
          if (this.failed) reject(this.failed);
          else this.out.end((e?: Error | null) => (e ? reject(e) : resolve()));
        }),
    );
    return this.closed;
  }

  read(): AsyncIterable<Buffer> {
    return createReadStream(this.path);
  }
}

/** The largest mtime tar-stream's header encoder keeps (it writes the seconds through a signed 32-bit `| 0`). */
const MAX_HEADER_MTIME = 2 ** 31 - 1;

/**
 * Adds one entry, honouring backpressure, and resolves when tar-stream has taken all of it.
 * An mtime outside 1970-01-01 .. 2038-01-19 (1958 from an import of old mail, 2300 from a bad clock) goes in a
 * POSIX pax `mtime` record (POSIX.1-2008 pax, "mtime": decimal seconds, a leading minus allowed), which GNU tar
 * and bsdtar both apply; the ustar header then carries 0 or the largest value it keeps. Written into the ustar
 * field itself, tar-stream's octal of a negative number ("0-5366...") made GNU tar warn "Archive contains
 * obsolescent base-64 headers" (or fail, exit 2, "numeric time_t value expected") and bsdtar refuse an archive
 * that starts with such an entry ("Unrecognized archive format", exit 1); a date from 2038 on wrapped (2040 as
 * 1904).
 */
export function addEntry(
  pack: tar.Pack,
  header: Partial<tar.Header> & { name: string },
  body?: string | Buffer | AsyncIterable<Buffer>,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const content = typeof body === 'string' ? Buffer.from(body) : body;
    const size =
      header.type === 'directory' ? 0 : (header.size ?? (Buffer.isBuffer(content) ? content.length : 0));
    const secs = header.mtime ? Math.floor(header.mtime.getTime() / 1000) : 0;
    const pax =
      secs < 0 || secs > MAX_HEADER_MTIME
        ? {
            pax: { ...(header.pax ?? {}), mtime: String(secs) },
            mtime: new Date((secs < 0 ? 0 : MAX_HEADER_MTIME) * 1000),
          }
        : {};
    const entry = pack.entry({ uid: 0, gid: 0, ...header, ...pax, size }, (error) =>
      error ? reject(error) : resolve(),
    );
    // A body that fails mid-stream destroys the entry with its error, which the entry then emits: without a
    // listener that was an uncaught exception (the CLI's export died with a stack trace and left its partial
    // file). The error is this promise's rejection.
    entry.on('error', (error: Error) => reject(error));
    if (content === undefined || header.type === 'directory') {
      entry.end(Buffer.alloc(0));
      return;
    }
    if (Buffer.isBuffer(content)) {
      entry.end(content);
      return;
    }
    (async () => {
      for await (const chunk of content) {
        if (!entry.write(chunk)) await new Promise<void>((r) => entry.once('drain', () => r()));
      }
      entry.end(Buffer.alloc(0));
    })().catch((error: Error) => {
      entry.destroy(error);
      reject(error);
    });
  });
}
