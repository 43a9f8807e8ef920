// Memory measurements for `npm run bench`, each in a fresh process so that peaks are the work's own.
// Prints one JSON line. Run as: node --import tsx --expose-gc scripts/bench-child.ts <what> <dir> [count], what:
// ingest-prepare <dir>, ingest-memory <dir>, export-build <dir> <count>, export-memory <dir> <bundle of
// scripts/bench-export.ts> (in the export worker), export-memory-in-thread <dir>, verify-memory <bundle>
// [identity file] (an encrypted bundle decrypted as it is verified).
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileRawMailStore } from '../shared/adapters/file-store';
import { MemoryMailIndex } from '../shared/adapters/memory-index';
import { archiveReceivedMail } from '../shared/archive/ingest';
import { decryptBundle, parseIdentityFile } from '../shared/bundle/age';
import { runInExportWorker } from '../shared/bundle/export-worker';
import { verifyBundle } from '../shared/bundle/verify';
import { loadConfig } from '../shared/config';
import { rawMailKey } from '../shared/index/schema';
import { buildReceivedNotification } from '../shared/receiving/ses-notification';
import { nthCorpusCopy, spamAssassinFiles } from '../test/support/spam-assassin';
import { peakRssKb } from './bench/peak-rss';
import { exportInThisThread } from './bench-export';

const MB = 1024 * 1024;
const config = loadConfig('mail-archiver.config.json');
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

/** Samples RSS every millisecond while `work` runs; returns the peak. */
async function peakRss<T>(work: () => Promise<T>): Promise<{ peak: number; result: T }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 1);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { peak, result };
  } finally {
    clearInterval(timer);
  }
}

const notification = (id: string, at: number) =>
  buildReceivedNotification({
    messageId: id,
    timestamp: new Date(at),
    source: 's@example.org',
    recipients: ['alice@example.com'],
    bucket: 'raw',
    objectKey: rawMailKey(id),
    verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
  });

/** Writes the 40 MB test message (in its own process, so that writing it does not count in the peak). */
async function ingestPrepare(dir: string) {
  // A short text part and a 29 MB attachment (base64), written in 1 MB pieces.
  const path = join(dir, 'raw', rawMailKey('big'));
  mkdirSync(join(path, '..'), { recursive: true });
  const out = createWriteStream(path);
  out.write(
    'From: a@example.org\r\nTo: alice@example.com\r\nSubject: forty megabytes\r\nMIME-Version: 1.0\r\n' +
      'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n' +
      '--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="big.bin"\r\n' +
      'Content-Transfer-Encoding: base64\r\n\r\n',
  );
  for (let written = 0; written < 29.5 * MB; written += 57 * 18396) {
    const line = randomBytes(57 * 18396)
      .toString('base64')
      .replace(/.{76}/g, '$&\r\n');
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end('\r\n--b--\r\n');
  await once(out, 'finish');
  return { size: readFileSync(path).length / MB };
}

async function ingestMemory(dir: string) {
  const store = new FileRawMailStore(dir);
  const index = new MemoryMailIndex();
  gc();
  const baseline = process.memoryUsage().rss;
  const started = performance.now();
  const { peak } = await peakRss(() =>
    archiveReceivedMail(notification('big', Date.now()), { config, store, index }),
  );
  const seconds = (performance.now() - started) / 1000;
  const maxRss = peakRssKb() * 1024;
  return {
    baselineMb: baseline / MB,
    peakAboveBaselineMb: (Math.max(peak, maxRss) - baseline) / MB,
    seconds,
  };
}

/** Builds a mailbox with the real ingest code (in its own process): raw files plus rows as JSON lines. */
async function exportBuild(dir: string, count: number) {
  const corpus = spamAssassinFiles().map((file) => readFileSync(file));
  const store = new FileRawMailStore(dir);
  const index = new MemoryMailIndex();
  for (let i = 0; i < count; i++) {
    const id = `e${i}`;
    await store.write({ bucket: 'raw', key: rawMailKey(id) }, nthCorpusCopy(corpus, i));
    await archiveReceivedMail(notification(id, Date.parse('2003-01-01T00:00:00Z') + i * 60_000), {
      config,
      store,
      index,
    });
  }
  const rows = [...index.rows.values()].sort((a, b) => a.uid - b.uid);
  writeFileSync(join(dir, 'rows.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n'));
  writeFileSync(join(dir, 'folder.json'), JSON.stringify((await index.folders('alice@example.com'))[0]));
  return { messages: rows.length };
}

/**
 * Peak RSS of this process while the exporter runs: in a worker thread with the heap limits the export Lambda
 * gives it (shared/bundle/export-worker.ts), loading a bundle of scripts/bench-export.ts as the Lambda's worker loads
 * the Lambda's bundle; or, for comparison, in this thread with whatever heap flags this process was given.
 */
async function exportMemory(dir: string, workerBundle?: string) {
  for (let i = 0; i < 3; i++) gc();
  const baseline = process.memoryUsage().rss;
  const { peak, result } = await peakRss(() =>
    workerBundle ? runInExportWorker<{ retainedHeapMb: number }>(workerBundle, dir) : exportInThisThread(dir),
  );
  return {
    baselineMb: baseline / MB,
    exportPeakMb: peak / MB,
    exportAboveBaselineMb: (peak - baseline) / MB,
    retainedHeapMb: result.retainedHeapMb,
  };
}

/** Peak RSS of this process while `verify` reads `bundle`, decrypting it with `identityFile` when given. */
async function verifyMemory(bundle: string, identityFile?: string) {
  const identities = identityFile
    ? await parseIdentityFile(readFileSync(identityFile, 'utf8'), identityFile)
    : undefined;
  for (let i = 0; i < 3; i++) gc();
  const baseline = process.memoryUsage().rss;
  const started = performance.now();
  const { peak, result } = await peakRss(async () =>
    verifyBundle(
      identities ? await decryptBundle(createReadStream(bundle), { identities }) : createReadStream(bundle),
    ),
  );
  if (!result.ok) throw new Error(`verify failed: ${result.errors.slice(0, 3).join('; ')}`);
  return {
    verifyPeakMb: peak / MB,
    verifyAboveBaselineMb: (peak - baseline) / MB,
    /** The process's own high-water mark (VmHWM), for comparing runs over bundles of different sizes. */
    peakRssMb: (peakRssKb() * 1024) / MB,
    messages: result.messages,
    seconds: (performance.now() - started) / 1000,
  };
}

const [what, dir = '.', extra] = process.argv.slice(2);
if (what !== 'verify-memory') mkdirSync(dir, { recursive: true });
const result =
  what === 'verify-memory'
    ? await verifyMemory(dir, extra)
    : what === 'ingest-prepare'
      ? await ingestPrepare(dir)
      : what === 'ingest-memory'
        ? await ingestMemory(dir)
        : what === 'export-build'
          ? await exportBuild(dir, Number(extra ?? 1000))
          : await exportMemory(dir, what === 'export-memory' ? extra : undefined);
console.log(JSON.stringify(result));
