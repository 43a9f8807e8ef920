// Write-once storage of the transparency log on a directory (shared/adapters/dir-write-once-store.ts) and the local
// signing key file (shared/adapters/note-key-file.ts): a file is created once, the same bytes again are a no-op,
// other bytes are refused; the key file is created 0600 and refused when others can read it.
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryWriteOnceStore } from '../../../shared/adapters/dir-write-once-store';
import { KeyFileError, openKeyFile } from '../../../shared/adapters/note-key-file';
import { LogOverwriteError } from '../../../shared/transparency/log-files';
import { signNote, verifyNote } from '../../../shared/transparency/note';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'write-once-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a directory as the write-once store', () => {
  it('creates once, takes the same bytes as done, refuses other bytes', async () => {
    const store = new DirectoryWriteOnceStore(dir);
    expect(await store.putOnce('tile/0/000.p/1', Buffer.from('a'))).toBe('created');
    expect(await store.putOnce('tile/0/000.p/1', Buffer.from('a'))).toBe('exists');
    await expect(store.putOnce('tile/0/000.p/1', Buffer.from('b'))).rejects.toThrow(LogOverwriteError);
    expect((await store.get('tile/0/000.p/1'))?.toString()).toBe('a');
    expect(await store.get('tile/0/001')).toBeUndefined();
    await store.putOnce('checkpoints/000000000001', Buffer.from('c'));
    const listed: string[] = [];
    for await (const path of store.list('')) listed.push(path);
    expect(listed).toEqual(['checkpoints/000000000001', 'tile/0/000.p/1']);
    await expect(store.putOnce('../escape', Buffer.from('x'))).rejects.toThrow(/escapes/);
  });

  it('two writers racing for one path: one creates, the other finds its own bytes or is refused', async () => {
    const store = new DirectoryWriteOnceStore(dir);
    const same = await Promise.all(Array.from({ length: 8 }, () => store.putOnce('x', Buffer.from('same'))));
    expect(same.filter((r) => r === 'created')).toHaveLength(1);
    const other = await Promise.allSettled([
      store.putOnce('y', Buffer.from('1')),
      store.putOnce('y', Buffer.from('2')),
    ]);
    expect(other.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(other.filter((r) => r.status === 'rejected')).toHaveLength(1);
  });
});

describe('the local signing key file', () => {
  it('is created with mode 0600 on first use and opened again after', async () => {
    const path = join(dir, 'transparency', 'log.key');
    const first = await openKeyFile(path, 'example.com/mail-archiver/Local');
    expect(first.created).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await readFile(path, 'utf8')).startsWith('PRIVATE+KEY+example.com/mail-archiver/Local+')).toBe(
      true,
    );
    const again = await openKeyFile(path, 'example.com/mail-archiver/Local');
    expect(again.created).toBe(false);
    expect(again.signer.verifier).toEqual(first.signer.verifier);
    expect(verifyNote(await signNote('hello\n', again.signer), first.signer.verifier)).toBe('hello\n');
  });

  it('is refused when others can read it, or when it is of another log', async () => {
    const path = join(dir, 'log.key');
    await openKeyFile(path, 'example.com/a');
    await chmod(path, 0o644);
    await expect(openKeyFile(path, 'example.com/a')).rejects.toThrow(
      /can be read by others \(mode 644\): run chmod 600/,
    );
    await chmod(path, 0o600);
    await expect(openKeyFile(path, 'example.com/b')).rejects.toThrow(/key of the log example.com\/a/);
    await writeFile(path, 'not a key\n', { mode: 0o600 });
    await expect(openKeyFile(path, 'example.com/a')).rejects.toThrow(KeyFileError);
  });
});
