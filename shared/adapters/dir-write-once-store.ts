// WriteOnceStore on a directory: a copy of the transparency log kept beside a replica or unpacked from a bundle.
// A file is created with O_EXCL (flag 'wx'), written under a temporary name first and linked into place, so a
// reader never sees half a file and an existing one is never replaced.
import { randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { WriteOnceStore } from '../ports';
import { LogOverwriteError } from '../transparency/log-files';
import { readIfExists } from './read-if-exists';

export class DirectoryWriteOnceStore implements WriteOnceStore {
  constructor(readonly root: string) {}

  private path(path: string): string {
    const base = resolve(this.root);
    const full = resolve(base, path);
    if (!full.startsWith(`${base}${sep}`)) throw new Error(`a log path escapes its directory: ${path}`);
    return full;
  }

  async get(path: string): Promise<Buffer | undefined> {
    return readIfExists(this.path(path));
  }

  async putOnce(path: string, bytes: Buffer): Promise<'created' | 'exists'> {
    const full = this.path(path);
    await mkdir(dirname(full), { recursive: true });
    const temporary = `${full}.${randomBytes(6).toString('hex')}.partial`;
    try {
      // Inside the try: a write that fails part-way (a full disk) leaves no partial file behind.
      await writeFile(temporary, bytes, { flag: 'wx' });
      // link() fails with EEXIST instead of replacing, unlike rename().
      await link(temporary, full);
      return 'created';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if ((await readFile(full)).equals(bytes)) return 'exists';
      throw new LogOverwriteError(path);
    } finally {
      await rm(temporary, { force: true });
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    const base = resolve(this.root);
    const paths: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.isFile() && !entry.name.endsWith('.partial')) {
          const path = relative(base, full).split(sep).join('/');
          if (path.startsWith(prefix)) paths.push(path);
        }
      }
    };
    // Walk from the prefix's directory only (the log's tiles are most of its files).
    const slash = prefix.lastIndexOf('/');
    await walk(slash > 0 ? this.path(prefix.slice(0, slash)) : base);
    yield* paths.sort();
  }
}
