// The exporter's side of the export memory benchmark (scripts/bench-child.ts), kept apart so that the worker
// thread that runs it loads a bundle of the exporter and nothing else, as the export Lambda's worker does.
import { createWriteStream, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { FileRawMailStore } from '../shared/adapters/file-store';
import { exportMailbox } from '../shared/bundle/export';
import { serveExportWorker } from '../shared/bundle/export-worker';
import type { DeliveryRow, FolderState } from '../shared/index/schema';
import type { MailIndex } from '../shared/ports';

const MB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

/**
 * The exporter over a mailbox whose rows come from a JSON-lines file in pages of 500, read only when the
 * exporter asks for them, as the DynamoDB adapter pages its query: the process holds only what the exporter
 * itself keeps. (`readline`'s async iterator is not usable here: it reads the whole file ahead, 1 KB per row.)
 */
export class JsonlIndex {
  constructor(
    private readonly rowsPath: string,
    private readonly state: FolderState,
  ) {}

  async folders() {
    return [this.state];
  }

  async *folderDeliveries() {
    const file = await open(this.rowsPath);
    try {
      const buffer = Buffer.alloc(64 * 1024);
      const text = new StringDecoder('utf8');
      let carry = '';
      let page: DeliveryRow[] = [];
      for (;;) {
        const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
        const lines = (carry + (bytesRead ? text.write(buffer.subarray(0, bytesRead)) : text.end())).split(
          '\n',
        );
        carry = bytesRead ? (lines.pop() ?? '') : '';
        for (const line of lines) if (line) page.push(JSON.parse(line) as DeliveryRow);
        if (page.length >= 500 || (bytesRead === 0 && page.length > 0)) {
          yield* page;
          page = [];
        }
        if (bytesRead === 0) return;
      }
    } finally {
      await file.close();
    }
  }
}

/** The export itself, in whichever thread runs it: the heap it still holds afterwards is what it kept. */
export async function exportInThisThread(dir: string) {
  const store = new FileRawMailStore(dir);
  const state = JSON.parse(readFileSync(join(dir, 'folder.json'), 'utf8')) as FolderState;
  const index = new JsonlIndex(join(dir, 'rows.jsonl'), state) as unknown as MailIndex;
  for (let i = 0; i < 3; i++) gc();
  const heapBefore = process.memoryUsage().heapUsed;
  await exportMailbox(
    { index, store },
    { mailbox: 'alice@example.com', format: 'maildir' },
    createWriteStream(join(dir, 'bundle.tar.gz')),
  );
  for (let i = 0; i < 3; i++) gc();
  return { retainedHeapMb: (process.memoryUsage().heapUsed - heapBefore) / MB };
}

serveExportWorker(exportInThisThread);
