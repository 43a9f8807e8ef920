// A step's records for one mailbox of a replica: which ones the replica lacks, and whether the log contradicts what
// the replica holds (a UID mapped to another file, a folder's other UIDVALIDITY), found before anything is written.
import { join } from 'node:path';
import { bundleFolderPath } from '../bundle/layout';
import { compareRecords, type DeliveryRecord, deliveryIdentity } from '../delivery-log/record';
import { ReplicaConflictError } from './errors';
import { readUidListBeyond } from './folder';
import type { MailboxIndex } from './mailbox-index';

/** What a run holds of a mailbox: its index (from its journal) and what it read of its folders' uidlists. */
export class MailboxState {
  /** Per folder, the uidlist as read once in the run: its UIDVALIDITY and the UIDs it names the index lacks. */
  private readonly onDisk = new Map<string, { uidValidity?: number; extras: Map<number, string> }>();
  /**
   * The records of the steps planned and not committed yet (pipeline.ts: a step is planned while the one before
   * commits): each one's file by delivery identity, and the UIDVALIDITY they name per folder (with their count).
   */
  private readonly planned = new Map<string, string>();
  private readonly plannedFolders = new Map<string, { uidValidity: number; count: number }>();

  constructor(
    readonly mailbox: string,
    /** The mailbox's tree: DIR/<mailbox>/. */
    readonly dir: string,
    readonly index: MailboxIndex,
  ) {}

  /** The folder's uidlist beyond the index (read on first use in the run; the run's own commits keep it). */
  async uidList(folder: string): Promise<{ uidValidity?: number; extras: Map<number, string> }> {
    let found = this.onDisk.get(folder);
    if (!found) {
      const list = await readUidListBeyond(
        join(this.dir, bundleFolderPath(folder)),
        this.index.folders.get(folder),
      );
      found = list ?? { extras: new Map() };
      this.onDisk.set(folder, found);
    }
    return found;
  }

  /** The file of a record planned in a step not committed yet, by its delivery identity. */
  plannedFile(identity: string): string | undefined {
    return this.planned.get(identity);
  }

  /** The UIDVALIDITY of a folder that a step not committed yet names. */
  plannedValidity(folder: string): number | undefined {
    return this.plannedFolders.get(folder)?.uidValidity;
  }

  /** Records planned (`true`), or committed or abandoned (`false`: the index holds what was committed). */
  setPlanned(records: readonly DeliveryRecord[], planned: boolean): void {
    for (const record of records) {
      const identity = deliveryIdentity(record);
      const folder = this.plannedFolders.get(record.folder);
      if (planned) {
        this.planned.set(identity, record.file);
        if (folder) folder.count += 1;
        else this.plannedFolders.set(record.folder, { uidValidity: record.uidValidity, count: 1 });
      } else if (this.planned.delete(identity) && folder && --folder.count === 0) {
        this.plannedFolders.delete(record.folder);
      }
    }
  }
}

/** A mailbox's part of a step: the records its replica lacks, and how many it holds already. */
export interface MailboxPlan {
  state: MailboxState;
  fresh: DeliveryRecord[];
  /**
   * Of `fresh`, those its folder's uidlist names already under the same file (a run stopped after writing them and
   * before journaling them, or a journal rebuilt): taken as they are when the file in cur/ holds their bytes.
   */
  listed: DeliveryRecord[];
  present: number;
}

/**
 * The records of `records` (one mailbox's, sorted here) that the mailbox's replica lacks, by its index (journal),
 * the steps planned before and not committed yet, and its folders' uidlists; they are marked planned
 * (MailboxState.setPlanned: the step's commit or abandon unmarks them). Throws ReplicaConflictError when one names
 * a UID the replica holds under another file, or a folder's other UIDVALIDITY: the replica never renumbers, and
 * nothing of the step is written.
 */
export async function planMailbox(state: MailboxState, records: DeliveryRecord[]): Promise<MailboxPlan> {
  const { mailbox, index } = state;
  const fresh = new Map<string, DeliveryRecord>();
  const validity = new Map<string, number>();
  const listed: DeliveryRecord[] = [];
  let present = 0;
  for (const record of records.sort(compareRecords)) {
    const identity = deliveryIdentity(record);
    const folder = index.folders.get(record.folder);
    const at = folder?.uidValidity === record.uidValidity ? folder.find(record.uid) : -1;
    const known = at >= 0 ? folder?.file(at) : (fresh.get(identity)?.file ?? state.plannedFile(identity));
    if (known !== undefined) {
      if (known !== record.file)
        throw new ReplicaConflictError(
          `${mailbox} ${record.folder} UID ${record.uid} is ${known} in the replica, and the log now names ${record.file}: the replica never renumbers (stopped; nothing of this step was written)`,
        );
      present += 1;
      continue;
    }
    const uidList = await state.uidList(record.folder);
    const held = folder?.uidValidity ?? validity.get(record.folder) ?? state.plannedValidity(record.folder);
    if (
      (held !== undefined && held !== record.uidValidity) ||
      (uidList.uidValidity !== undefined && uidList.uidValidity !== record.uidValidity)
    )
      throw new ReplicaConflictError(
        `${mailbox} ${record.folder}: the replica holds UIDVALIDITY ${held ?? uidList.uidValidity}, the log names ${record.uidValidity}: the replica never renumbers (stopped)`,
      );
    const onDisk = uidList.extras.get(record.uid);
    if (onDisk !== undefined && onDisk !== record.file)
      throw new ReplicaConflictError(
        `${mailbox} ${record.folder} UID ${record.uid} is ${onDisk} in ${join(state.dir, bundleFolderPath(record.folder), 'dovecot-uidlist')}, and the log names ${record.file}: the replica never renumbers (stopped)`,
      );
    if (onDisk !== undefined) listed.push(record);
    validity.set(record.folder, record.uidValidity);
    fresh.set(identity, record);
  }
  const planned = [...fresh.values()];
  state.setPlanned(planned, true);
  return { state, fresh: planned, listed, present };
}
