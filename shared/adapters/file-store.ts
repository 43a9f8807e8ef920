// RawMailStore on a local directory (bucket = a subdirectory, key = a relative path): the benchmarks read raw
// mail from local disk through the same interface the S3 adapter implements.
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RawLocation } from '../index/schema';
import type { RawMailStore, StoredVersion } from '../ports';

export class FileRawMailStore implements RawMailStore {
  constructor(private readonly root: string) {}

  private path(location: RawLocation): string {
    const base = resolve(this.root, location.bucket);
    const path = resolve(base, location.key);
    if (!path.startsWith(`${base}${sep}`)) throw new Error(`key escapes the bucket: ${location.key}`);
    return path;
  }

  async read(location: RawLocation): Promise<AsyncIterable<Uint8Array>> {
    const path = this.path(location);
    // Small files (most mail) are read synchronously: five thread-pool round trips (stat, open, fstat, read,
    // close) cost far more than the read of 5 KB from the page cache, and the pool is zlib's too. This adapter
    // serves benchmarks and local tools, never a server. Large files are streamed.
    const { size } = statSync(path);
    if (size <= 1024 * 1024) {
      const bytes = readFileSync(path);
      return (async function* () {
        yield bytes;
      })();
    }
    return createReadStream(path, { highWaterMark: 64 * 1024 });
  }

  /** A directory keeps no versions: no version id. */
  async write(location: RawLocation, body: Uint8Array): Promise<StoredVersion> {
    const path = this.path(location);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, body);
    return {};
  }

  async upload(location: RawLocation, body: Readable): Promise<StoredVersion> {
    const path = this.path(location);
    await mkdir(dirname(path), { recursive: true });
    await pipeline(body, createWriteStream(path));
    return {};
  }

  async exists(location: RawLocation): Promise<boolean> {
    return stat(this.path(location)).then(
      () => true,
      () => false,
    );
  }

  async *list(
    bucket: string,
    prefix: string,
    startAfter?: string,
  ): AsyncIterable<{ key: string; size: number }> {
    const base = resolve(this.root, bucket);
    const walk = async function* (dir: string): AsyncGenerator<{ key: string; size: number }> {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) yield* walk(path);
        else {
          const key = relative(base, path).split(sep).join('/');
          if (key.startsWith(prefix) && (startAfter === undefined || key > startAfter))
            yield { key, size: (await stat(path)).size };
        }
      }
    };
    // Only the directory the prefix names is walked (a listing of the delivery log does not stat every message).
    yield* walk(join(base, prefix.slice(0, prefix.lastIndexOf('/') + 1)));
  }
}
