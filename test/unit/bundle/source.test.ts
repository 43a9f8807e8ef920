// What a bundle path is, and how its bytes are opened (shared/bundle/source.ts), on real files: a directory is
// packed by node-tar with its modes and mtimes, so verify's checks see what a bundle file would hold; an age file
// is opened with its keys once, when resolved, and decrypted as it is read.
import {
  createReadStream,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { create } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { AgePayloadError, encryptingStream, newIdentity } from '../../../shared/bundle/age';
import { DEFAULT_BUNDLE_LIMITS, readBundleEntries } from '../../../shared/bundle/entries';
import { BundleSourceError, openBundle, resolveBundleSource } from '../../../shared/bundle/source';

const work = mkdtempSync(join(tmpdir(), 'mail-archiver-bundle-source-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** An unpacked bundle's shape: manifest.json and Maildir/cur/<one file>, the file dated 2001-09-09. */
function unpackedBundle(name: string): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'Maildir', 'cur'), { recursive: true });
  writeFileSync(join(dir, 'manifest.json'), '{}');
  const message = join(dir, 'Maildir', 'cur', '1000000000.a.host:2,S');
  writeFileSync(message, 'Subject: x\r\n\r\nbody\r\n', { mode: 0o600 });
  utimesSync(message, 1_000_000_000, 1_000_000_000);
  return dir;
}

async function entriesOf(source: Parameters<typeof openBundle>[0]) {
  const entries: { path: string; type: string; mtime?: number; mode?: number }[] = [];
  for await (const entry of readBundleEntries(openBundle(source), DEFAULT_BUNDLE_LIMITS, [])) {
    entries.push({
      path: entry.path.replace(/\/$/, ''),
      type: entry.type,
      mtime: entry.mtime ? Math.floor(entry.mtime.getTime() / 1000) : undefined,
      mode: entry.mode,
    });
    entry.resume();
  }
  return entries;
}

describe('resolveBundleSource', () => {
  it('names a bundle file by its first bytes: gzip or tar, anything else is no bundle', async () => {
    const dir = unpackedBundle('for-files');
    const gzip = join(work, 'bundle.tar.gz');
    const plain = join(work, 'bundle.tar');
    await create({ cwd: dir, gzip: true, file: gzip }, ['manifest.json', 'Maildir']);
    await create({ cwd: dir, file: plain }, ['manifest.json', 'Maildir']);
    expect(await resolveBundleSource(gzip)).toEqual({ kind: 'file', path: gzip });
    expect(await resolveBundleSource(plain)).toEqual({ kind: 'file', path: plain });
    const text = join(work, 'notes.txt');
    writeFileSync(text, 'not a bundle\n'.repeat(100));
    const refused = await resolveBundleSource(text).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BundleSourceError);
    expect((refused as BundleSourceError).message).toBe(
      `${text} is not a bundle: it is neither gzip, tar nor age data`,
    );
    expect((refused as BundleSourceError).hint).toMatch(/mail-archiver export/);
  });

  it('says a missing path does not exist', async () => {
    await expect(resolveBundleSource(join(work, 'nothing.tar.gz'))).rejects.toThrow(
      /nothing.tar.gz does not exist/,
    );
  });

  it('names an unpacked bundle by its directory, or by its Maildir/', async () => {
    const dir = unpackedBundle('unpacked');
    expect(await resolveBundleSource(dir)).toEqual({ kind: 'directory', path: dir });
    expect(await resolveBundleSource(join(dir, 'Maildir'))).toEqual({ kind: 'directory', path: dir });
  });

  it('refuses any other directory, unless a maildir is asked for', async () => {
    const other = join(work, 'just-a-maildir');
    mkdirSync(join(other, 'cur'), { recursive: true });
    await expect(resolveBundleSource(other)).rejects.toThrow(
      /neither a bundle file nor an unpacked bundle \(a directory with manifest.json and Maildir\/\)/,
    );
    expect(await resolveBundleSource(other, { maildir: true })).toEqual({ kind: 'maildir', path: other });
  });
});

