// What a bundle path is, and how its bytes are opened (shared/bundle/source.ts), on real files: a directory is
// packed by node-tar with its modes and mtimes, so verify's checks see what a bundle file would hold.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_BUNDLE_LIMITS, readBundleEntries } from '../../shared/bundle/entries';
import { BundleSourceError, openBundle, resolveBundleSource } from '../../shared/bundle/source';

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
      `${text} is not a bundle: it is neither gzip nor tar data`,
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
