// `export --incremental` with nothing new over a mailbox of scripts/bench-child.ts export-build, in a fresh process:
// the exporter's own memory (the rows paged from a JSON-lines file as the DynamoDB adapter pages its query, no
// local services), to tell what the export holds per message from what the services and the SDK cost. Prints one
// JSON line. Run as: node --import tsx --expose-gc scripts/bench/incremental-child.ts <dir of export-build>
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileRawMailStore } from '../../shared/adapters/file-store';
import { exportMailbox, summarizeExport } from '../../shared/bundle/export';
import type { FolderState } from '../../shared/index/schema';
import type { MailIndex } from '../../shared/ports';
import { JsonlIndex } from '../bench-export';
import { peakRssKb } from './peak-rss';

const MB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const dir = process.argv[2] as string;
const mailbox = 'alice@example.com';
const state = JSON.parse(readFileSync(join(dir, 'folder.json'), 'utf8')) as FolderState;
const deps = {
  index: new JsonlIndex(join(dir, 'rows.jsonl'), state) as unknown as MailIndex,
  store: new FileRawMailStore(dir),
};
const started = performance.now();
// As runExportJob does: the full export's last UIDs are the base; the snapshot of what the export covers; the export.
const full = await summarizeExport(deps, { mailbox });
const snapshot = await summarizeExport(deps, { mailbox, after: full.lastUids });
const result = await exportMailbox(
  deps,
  { mailbox, format: 'maildir', after: full.lastUids, upTo: snapshot.lastUids },
  createWriteStream(join(dir, 'incremental.tar.gz')),
);
const seconds = (performance.now() - started) / 1000;
for (let i = 0; i < 3; i++) gc();
console.log(
  JSON.stringify({
    messagesInMailbox: full.messages,
    exported: result.messages,
    seconds,
    peakRssMb: peakRssKb() / 1024,
    heapAfterMb: process.memoryUsage().heapUsed / MB,
  }),
);
