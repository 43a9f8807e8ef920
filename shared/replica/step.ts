// A step's work on a replica's tree (sync.ts): its folders made ready before its downloads start, and each
// mailbox's commit once they are done (the files into their folders under the uidlist lock, then the journal).
import { join } from 'node:path';
import { bundleFolderPath } from '../bundle/layout';
import { canonicalRecord, type DeliveryRecord } from '../delivery-log/record';
import { removeLeftovers } from './fetch';
import { commitFolder } from './folder';
import { filesInPlace } from './in-place';
import { ensureFolders } from './mailbox-files';
import type { MailboxPlan } from './plan';
import { appendJournal, type replicaPaths, touchDurably } from './state';

/**
 * Makes the plans' folders (cur/, new/, tmp/) and returns the records found in place (in-place.ts). A folder's
 * tmp/ is cleared of a killed run's leftovers the first time a run meets it (`cleaned`), before any download of
 * the run goes there: later, the downloads of a step under way are in it.
 */
export async function readyFolders(
  plans: readonly MailboxPlan[],
  cleaned: Set<string>,
): Promise<Set<DeliveryRecord>> {
  const inPlace = new Set<DeliveryRecord>();
  for (const plan of plans) {
    const folders = new Set(plan.fresh.map((r) => r.folder));
    await ensureFolders(plan.state.dir, folders);
    for (const folder of folders) {
      const folderDir = join(plan.state.dir, bundleFolderPath(folder));
      if (!cleaned.has(folderDir)) await removeLeftovers(join(folderDir, 'tmp'));
      cleaned.add(folderDir);
      const listed = plan.listed.filter((r) => r.folder === folder);
      for (const record of await filesInPlace(folderDir, listed)) inPlace.add(record);
    }
  }
  return inPlace;
}

/**
 * Puts a mailbox's staged messages (and those in place) into their folders, then appends their records to its
 * journal (its manifest marked due first, in `filesDue`). Records whose object could not be read (not in
 * `staged`) are left for the next run. Returns the journal's length after the append (bytes), undefined when
 * nothing was applied. Throws what the file system throws.
 */
export async function commitMailbox(
  plan: MailboxPlan,
  staged: Map<DeliveryRecord, string>,
  inPlace: Set<DeliveryRecord>,
  paths: ReturnType<typeof replicaPaths>,
  filesDue: Set<string>,
): Promise<number | undefined> {
  const { state } = plan;
  const applied = plan.fresh.filter((record) => staged.has(record) || inPlace.has(record));
  if (applied.length === 0) return undefined;
  const folders = new Map<string, DeliveryRecord[]>();
  for (const record of applied) folders.set(record.folder, [...(folders.get(record.folder) ?? []), record]);
  for (const [folder, list] of folders) {
    const first = list[0] as DeliveryRecord;
    await commitFolder(
      join(state.dir, bundleFolderPath(folder)),
      state.index.folder(folder, first.uidValidity),
      list
        .filter((r) => staged.has(r))
        .map((record) => ({ record, temporary: staged.get(record) as string })),
      // A file the uidlist names may be in cur/ under another name (fetched again: its bytes did not match).
      { inPlace: list.filter((r) => inPlace.has(r)), scan: plan.listed.some((r) => r.folder === folder) },
    );
  }
  // The manifest is written once, at the run's end (writeDueMailboxFiles): marked due, durably, before the append.
  if (!filesDue.has(state.mailbox)) {
    await touchDurably(paths.filesDue(state.mailbox));
    filesDue.add(state.mailbox);
  }
  const lines = applied.map(canonicalRecord);
  let offset = await appendJournal(paths.journal(state.mailbox), lines);
  for (const [i, record] of applied.entries()) {
    const length = Buffer.byteLength(lines[i] as string);
    state.index.folders.get(record.folder)?.setLine(record.uid, offset, length);
    offset += length + 1;
  }
  return offset;
}
