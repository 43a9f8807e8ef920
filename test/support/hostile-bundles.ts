// Hostile bundles, built in the test: a real export, repacked with one hostile change each.
import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { FileRawMailStore } from '../../shared/adapters/file-store';
import { MemoryMailIndex } from '../../shared/adapters/memory-index';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import { exportMailbox } from '../../shared/bundle/export';
import { exampleConfig } from './config';
import { makeMessage } from './messages';
import { receiveLikeSes } from './ses';

export interface PackedEntry {
  header: Partial<Header> & Pick<Header, 'name'>;
  /** The body, or a producer of chunks for large bodies (a manifest bomb). */
  body: Buffer | (() => AsyncIterable<Buffer>);
}

/** Exports three messages of alice@example.com into `dir`/good.tar.gz. */
export async function goodBundle(dir: string): Promise<string> {
  const store = new FileRawMailStore(join(dir, 'store'));
  const index = new MemoryMailIndex();
  const config = exampleConfig();
  let at = Date.parse('2024-05-01T10:00:00Z');
  const recipients = ['alice@example.com'];
  for (let i = 0; i < 3; i++) {
    at += 3_600_000;
    const raw = makeMessage({ subject: `message ${i}`, to: 'alice@example.com' });
    const { notification } = await receiveLikeSes(store, 'raw', raw, { recipients, timestamp: new Date(at) });
    await archiveReceivedMail(notification, { config, store, index });
  }
  const path = join(dir, 'good.tar.gz');
  await exportMailbox(
    { index, store },
    { mailbox: 'alice@example.com', format: 'maildir' },
    createWriteStream(path),
  );
  return path;
}

/** The entries of a bundle, in order, bodies in memory. */
export async function readEntries(bundle: string): Promise<PackedEntry[]> {
  const extract = tar.extract();
  const reading = pipeline(createReadStream(bundle), (await import('node:zlib')).createGunzip(), extract);
  const entries: PackedEntry[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    entries.push({ header: { ...entry.header }, body: Buffer.concat(chunks) });
  }
  await reading;
  return entries;
}

/** Packs `entries` into `path` as tar.gz (gzip level 1: bombs are large). */
export async function writeBundle(path: string, entries: PackedEntry[]): Promise<string> {
  const pack = tar.pack();
  const writing = pipeline(pack, createGzip({ level: 1 }), createWriteStream(path));
  for (const { header, body } of entries) {
    if (Buffer.isBuffer(body)) {
      const hasBody = header.type === undefined || header.type === 'file';
      await new Promise<void>((resolve, reject) => {
        const done = (error?: Error | null) => (error ? reject(error) : resolve());
        if (hasBody) pack.entry({ ...header, size: body.length }, body, done);
        else pack.entry(header, done);
      });
    } else {
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
        pipeline(Readable.from(body()), sink).catch(reject);
      });
    }
  }
  pack.finalize();
  await writing;
  return path;
}

/** The first message file of the bundle (Maildir/cur/...). */
export function firstMessage(entries: PackedEntry[]): PackedEntry {
  const entry = entries.find((e) => /^Maildir\/cur\/[^/]+$/.test(e.header.name));
  if (!entry) throw new Error('the good bundle has no message in Maildir/cur');
  return entry;
}
