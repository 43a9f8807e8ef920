// Memory measurements for `npm run bench`, each in a fresh process so that peaks are the work's own.
// Prints one JSON line. Run as: node --import tsx --expose-gc scripts/bench-child.ts <what> <dir> [count]
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FileRawMailStore } from '../shared/adapters/file-store';
import { MemoryMailIndex } from '../shared/adapters/memory-index';
import { parseConfig } from '../shared/config';
import { exportMailbox } from '../shared/export';
import { type DeliveryRow, type FolderState, rawMailKey } from '../shared/index-schema';
import { archiveReceivedMail } from '../shared/ingest';
import type { MailIndex } from '../shared/ports';
import { buildReceivedNotification } from '../shared/ses-notification';
import { spamAssassinFiles } from '../test/support/spam-assassin';

const MB = 1024 * 1024;
const config = parseConfig(JSON.parse(readFileSync('mail-archiver.config.json', 'utf8')));
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
  const maxRss = process.resourceUsage().maxRSS * 1024;
  return {
    baselineMb: baseline / MB,
    peakAboveBaselineMb: (Math.max(peak, maxRss) - baseline) / MB,
    seconds,
  };
}

/**
 * The exporter over a mailbox whose rows come from a JSON-lines file page by page, as DynamoDB pages them, so
 * the process holds only what the exporter itself keeps.
 */
class JsonlIndex {
  constructor(
    private readonly rowsPath: string,
    private readonly state: FolderState,
  ) {}

  async folders() {
    return [this.state];
  }

  async *folderDeliveries() {
    for await (const line of createInterface({ input: createReadStream(this.rowsPath) })) {
      if (line) yield JSON.parse(line) as DeliveryRow;
    }
  }
}

/** Builds a mailbox with the real ingest code (in its own process): raw files plus rows as JSON lines. */
async function exportBuild(dir: string, count: number) {
  const files = spamAssassinFiles();
  const store = new FileRawMailStore(dir);
  const index = new MemoryMailIndex();
  for (let i = 0; i < count; i++) {
    const id = `e${i}`;
    await store.write(
      { bucket: 'raw', key: rawMailKey(id) },
      readFileSync(files[i % files.length] as string),
    );
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

async function exportMemory(dir: string) {
  const store = new FileRawMailStore(dir);
  const state = JSON.parse(readFileSync(join(dir, 'folder.json'), 'utf8')) as FolderState;
  const index = new JsonlIndex(join(dir, 'rows.jsonl'), state) as unknown as MailIndex;
  for (let i = 0; i < 3; i++) gc();
  const baseline = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;
  const { peak } = await peakRss(() =>
    exportMailbox(
      { index, store },
      { mailbox: 'alice@example.com', format: 'maildir' },
      createWriteStream(join(dir, 'bundle.tar.gz')),
    ),
  );
  for (let i = 0; i < 3; i++) gc();
  return {
    baselineMb: baseline / MB,
    exportPeakMb: peak / MB,
    exportAboveBaselineMb: (peak - baseline) / MB,
    retainedHeapMb: (process.memoryUsage().heapUsed - heapBefore) / MB,
  };
}

const [what, dir = '.', count = '1000'] = process.argv.slice(2);
mkdirSync(dir, { recursive: true });
const result =
  what === 'ingest-prepare'
    ? await ingestPrepare(dir)
    : what === 'ingest-memory'
      ? await ingestMemory(dir)
      : what === 'export-build'
        ? await exportBuild(dir, Number(count))
        : await exportMemory(dir);
console.log(JSON.stringify(result));
