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
import { recordKeywordAtoms } from '../delivery-log/record';
import { ReplicaProgressError } from './errors';
import type { FolderIndex, MailboxIndex } from './mailbox-index';
import { FILES_DUE, JournalReader, parseJournalLine, type replicaPaths, writeFileAtomically } from './state';

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

/**
 * Rewrites the mailbox's subscriptions, manifest.json (createdAt: `now`) and README.txt from `index`, every message
 * it holds, each message's entry made from its record's line in the mailbox's journal at `journal` (read in the
 * index's order, a window at a time: the manifest is written without the mailbox's records in memory). Each file
 * is replaced whole (written aside, fsynced, renamed). Throws ReplicaProgressError when the journal does not hold
 * the line the index names.
 */
export async function writeMailboxFiles(
  mailboxDir: string,
  mailbox: string,
  index: MailboxIndex,
  journal: string,
  now: Date,
): Promise<void> {
  const names = [...index.folders.keys()].filter((f) => index.folders.get(f)?.count).sort(compareFolders);
  await ensureFolders(mailboxDir, names);
  const root = join(mailboxDir, MAILDIR_ROOT);
  await writeFileAtomically(join(root, DOVECOT_SUBSCRIPTIONS), dovecotSubscriptions(names));
  await writeFileAtomically(join(root, COURIER_SUBSCRIPTIONS), courierSubscriptions(names));

  const reader = await JournalReader.open(journal);
  // Generated as it is written (writeFileAtomically with chunks), about 64 KB of entries at a time: the manifest
  // grows with the mailbox.
  async function* manifest() {
    yield manifestText.opening;
    const folderInfos: BundleManifest['folders'] = [];
    let n = 0;
    let batch: string[] = [];
    let batchLength = 0;
    for (const folder of names) {
      const list = index.folders.get(folder) as FolderIndex;
      const directory = bundleFolderPath(folder);
      const table = list.keywordTable();
      for (let i = 0; i < list.count; i++) {
        const { offset, length } = list.line(i);
        const line = reader.held(offset, length) ?? (await reader.line(offset, length));
        // Every line was checked in this run (when applied, or by MailboxIndex.load): read back, not re-checked.
        const record = parseJournalLine(line);
        if (record.uid !== list.uid(i) || record.folder !== folder)
          throw new ReplicaProgressError(
            `${journal} byte ${offset} is not the record of ${folder} UID ${list.uid(i)}`,
          );
        const entry = manifestEntry(
          { ...record, keywords: recordKeywordAtoms(record), nul: record.nul },
          `${directory}/${list.filePath(i, table)}`,
          record.storage,
        );
        const text = manifestText.entry(n++, entry);
        batch.push(text);
        batchLength += text.length;
        if (batchLength >= 64 * 1024) {
          yield batch.join('');
          batch = [];
          batchLength = 0;
        }
      }
      folderInfos.push({
        name: folder,
        directory,
        uidValidity: list.uidValidity,
        nextUid: list.lastUid + 1,
        messages: list.count,
      });
    }
    yield batch.join('');
    yield manifestText.closing(
      manifestHeader({ mailbox, format: 'maildir', createdAt: now, folders: folderInfos }),
    );
  }
  try {
    await writeFileAtomically(join(mailboxDir, 'manifest.json'), manifest());
  } finally {
    await reader.close();
  }
  await writeFileAtomically(join(mailboxDir, 'README.txt'), bundleReadme(mailbox));
}

/**
 * Rewrites manifest.json, the subscriptions and README.txt of every mailbox marked due (state.ts FILES_DUE: by
 * this run, or by one killed before its end), from its index and journal, then removes the mark. A manifest lists
 * every message of its mailbox: written once a run, not at every step (which would cost the mailbox's size each
 * time).
 */
export async function writeDueMailboxFiles(
  paths: ReturnType<typeof replicaPaths>,
  indexOf: (mailbox: string) => Promise<MailboxIndex>,
  now: Date,
): Promise<void> {
  for (const name of await readdir(paths.journals)) {
    if (!name.endsWith(FILES_DUE)) continue;
    const mailbox = decodeURIComponent(name.slice(0, -FILES_DUE.length));
    const index = await indexOf(mailbox);
    // Nothing journaled yet (the append that followed the mark failed): the run that journals writes them.
    if (index.messages === 0) continue;
    await writeMailboxFiles(paths.mailbox(mailbox), mailbox, index, paths.journal(mailbox), now);
    await unlink(join(paths.journals, name));
  }
}
