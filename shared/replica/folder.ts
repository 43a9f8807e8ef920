// One maildir folder of a replica, written the way Dovecot expects a second writer to behave: a message is
// downloaded into tmp/, checked and fsynced there (fetch.ts), and renamed into cur/ only while this process holds
// Dovecot's uidlist lock (dovecot-uidlist.lock, a dotlock), so that a Dovecot reading the folder never sees a
// file in cur/ that the uidlist does not list yet (it would give it a UID of its own). The new uidlist is written
// into the lock file and renamed over dovecot-uidlist, as Dovecot does (src/lib-storage/index/maildir/
// maildir-uidlist.c). Names, lines and keyword letters come from shared/bundle/layout.ts, as the exporter's do.
import { type FileHandle, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { readIfExists } from '../adapters/read-if-exists';
import {
  COURIER_UIDDB,
  DOVECOT_KEYWORDS,
  DOVECOT_UIDLIST,
  FolderKeywords,
  messageFilePath,
  uidFiles,
} from '../bundle/layout';
import { dovecotKeywordsFile, parseMessageFileName } from '../bundle/maildir';
import { type DeliveryRecord, recordKeywordAtoms } from '../delivery-log/record';
import { syncDirectory, writeChunks, writeFileAtomically, writeWhole } from './state';

/** The first word of a uidlist lock that a sync holds. */
const LOCK_MARK = 'mail-archiver-sync';

/** The lock was taken by a sync of this host whose process is gone (killed while it held the lock). */
async function heldByDeadSync(path: string): Promise<boolean> {
  const [mark, pid, host] = (await readFile(path, 'utf8').catch(() => '')).split('\n')[0]?.split(' ') ?? [];
  if (mark !== LOCK_MARK || host !== hostname()) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (error) {
    return (error as { code?: string }).code === 'ESRCH';
  }
}

/** Dovecot overrides a uidlist lock left unchanged this long (maildir-uidlist.c: 2 minutes); so do we. */
const UIDLIST_LOCK_STALE_MS = 2 * 60 * 1000;
/** How long a commit waits for Dovecot to free the uidlist lock. */
const UIDLIST_LOCK_WAIT_MS = UIDLIST_LOCK_STALE_MS + 30_000;

/** A folder's dovecot-uidlist as read: its UIDVALIDITY and the base name of each UID. */
export interface UidList {
  uidValidity: number;
  files: Map<number, string>;
}

/** dovecot-uidlist of a folder directory; undefined when there is none yet. Lines it cannot read are left out. */
export async function readUidList(folderDir: string): Promise<UidList | undefined> {
  const text = await readIfExists(join(folderDir, DOVECOT_UIDLIST), 'utf8');
  if (text === undefined) return undefined;
  const [header = '', ...lines] = text.split('\n');
  const validity = /^3 .*?\bV(\d+)\b/.exec(header);
  const files = new Map<number, string>();
  for (const line of lines) {
    // `<uid> [extension fields] :<base name>` (version 3).
    const match = /^(\d+)(?: [^:]*)? :(.+)$/.exec(line);
    if (match) files.set(Number(match[1]), match[2] as string);
  }
  return { uidValidity: validity ? Number(validity[1]) : 0, files };
}

/** A message downloaded into the folder's tmp/, checked and fsynced, waiting to be renamed into cur/. */
export interface StagedMessage {
  record: DeliveryRecord;
  /** Its path in tmp/. */
  temporary: string;
}

/** The keywords of a folder (dovecot-keywords' order) and each message's file inside the folder (`cur/...`). */
export function folderFiles(records: readonly DeliveryRecord[]): {
  keywords: string[];
  fileOf: (record: DeliveryRecord) => string;
} {
  const keywords = new FolderKeywords();
  for (const record of records) keywords.add(recordKeywordAtoms(record));
  return {
    keywords: keywords.keywords,
    fileOf: (record) =>
      messageFilePath(record.file, record.flags, keywords.lettersOf(recordKeywordAtoms(record))),
  };
}

/**
 * Puts `staged` into the folder at `folderDir` whose messages are then `records` (every message the replica
 * holds in it, `staged` included, sorted by UID): dovecot-keywords first (a file never names a letter the
 * keywords file lacks), then, under the uidlist lock, each staged file renamed into cur/ (and any file whose
 * keyword letters moved renamed to its new letters), the uidlist and Courier's uid file rewritten, and the
 * directories fsynced. Throws what the file system throws, and an Error when the uidlist lock stays taken.
 */
export async function commitFolder(
  folderDir: string,
  uidValidity: number,
  records: readonly DeliveryRecord[],
  staged: readonly StagedMessage[],
): Promise<void> {
  const { keywords, fileOf } = folderFiles(records);
  const keywordsPath = join(folderDir, DOVECOT_KEYWORDS);
  const keywordsText = dovecotKeywordsFile(keywords);
  if ((await readFile(keywordsPath, 'utf8').catch(() => undefined)) !== keywordsText)
    await writeFileAtomically(keywordsPath, keywordsText);

  const lastUid = records.reduce((max, r) => Math.max(max, r.uid), 0);
  // Generated line by line as they are written (writeChunks): a folder's uidlists grow with the folder.
  function* dovecot() {
    yield uidFiles.dovecotHeader(uidValidity, lastUid);
    for (const r of records) yield uidFiles.dovecotLine(r.uid, r.file);
  }
  function* courier() {
    yield uidFiles.courierHeader(uidValidity, lastUid);
    for (const r of records) yield uidFiles.courierLine(r.uid, r.file);
  }

  const lockPath = join(folderDir, `${DOVECOT_UIDLIST}.lock`);
  const lock = await takeUidListLock(lockPath);
  try {
    // The new uidlist is written (and fsynced) into the lock before any file moves into cur/: a full disk stops
    // the commit here, with cur/ and the uidlist as they were.
    await lock.handle.truncate(0);
    await writeChunks(lock.handle, dovecot(), 0);
    await lock.handle.sync();
    await lock.handle.close();
    lock.closed = true;
    const stagedByFile = new Map(staged.map((s) => [s.record.file, s.temporary]));
    const present = new Map<string, string>();
    for (const name of await readdir(join(folderDir, 'cur'))) {
      const base = parseMessageFileName(name)?.baseName;
      if (base) present.set(base, name);
    }
    for (const record of records) {
      const wanted = fileOf(record);
      const temporary = stagedByFile.get(record.file);
      const current = present.get(record.file);
      if (temporary) {
        await rename(temporary, join(folderDir, wanted));
        if (current && `cur/${current}` !== wanted) await unlink(join(folderDir, 'cur', current));
      } else if (current && `cur/${current}` !== wanted) {
        await rename(join(folderDir, 'cur', current), join(folderDir, wanted));
      }
    }
    await syncDirectory(join(folderDir, 'cur'));
    await rename(lockPath, join(folderDir, DOVECOT_UIDLIST));
    lock.renamed = true;
    await writeFileAtomically(join(folderDir, COURIER_UIDDB), courier());
  } finally {
    if (!lock.closed) await lock.handle.close().catch(() => undefined);
    if (!lock.renamed) await unlink(lockPath).catch(() => undefined);
  }
}

/**
 * Creates the dotlock `path` (a folder's `dovecot-uidlist.lock`, or `dovecot-keywords.lock`) exclusively,
 * waiting while another process (Dovecot) holds it; a lock left unchanged for UIDLIST_LOCK_STALE_MS is stale (a
 * crashed writer) and is replaced, as Dovecot replaces it. The caller writes the file's new content into the
 * handle and renames the lock over the file (`renamed`), or unlinks it. Throws an Error when the lock stays
 * taken, and what the file system throws.
 */
export async function takeUidListLock(
  path: string,
): Promise<{ handle: FileHandle; closed: boolean; renamed: boolean }> {
  const started = Date.now();
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600);
      // Dovecot reads nothing in a dotlock but its presence and mtime; ours says whose it is until the new
      // uidlist replaces these bytes, so that a run killed while holding it has its lock freed at once.
      try {
        await writeWhole(handle, Buffer.from(`${LOCK_MARK} ${process.pid} ${hostname()}\n`));
      } catch (error) {
        await handle.close().catch(() => undefined);
        await unlink(path).catch(() => undefined);
        throw error;
      }
      return { handle, closed: false, renamed: false };
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
    }
    const info = await stat(path).catch(() => undefined);
    if (info && (Date.now() - info.mtimeMs > UIDLIST_LOCK_STALE_MS || (await heldByDeadSync(path)))) {
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (Date.now() - started > UIDLIST_LOCK_WAIT_MS)
      throw new Error(`${path} stayed locked for ${Math.round(UIDLIST_LOCK_WAIT_MS / 1000)} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
