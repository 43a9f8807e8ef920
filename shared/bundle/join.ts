// Joining the parts of a split export into one bundle.
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { asError } from '../errors';
import { type BundleEncryption, encryptingStream } from './age';
import { TRANSPARENCY_ENTRY } from './entries';
import { bundleReadme } from './maildir';
import { type BundleManifest, parseBundleManifest } from './manifest';
import { addEntry, bundleWriter } from './tar';

/** Thrown when the parts of an export cannot be joined into one bundle. */
export class BundleJoinError extends Error {
  override name = 'BundleJoinError';
}

/**
 * Joins the parts of a split export into one bundle: every entry of every part in order, one merged manifest,
 * and the transparency files once: the checkpoint, key and time-stamp every part carries (the same: the parts
 * prove against the checkpoint sealed by the export's start), and one proofs.jsonl with every part's message
 * lines after the header. Extracting the joined bundle gives the same tree as extracting all parts, but for
 * proofs.jsonl. The parts are plain tar.gz; with `encryption` the joined bundle is encrypted with age as it is
 * written (its sha256 is then the age file's). Throws BundleJoinError when the parts carry different
 * checkpoints, or some carry none.
 */
export async function joinBundles(
  parts: (() => Promise<Readable>)[],
  sink: Writable,
  encryption?: BundleEncryption,
): Promise<{ sha256: string; bytes: number; manifest: BundleManifest }> {
  const { pack, written, digest } = bundleWriter(
    sink,
    encryption ? await encryptingStream(encryption) : undefined,
  );
  const manifests: BundleManifest[] = [];
  const transparency = new Map<string, Buffer>();
  const proofLines: string[] = [];
  let partsWithProofs = 0;
  try {
    for (const open of parts) {
      const extract = tar.extract();
      const reading = pipeline(await open(), createGunzip(), extract as unknown as NodeJS.WritableStream);
      reading.catch(() => undefined);
      for await (const entry of extract) {
        const { header } = entry;
        if (header.name === 'manifest.json') {
          const chunks: Buffer[] = [];
          for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
          manifests.push(parseBundleManifest(Buffer.concat(chunks).toString('utf8')));
        } else if (header.name === 'README.txt') {
          entry.resume();
        } else if (TRANSPARENCY_ENTRY.test(header.name)) {
          const chunks: Buffer[] = [];
          for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
          const bytes = Buffer.concat(chunks);
          if (header.name.endsWith('proofs.jsonl')) {
            partsWithProofs += 1;
            const [head = '', ...lines] = bytes.toString('utf8').split(/(?<=\n)/);
            if (proofLines.length === 0) proofLines.push(head);
            else if (proofLines[0] !== head)
              throw new BundleJoinError('the parts of the export prove against different checkpoints');
            proofLines.push(...lines);
            continue;
          }
          const seen = transparency.get(header.name);
          if (seen && !seen.equals(bytes))
            throw new BundleJoinError(`the parts of the export carry different ${header.name} files`);
          transparency.set(header.name, bytes);
        } else {
          await addEntry(pack, { ...header, name: header.name }, entry as AsyncIterable<Buffer>);
        }
      }
      await reading;
    }
    const first = manifests[0];
    if (!first) throw new Error('no part had a manifest');
    if (partsWithProofs !== 0 && partsWithProofs !== manifests.length)
      throw new BundleJoinError('some parts of the export carry transparency proofs and some do not');
    if (proofLines.length > 0)
      transparency.set('transparency/proofs.jsonl', Buffer.from(proofLines.join('')));
    for (const [name, bytes] of [...transparency].sort(([a], [b]) => (a < b ? -1 : 1)))
      await addEntry(
        pack,
        { name, size: bytes.length, mtime: new Date(first.createdAt), mode: 0o600 },
        bytes,
      );
    const folderOrder = new Map(first.folders.map((f, i) => [f.name, i]));
    const { part: _part, ...base } = first;
    const manifest: BundleManifest = {
      ...base,
      messages: manifests
        .flatMap((m) => m.messages)
        .sort((a, b) => (folderOrder.get(a.folder) ?? 0) - (folderOrder.get(b.folder) ?? 0) || a.uid - b.uid),
    };
    await addEntry(
      pack,
      { name: 'manifest.json', mtime: new Date(first.createdAt), mode: 0o600 },
      `${JSON.stringify(manifest, null, 1)}\n`,
    );
    await addEntry(
      pack,
      { name: 'README.txt', mtime: new Date(first.createdAt), mode: 0o600 },
      bundleReadme(first.mailbox),
    );
    pack.finalize();
    await written;
    return { ...digest(), manifest };
  } catch (error) {
    pack.destroy(asError(error));
    throw error;
  }
}