describe('an age-encrypted bundle file', () => {
  async function encryptedBundle(name: string, to: Parameters<typeof encryptingStream>[0]) {
    const dir = unpackedBundle(name);
    const plain = join(work, `${name}.tar.gz`);
    await create({ cwd: dir, gzip: true, file: plain, portable: false }, ['manifest.json', 'Maildir']);
    const file = `${plain}.age`;
    await pipeline(createReadStream(plain), await encryptingStream(to), createWriteStream(file));
    return file;
  }

  it('is opened with its keys when resolved, and decrypted as openBundle reads it', async () => {
    const [a, b] = await Promise.all([newIdentity(), newIdentity()]);
    const file = await encryptedBundle('encrypted', { recipients: [a.recipient, b.recipient] });
    const source = await resolveBundleSource(file, {
      keys: { identities: [{ key: b.identity, source: 'b.txt' }] },
    });
    expect(source).toMatchObject({ kind: 'file', path: file, age: { identities: [{ source: 'b.txt' }] } });
    expect((await entriesOf(source)).map((e) => e.path)).toEqual([
      'manifest.json',
      'Maildir',
      'Maildir/cur',
      'Maildir/cur/1000000000.a.host:2,S',
    ]);
  });

  it('refuses a wrong key, no key, and an identity for a passphrase bundle, naming the file', async () => {
    const [a, wrong] = await Promise.all([newIdentity(), newIdentity()]);
    const file = await encryptedBundle('for-one', { recipients: [a.recipient] });
    const refused = await resolveBundleSource(file, {
      keys: { identities: [{ key: wrong.identity, source: 'wrong.txt' }] },
    }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BundleSourceError);
    expect((refused as Error).message).toBe(
      `${file}: no identity matched; the bundle is for 1 recipient of type X25519 (tried 1 identity from wrong.txt)`,
    );
    await expect(resolveBundleSource(file)).rejects.toThrow(
      /give the identity file of one of them with --identity/,
    );
    const locked = await encryptedBundle('passphrase', { passphrase: 'tide-lamp', workFactor: 10 });
    await expect(
      resolveBundleSource(locked, { keys: { identities: [{ key: a.identity, source: 'a.txt' }] } }),
    ).rejects.toThrow(/encrypted with a passphrase, not to a recipient: an identity file cannot open it/);
  });

  it('asks for a passphrase once, however often the bundle is opened', async () => {
    const file = await encryptedBundle('asked-once', { passphrase: 'tide-lamp', workFactor: 10 });
    let asked = 0;
    const source = await resolveBundleSource(file, {
      keys: {
        identities: [],
        passphrase: async () => {
          asked += 1;
          return 'tide-lamp';
        },
      },
    });
    expect(await entriesOf(source)).toHaveLength(4);
    expect(await entriesOf(source)).toHaveLength(4);
    expect(asked).toBe(1);
  });

  it('fails the stream, in plain words, where a cut-off file ends', async () => {
    const a = await newIdentity();
    const file = await encryptedBundle('cut', { recipients: [a.recipient] });
    const source = await resolveBundleSource(file, {
      keys: { identities: [{ key: a.identity, source: 'a' }] },
    });
    writeFileSync(file, readFileSync(file).subarray(0, -10));
    const failed = await entriesOf(source).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(AgePayloadError);
    expect((failed as Error).message).toMatch(/^truncated after 0\.0 MiB intact/);
  });

  it('says what an age file holds when it decrypts to no bundle: other data, nothing, another age file', async () => {
    const a = await newIdentity();
    const keys = { identities: [{ key: a.identity, source: 'a.txt' }] };
    const encrypted = async (name: string, content: Buffer) => {
      const file = join(work, name);
      await pipeline(
        Readable.from([content]),
        await encryptingStream({ recipients: [a.recipient] }),
        createWriteStream(file),
      );
      return file;
    };
    const text = await encrypted('services.age', Buffer.from('ftp 21/tcp\n'.repeat(500)));
    const refused = (await resolveBundleSource(text, { keys }).catch((e: unknown) => e)) as BundleSourceError;
    expect(refused).toBeInstanceOf(BundleSourceError);
    expect(refused.message).toBe(
      `${text} decrypts, but what it holds is not a bundle: it is neither gzip nor tar data`,
    );
    expect(refused.hint).toMatch(/mail-archiver export/);
    const empty = await encrypted('empty.age', Buffer.alloc(0));
    await expect(resolveBundleSource(empty, { keys })).rejects.toThrow(
      `${empty} decrypts, but holds nothing (0 bytes): an empty file was encrypted, not a bundle`,
    );
    const inner = await encryptedBundle('inner', { recipients: [a.recipient] });
    const twice = await encrypted('twice.age', readFileSync(inner));
    await expect(resolveBundleSource(twice, { keys })).rejects.toThrow(
      `${twice} decrypts to another age file (encrypted twice?)`,
    );
  });

  it('says a file cut inside the age version line is truncated, and an empty file is empty', async () => {
    const cut = join(work, 'cut-in-version.age');
    writeFileSync(cut, 'age-encryption.org/');
    await expect(resolveBundleSource(cut)).rejects.toThrow(
      `${cut}: truncated in its age header (the file ends after 19 bytes, before the header does)`,
    );
    const empty = join(work, 'empty.tar.gz');
    writeFileSync(empty, '');
    await expect(resolveBundleSource(empty)).rejects.toThrow(`${empty} is empty (0 bytes): not a bundle`);
  });

  it('refuses an ASCII-armored age file with a way out', async () => {
    const armored = join(work, 'armored.age');
    writeFileSync(armored, '-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n');
    const refused = (await resolveBundleSource(armored).catch((e: unknown) => e)) as BundleSourceError;
    expect(refused.message).toMatch(/ASCII-armored age file/);
    expect(refused.hint).toMatch(/age -d/);
  });
});

describe('openBundle', () => {
  it('packs a directory with node-tar: every entry, with its mode and mtime', async () => {
    const dir = unpackedBundle('packed');
    const entries = await entriesOf({ kind: 'directory', path: dir });
    expect(entries.map((e) => e.path).sort()).toEqual([
      'Maildir',
      'Maildir/cur',
      'Maildir/cur/1000000000.a.host:2,S',
      'manifest.json',
    ]);
    const message = entries.find((e) => e.type === 'File' && e.path.startsWith('Maildir/cur/'));
    expect(message?.mtime).toBe(1_000_000_000);
    expect((message?.mode ?? 0) & 0o777).toBe(0o600);
  });

  it('reads a bundle file as it is', async () => {
    const dir = unpackedBundle('as-file');
    const file = join(work, 'as-file.tar.gz');
    await create({ cwd: dir, gzip: true, file, portable: false }, ['manifest.json', 'Maildir']);
    expect((await entriesOf({ kind: 'file', path: file })).map((e) => e.path)).toEqual([
      'manifest.json',
      'Maildir',
      'Maildir/cur',
      'Maildir/cur/1000000000.a.host:2,S',
    ]);
  });

  it('fails the stream when the directory cannot be read', async () => {
    await expect(entriesOf({ kind: 'directory', path: join(work, 'gone') })).rejects.toThrow(/ENOENT/);
  });
});
