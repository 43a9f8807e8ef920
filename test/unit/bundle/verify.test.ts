// A damaged bundle is described in plain words, with what can still be recovered: never zlib's or tar's jargon.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { verifyBundle } from '../../../shared/bundle/verify';

/** A real tar.gz of `count` files of 20 KB of random-ish text each (so gzip cannot shrink them away). */
async function tarGz(count: number): Promise<Buffer> {
  const pack = tar.pack();
  for (let i = 0; i < count; i += 1) {
    let text = '';
    for (let j = 0; text.length < 20_000; j += 1)
      text += createHash('sha256').update(`${i}-${j}`).digest('hex');
    pack.entry({ name: `Maildir/cur/${i}.msg:2,` }, text);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

const verify = (bytes: Buffer) => verifyBundle(Readable.from([bytes]));

describe('verify on a damaged bundle', () => {
  it('calls a cut-off bundle truncated and counts the files still readable before the cut', async () => {
    const bundle = await tarGz(10);
    const report = await verify(bundle.subarray(0, Math.floor(bundle.length * 0.6)));
    expect(report.ok).toBe(false);
    const [first] = report.errors;
    expect(first).toMatch(/^cannot read the bundle: truncated gzip file: it ends before the archive does/);
    expect(first).toMatch(/The \d files before the damage read intact: "tar -xzf" extracts them/);
    expect(first).not.toMatch(/unexpected end of file/);
  });

  it('ends with an answer wherever the bundle is cut (the entry being read when the stream gives out fails too)', async () => {
    const bundle = await tarGz(10);
    const settle = (bytes: Buffer) =>
      Promise.race([
        verify(bytes).then((report) => report),
        new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000)),
      ]);
    for (let step = 1; step < 40; step += 1) {
      const cut = Math.floor((bundle.length * step) / 40);
      const report = await settle(bundle.subarray(0, cut));
      expect(report, `cut at ${cut} of ${bundle.length} bytes`).not.toBe('hung');
      if (report !== 'hung') expect(report.ok, `cut at ${cut}`).toBe(false);
    }
  });

  it('calls corrupt compressed data damaged, not "invalid distance too far back"', async () => {
    const bundle = Buffer.from(await tarGz(10));
    for (let i = Math.floor(bundle.length / 2); i < bundle.length / 2 + 64; i += 1)
      bundle[i] = (bundle[i] ?? 0) ^ 0xff;
    const report = await verify(bundle);
    expect(report.ok).toBe(false);
    // node-tar may first report the tar headers it could not make sense of; the last line says what it is.
    expect(report.errors.at(-1)).toMatch(/^cannot read the bundle: (damaged gzip file|damaged tar archive)/);
    expect(report.errors.join('\n')).not.toMatch(
      /invalid (distance|block)|incorrect header check|unexpected end/,
    );
  });
});
