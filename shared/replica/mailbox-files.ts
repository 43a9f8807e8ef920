// The files of a replica's mailbox besides its messages, the same bytes an unpacked bundle of it holds (written
// from shared/bundle/layout.ts and maildir.ts, as the exporter's are): every folder's directories, the
// subscription files, manifest.json and README.txt.
import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  bundleFolderPath,
  COURIER_SUBSCRIPTIONS,
  compareFolders,
  DOVECOT_SUBSCRIPTIONS,
  FOLDER_SUBDIRECTORIES,
  MAILDIR_FOLDER_FILE,
  maildirSkeleton,
  manifestEntry,
  manifestHeader,
  manifestText,
} from '../bundle/layout';
import { bundleReadme, courierSubscriptions, dovecotSubscriptions, MAILDIR_ROOT } from '../bundle/maildir';
import type { BundleManifest } from '../bundle/manifest';
import { type DeliveryRecord, recordKeywordAtoms } from '../delivery-log/record';
import { folderFiles } from './folder';
import { FILES_DUE, type MailboxJournal, type replicaPaths, writeFileAtomically } from './state';

/** Creates (when missing) the maildir of `folder` and of its ancestors and INBOX: cur/, new/, tmp/, maildirfolder. */
export async function ensureFolders(mailboxDir: string, folders: Iterable<string>): Promise<void> {
  for (const folder of maildirSkeleton([...folders])) {
    const directory = join(mailboxDir, bundleFolderPath(folder));
    for (const sub of FOLDER_SUBDIRECTORIES)
      await mkdir(join(directory, sub), { recursive: true, mode: 0o700 });
    if (folder !== 'INBOX')
      await writeFile(join(directory, MAILDIR_FOLDER_FILE), '', { mode: 0o600, flag: 'a' });
  }
}

/** The records of a mailbox grouped by folder (export's folder order), each folder's by UID. */
export function byFolder(records: Iterable<DeliveryRecord>): Map<string, DeliveryRecord[]> {
  const folders = new Map<string, DeliveryRecord[]>();
  for (const record of records) {
    const list = folders.get(record.folder) ?? [];
    list.push(record);
    folders.set(record.folder, list);
  }
  const sorted = [...folders.keys()].sort(compareFolders);
  return new Map(sorted.map((f) => [f, (folders.get(f) as DeliveryRecord[]).sort((a, b) => a.uid - b.uid)]));
}

/**
 * Rewrites the mailbox's subscriptions, manifest.json (createdAt: `now`) and README.txt from `records`, every
 * message it holds. Each file is replaced whole (written aside, fsynced, renamed).
 */
export async function writeMailboxFiles(
  mailboxDir: string,
  mailbox: string,
  records: Iterable<DeliveryRecord>,
  now: Date,
): Promise<void> {
  const folders = byFolder(records);
  const names = [...folders.keys()];
  await ensureFolders(mailboxDir, names);
  const root = join(mailboxDir, MAILDIR_ROOT);
  await writeFileAtomically(join(root, DOVECOT_SUBSCRIPTIONS), dovecotSubscriptions(names));
  await writeFileAtomically(join(root, COURIER_SUBSCRIPTIONS), courierSubscriptions(names));

  // Generated entry by entry as it is written (writeFileAtomically with chunks): the manifest grows with the mailbox.
  function* manifest() {
    yield manifestText.opening;
    const folderInfos: BundleManifest['folders'] = [];
    let index = 0;
    for (const [folder, list] of folders) {
      const directory = bundleFolderPath(folder);
      const { fileOf } = folderFiles(list);
      for (const record of list) {
        const entry = manifestEntry(
          { ...record, keywords: recordKeywordAtoms(record), nul: record.nul },
          `${directory}/${fileOf(record)}`,
          record.storage,
        );
        yield manifestText.entry(index++, entry);
      }
      const lastUid = list[list.length - 1]?.uid ?? 0;
      folderInfos.push({
        name: folder,
        directory,
        uidValidity: list[0]?.uidValidity ?? 1,
        nextUid: lastUid + 1,
        messages: list.length,
      });
    }
    yield manifestText.closing(
      manifestHeader({ mailbox, format: 'maildir', createdAt: now, folders: folderInfos }),
    );
  }
  await writeFileAtomically(join(mailboxDir, 'manifest.json'), manifest());
  await writeFileAtomically(join(mailboxDir, 'README.txt'), bundleReadme(mailbox));
}

/**
 * Rewrites manifest.json, the subscriptions and README.txt of every mailbox marked due (state.ts FILES_DUE: by
 * this run, or by one killed before its end), from its journal, then removes the mark. A manifest lists every
 * message of its mailbox: written once a run, not at every step (which would cost the mailbox's size each time).
 */
export async function writeDueMailboxFiles(
  paths: ReturnType<typeof replicaPaths>,
  journalOf: (mailbox: string) => Promise<MailboxJournal>,
  now: Date,
): Promise<void> {
  for (const name of await readdir(paths.journals)) {
    if (!name.endsWith(FILES_DUE)) continue;
    const mailbox = decodeURIComponent(name.slice(0, -FILES_DUE.length));
    const journal = await journalOf(mailbox);
    // Nothing journaled yet (the append that followed the mark failed): the run that journals writes them.
    if (journal.records.size === 0) continue;
    await writeMailboxFiles(paths.mailbox(mailbox), mailbox, journal.records.values(), now);
    await unlink(join(paths.journals, name));
  }
}
