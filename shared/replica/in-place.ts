// Messages a replica holds already without its journal saying so: a run stopped after its files and uidlist were
// written and before its journal was, or a damaged progress file whose journals were set aside and are rebuilt
// from the tree and the log. A record whose folder's uidlist names it under the same file is taken as it is when
// the file in cur/ holds exactly the record's bytes (sha256 and size, a `crlf-to-lf` file read back with every LF
// as CRLF: maildir.ts lfToCrlf); any other is downloaded again.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { lfToCrlf, parseMessageFileName } from '../bundle/maildir';
import type { DeliveryRecord } from '../delivery-log/record';

/** The records of `records` (one folder's) whose file in `folderDir`/cur/ holds their bytes. */
export async function filesInPlace(
  folderDir: string,
  records: readonly DeliveryRecord[],
): Promise<Set<DeliveryRecord>> {
  const found = new Set<DeliveryRecord>();
  if (records.length === 0) return found;
  const wanted = new Map(records.map((r) => [r.file, r]));
  for (const name of await readdir(join(folderDir, 'cur')).catch(() => [] as string[])) {
    const record = wanted.get(parseMessageFileName(name)?.baseName ?? '');
    if (record && (await holdsBytesOf(join(folderDir, 'cur', name), record))) found.add(record);
  }
  return found;
}

/** The file at `path` is the record's message as its maildir file holds it. */
async function holdsBytesOf(
  path: string,
  record: Pick<DeliveryRecord, 'sha256' | 'size' | 'storage'>,
): Promise<boolean> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      const original = record.storage === 'crlf-to-lf' ? lfToCrlf(chunk) : chunk;
      size += original.length;
      hash.update(original);
    }
  } catch {
    return false;
  }
  return size === record.size && hash.digest('hex') === record.sha256;
}
