// An in-memory WriteOnceStore for tests of the transparency log: the same contract as the S3 and directory
// adapters (create once, the same bytes again is 'exists', other bytes throw LogOverwriteError), with a hook to
// fail a chosen write (a seal stopped half-way).
import type { WriteOnceStore } from '../../shared/ports';
import { LogOverwriteError } from '../../shared/transparency/log-files';

export class MemoryWriteOnceStore implements WriteOnceStore {
  readonly files = new Map<string, Buffer>();
  /** Called before each write; throwing fails it. */
  beforeWrite?: (path: string) => void;

  async get(path: string): Promise<Buffer | undefined> {
    return this.files.get(path);
  }

  async putOnce(path: string, bytes: Buffer): Promise<'created' | 'exists'> {
    this.beforeWrite?.(path);
    const there = this.files.get(path);
    if (there) {
      if (there.equals(bytes)) return 'exists';
      throw new LogOverwriteError(path);
    }
    this.files.set(path, Buffer.from(bytes));
    return 'created';
  }

  async *list(prefix: string): AsyncIterable<string> {
    yield* [...this.files.keys()].filter((path) => path.startsWith(prefix)).sort();
  }
}
