// The encryption rows of `npm run bench` (issue 27): the exporter encrypting with age beside the same exporter
// writing a plain tar.gz, in the same run; and verify's peak memory on the 30,000-message bundle, decrypting
// it as it reads beside reading it plain, each in fresh processes.
import { createReadStream, createWriteStream, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type BundleEncryption, encryptingStream, newIdentity } from '../shared/bundle/age';
import { type ExportDeps, exportMailbox } from '../shared/bundle/export';
import type { BenchRow } from './bench/row';

const MB = 1024 * 1024;

export type { BenchRow };

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/**
 * Encrypted export throughput against plain export over the same mailbox (`rawBytes` of raw mail): three runs of
 * each, interleaved so that both see the same machine, medians compared. Target: at least 0.8x.
 */
export async function encryptedExportBench(
  work: string,
  deps: ExportDeps,
  rawBytes: number,
): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const [daily, paper] = [await newIdentity(), await newIdentity()];
  const encryption: BundleEncryption = { recipients: [daily.recipient, paper.recipient] };
  const times = { plain: [] as number[], encrypted: [] as number[] };
  // CPU seconds of the whole process (the exporter's thread and zlib's pool): steadier than wall time on a
  // machine shared with other work.
  const cpu = { plain: [] as number[], encrypted: [] as number[] };
  const sizes = { plain: 0, encrypted: 0 };
  for (let run = 0; run < 3; run++) {
    for (const kind of ['plain', 'encrypted'] as const) {
      const file = join(work, `bundle-${kind}.tar.gz${kind === 'encrypted' ? '.age' : ''}`);
      const started = performance.now();
      const cpuBefore = process.cpuUsage();
      await exportMailbox(
        deps,
        { mailbox: 'alice@example.com', format: 'maildir', ...(kind === 'encrypted' ? { encryption } : {}) },
        createWriteStream(file),
      );
      times[kind].push((performance.now() - started) / 1000);
      const used = process.cpuUsage(cpuBefore);
      cpu[kind].push((used.user + used.system) / 1e6);
      sizes[kind] = statSync(file).size;
    }
  }
  const mbs = (t: number) => rawBytes / MB / t;
  const plain = mbs(median(times.plain));
  const encrypted = mbs(median(times.encrypted));
  return {
    rows: [
      {
        metric: 'encrypted export (age, 2 X25519 recipients), raw objects on local disk (median of 3)',
        value: encrypted,
        unit: 'MB/s',
        baseline: { name: 'plain export, same run', value: plain },
        target: '>= 0.8x plain export',
        met: encrypted / plain >= 0.8,
      },
      { metric: 'encrypted export / plain export', value: encrypted / plain, unit: 'x' },
      {
        metric: 'encrypted export / plain export, by CPU time (median of 3)',
        value: median(cpu.plain) / median(cpu.encrypted),
        unit: 'x',
      },
    ],
    notes: [
      `Encrypted export: ${times.encrypted.map((t) => t.toFixed(2)).join(' / ')} s (CPU ${cpu.encrypted.map((t) => t.toFixed(2)).join(' / ')} s) against plain ${times.plain.map((t) => t.toFixed(2)).join(' / ')} s (CPU ${cpu.plain.map((t) => t.toFixed(2)).join(' / ')} s) for ${(rawBytes / MB).toFixed(1)} MB of raw mail; the .age file is ${sizes.encrypted - sizes.plain} bytes larger than the tar.gz (${((sizes.encrypted / sizes.plain - 1) * 100).toFixed(2)}%: a header, and 16 bytes per 64 KiB chunk). age's ChaCha20-Poly1305 (pure JavaScript, @noble/ciphers) runs on the exporter's thread over the gzip output, a third to a quarter of the raw bytes.`,
    ],
  };
}

/**
 * verify's peak RSS on `bundle` (the 30,000-message export), plain and decrypting an age copy of it, each the
 * median of three fresh processes (`child` runs scripts/bench-child.ts). Target: within 10% of plain verify.
 */
export async function decryptingVerifyBench(
  work: string,
  bundle: string,
  child: (args: string[]) => Promise<Record<string, number>>,
): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const key = await newIdentity();
  const keyFile = join(work, 'verify-key.txt');
  writeFileSync(keyFile, key.fileText, { mode: 0o600 });
  const encrypted = `${bundle}.age`;
  await pipeline(
    createReadStream(bundle),
    await encryptingStream({ recipients: [key.recipient] }),
    createWriteStream(encrypted),
  );
  const runs = { plain: [] as Record<string, number>[], encrypted: [] as Record<string, number>[] };
  for (let i = 0; i < 3; i++) {
    runs.plain.push(await child(['verify-memory', bundle]));
    runs.encrypted.push(await child(['verify-memory', encrypted, keyFile]));
  }
  const pick = (list: Record<string, number>[], field: string) => median(list.map((r) => r[field] ?? 0));
  const plainPeak = pick(runs.plain, 'verifyPeakMb');
  const encryptedPeak = pick(runs.encrypted, 'verifyPeakMb');
  const messages = runs.plain[0]?.messages ?? 0;
  return {
    rows: [
      {
        metric: `verify peak RSS, ${messages.toLocaleString('en')}-message bundle, decrypting age as it reads (median of 3)`,
        value: encryptedPeak,
        unit: 'MB',
        baseline: { name: 'plain verify of the same bundle', value: plainPeak },
        target: 'within 10% of plain verify',
        met: encryptedPeak <= plainPeak * 1.1,
      },
    ],
    notes: [
      `Verify of the ${messages.toLocaleString('en')}-message bundle (${(statSync(bundle).size / MB).toFixed(1)} MB): peak RSS ${runs.plain.map((r) => (r.verifyPeakMb ?? 0).toFixed(0)).join(' / ')} MB plain, ${runs.encrypted.map((r) => (r.verifyPeakMb ?? 0).toFixed(0)).join(' / ')} MB decrypting; ${pick(runs.plain, 'seconds').toFixed(1)} s plain, ${pick(runs.encrypted, 'seconds').toFixed(1)} s decrypting (medians).`,
    ],
  };
}
