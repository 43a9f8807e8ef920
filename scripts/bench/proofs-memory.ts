// Memory of the transparency proofs at two mailbox sizes (issue 29): what `export` (with the log's proofs) and
// `verify` (plain, and with --checkpoint) peak at, each measured in a fresh process. Run as:
//   npx tsx scripts/bench/proofs-memory.ts build <dir> <messages>     the mailbox, its sealed log, a bundle
//   npx tsx scripts/bench/proofs-memory.ts export <dir> proofs|plain   export again; prints peak RSS above the index
//   npx tsx scripts/bench/proofs-memory.ts verify <dir> plain|checkpoint   prints peak RSS and CPU seconds
// Each prints one JSON line. The mailbox is the SpamAssassin corpus made distinct (as the scale section's).
import { generateKeyPairSync } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { DirectoryWriteOnceStore } from '../../shared/adapters/dir-write-once-store';
import { FileRawMailStore } from '../../shared/adapters/file-store';
import { MemoryMailIndex } from '../../shared/adapters/memory-index';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import { exportMailbox } from '../../shared/bundle/export';
import { verifyBundle } from '../../shared/bundle/verify';
import { loadConfig } from '../../shared/config';
import { DeliveryLog } from '../../shared/delivery-log/log';
import { deliveryRecordOf } from '../../shared/delivery-log/record';
import type { DeliveryRow } from '../../shared/index/schema';
import { rawMailKey } from '../../shared/index/schema';
import { buildReceivedNotification } from '../../shared/receiving/ses-notification';
import { deliveryLogSource, leafIdentity, readLeafDelivery } from '../../shared/transparency/leaf';
import { formatVerifierKey, KeyFileSigner } from '../../shared/transparency/note';
import { logBundleProofs } from '../../shared/transparency/prove';
import { seal } from '../../shared/transparency/seal';
import { checkBundleTransparency } from '../../shared/transparency/verify-bundle';
import { nthCorpusCopy, spamAssassinFiles } from '../../test/support/spam-assassin';

const MB = 1024 * 1024;
const MAILBOX = 'alice@example.com';
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const cpu = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};
/** Samples RSS every millisecond while `work` runs; returns the peak (MB). */
async function peakRss(work: () => Promise<unknown>): Promise<number> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 1);
  try {
    await work();
    return Math.max(peak, process.memoryUsage().rss) / MB;
  } finally {
    clearInterval(timer);
  }
}

const paths = (dir: string) => ({
  store: join(dir, 'store'),
  log: join(dir, 'log'),
  rows: join(dir, 'rows.json'),
  bundle: join(dir, 'bundle.tar.gz'),
  checkpoint: join(dir, 'checkpoint'),
  key: join(dir, 'key.pub'),
});

async function build(dir: string, count: number) {
  const p = paths(dir);
  const config = loadConfig('mail-archiver.config.json');
  const corpus = spamAssassinFiles().map((f) => readFileSync(f));
  const store = new FileRawMailStore(p.store);
  const index = new MemoryMailIndex();
  for (let i = 0; i < count; i++) {
    const id = `x${String(i).padStart(6, '0')}`;
    await store.write({ bucket: 'raw', key: rawMailKey(id) }, nthCorpusCopy(corpus, i));
    const notification = buildReceivedNotification({
      messageId: id,
      timestamp: new Date(Date.parse('2010-01-01T00:00:00Z') + i * 3_600_000),
      source: 's@example.org',
      recipients: [MAILBOX],
      bucket: 'raw',
      objectKey: rawMailKey(id),
      verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
    });
    await archiveReceivedMail(notification, { config, store, index });
  }
  const rows = [...index.rows.values()];
  const log = new DeliveryLog(store, 'raw');
  const records = rows.map((row) => deliveryRecordOf(row));
  for (let i = 0; i < records.length; i += 10) await log.append('ingest', records.slice(i, i + 10));
  const signer = new KeyFileSigner(
    'example.com/mail-archiver/bench',
    generateKeyPairSync('ed25519').privateKey,
  );
  const sealed = await seal({
    store: new DirectoryWriteOnceStore(p.log),
    signer,
    source: deliveryLogSource(log),
  });
  writeFileSync(p.checkpoint, sealed.checkpoint);
  writeFileSync(p.key, `${formatVerifierKey(signer.verifier)}\n`);
  writeFileSync(p.rows, JSON.stringify(rows));
  await exportTo(dir, index, true, p.bundle);
  return { messages: rows.length, leaves: sealed.size };
}

async function exportTo(dir: string, index: MemoryMailIndex, withProofs: boolean, to: string) {
  const p = paths(dir);
  const sink = createWriteStream(to);
  const store = new FileRawMailStore(p.store);
  const proofs = logBundleProofs(new DirectoryWriteOnceStore(p.log), leafIdentity);
  await exportMailbox(
    { index, store, ...(withProofs ? { proofs } : {}) },
    { mailbox: MAILBOX, format: 'maildir' },
    sink,
  );
  await finished(sink);
}

async function measureExport(dir: string, withProofs: boolean) {
  const index = new MemoryMailIndex();
  for (const row of JSON.parse(readFileSync(paths(dir).rows, 'utf8')) as DeliveryRow[]) {
    index.rows.set(`${row.mailbox}\n${row.messageKey}`, row);
    await index.restoreUid(row.mailbox, row.folder, row.uid, row.uidValidity);
  }
  gc();
  const base = process.memoryUsage().rss / MB;
  const start = cpu();
  const peak = await peakRss(() => exportTo(dir, index, withProofs, join(dir, 'again.tar.gz')));
  return { base, peak, aboveIndex: peak - base, cpu: cpu() - start };
}

async function measureVerify(dir: string, withCheckpoint: boolean) {
  const p = paths(dir);
  gc();
  const base = process.memoryUsage().rss / MB;
  const start = cpu();
  let proven = 0;
  // As the CLI's verify runs: proofs.jsonl drained unread by a plain verify, spooled to a directory to be checked.
  const spool = join(dir, 'verify-spool');
  mkdirSync(spool, { recursive: true });
  const peak = await peakRss(async () => {
    const report = await verifyBundle(createReadStream(p.bundle), undefined, {
      keepProofs: withCheckpoint ? spool : false,
    });
    if (!report.ok) throw new Error(`verify failed: ${report.errors[0]}`);
    if (withCheckpoint) {
      const trust = { checkpoint: readFileSync(p.checkpoint), key: readFileSync(p.key) };
      const check = await checkBundleTransparency(report, trust, readLeafDelivery);
      if (check.errors.length > 0) throw new Error(`verify --checkpoint failed: ${check.errors[0]}`);
      proven = check.proven;
    }
  });
  return { base, peak, cpu: cpu() - start, proven };
}

const [what, dir, extra] = process.argv.slice(2);
if (!dir) throw new Error('usage: proofs-memory.ts build|export|verify <dir> ...');
const result =
  what === 'build'
    ? await build(dir, Number(extra ?? 2000))
    : what === 'export'
      ? await measureExport(dir, extra !== 'plain')
      : await measureVerify(dir, extra === 'checkpoint');
console.log(JSON.stringify(result));
