// A step's records for one mailbox of a replica: which ones the replica lacks, and whether the log contradicts what
// the replica holds (a UID mapped to another file, a folder's other UIDVALIDITY), found before anything is written.
import { join } from 'node:path';
import { bundleFolderPath } from '../bundle/layout';
import { compareRecords, type DeliveryRecord, deliveryIdentity } from '../delivery-log/record';
import { ReplicaConflictError } from './errors';
import { readUidList, type UidList } from './folder';
import type { MailboxJournal } from './state';

/** A mailbox's part of a step: the records its replica lacks, and how many it holds already. */
export interface MailboxPlan {
  mailbox: string;
  /** The mailbox's tree: DIR/<mailbox>/. */
  dir: string;
  journal: MailboxJournal;
  fresh: DeliveryRecord[];
  present: number;
}

/**
 * The records of `records` (one mailbox's, sorted here) that the mailbox's replica at `dir` lacks, by its
 * `journal` and its folders' uidlists. Throws ReplicaConflictError when one names a UID the replica holds under
 * another file, or a folder's other UIDVALIDITY: the replica never renumbers, and nothing of the step is written.
 */
export async function planMailbox(
  mailbox: string,
  dir: string,
  journal: MailboxJournal,
  records: DeliveryRecord[],
): Promise<MailboxPlan> {
  const fresh = new Map<string, DeliveryRecord>();
  const validity = new Map(journal.validity);
  const uidLists = new Map<string, UidList | undefined>();
  let present = 0;
  for (const record of records.sort(compareRecords)) {
    const identity = deliveryIdentity(record);
    const known = journal.records.get(identity) ?? fresh.get(identity);
    if (known) {
      if (known.file !== record.file)
        throw new ReplicaConflictError(
          `${mailbox} ${record.folder} UID ${record.uid} is ${known.file} in the replica, and the log now names ${record.file}: the replica never renumbers (stopped; nothing of this step was written)`,
        );
      present += 1;
      continue;
    }
    const folderDir = join(dir, bundleFolderPath(record.folder));
    if (!uidLists.has(record.folder)) uidLists.set(record.folder, await readUidList(folderDir));
    const uidList = uidLists.get(record.folder);
    const held = validity.get(record.folder);
    if (
      (held !== undefined && held !== record.uidValidity) ||
      (uidList && uidList.uidValidity !== record.uidValidity)
    )
      throw new ReplicaConflictError(
        `${mailbox} ${record.folder}: the replica holds UIDVALIDITY ${held ?? uidList?.uidValidity}, the log names ${record.uidValidity}: the replica never renumbers (stopped)`,
      );
    const onDisk = uidList?.files.get(record.uid);
    if (onDisk !== undefined && onDisk !== record.file)
      throw new ReplicaConflictError(
        `${mailbox} ${record.folder} UID ${record.uid} is ${onDisk} in ${join(folderDir, 'dovecot-uidlist')}, and the log names ${record.file}: the replica never renumbers (stopped)`,
      );
    validity.set(record.folder, record.uidValidity);
    fresh.set(identity, record);
  }
  return { mailbox, dir, journal, fresh: [...fresh.values()], present };
}
