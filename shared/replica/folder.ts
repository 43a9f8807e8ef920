// One maildir folder of a replica, written the way Dovecot expects a second writer to behave: a message is
// downloaded into tmp/, checked and fsynced there (fetch.ts), and renamed into cur/ only while this process holds
// Dovecot's uidlist lock (dovecot-uidlist.lock, a dotlock), so that a Dovecot reading the folder never sees a
// file in cur/ that the uidlist does not list yet (it would give it a UID of its own). The new uidlist is written
// beside it and renamed over dovecot-uidlist while the lock is held (Dovecot writes it into the lock itself,
// src/lib-storage/index/maildir/maildir-uidlist.c; ours keeps naming its holder, see commitFolder). Names,
// lines and keyword letters come from shared/bundle/layout.ts, as the exporter's do.
import { open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createWithContent, processAlive } from '../adapters/pid-lock';
import { readIfExists } from '../adapters/read-if-exists';
import { COURIER_UIDDB, DOVECOT_KEYWORDS, DOVECOT_UIDLIST, uidFiles } from '../bundle/layout';
import { dovecotKeywordsFile, parseMessageFileName } from '../bundle/maildir';
import type { DeliveryRecord } from '../delivery-log/record';
import type { FolderIndex, KeywordTable } from './mailbox-index';
import { syncDirectory, writeChunks, writeFileAtomically } from './state';

/** The first word of a uidlist lock that a sync holds. */
const LOCK_MARK = 'mail-archiver-sync';

/** The lock was taken by a sync of this host whose process is gone (killed while it held the lock). */
async function heldByDeadSync(path: string): Promise<boolean> {
  const [mark, pid, host] = (await readFile(path, 'utf8').catch(() => '')).split('\n')[0]?.split(' ') ?? [];
  if (mark !== LOCK_MARK || host !== hostname()) return false;
  // Only a pid that names one process: 0 and negatives name process groups, and a pid that does not parse is
  // not ours to judge (the lock then waits for Dovecot's staleness rule).
  const n = Number(pid);
  return /^[1-9]\d*$/.test(pid ?? '') && Number.isSafeInteger(n) && !processAlive(n);
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

/**
 * A folder's dovecot-uidlist as `index` does not know it: its UIDVALIDITY and the UIDs it names that `index` lacks
 * (a run stopped after its uidlist was written and before its journal was, or a journal rebuilt); undefined when
 * there is no uidlist. Read a line at a time from the text; lines it cannot read are left out.
 */
export async function readUidListBeyond(
  folderDir: string,
  index: FolderIndex | undefined,
): Promise<{ uidValidity: number; extras: Map<number, string> } | undefined> {
  const text = await readIfExists(join(folderDir, DOVECOT_UIDLIST), 'utf8');
  if (text === undefined) return undefined;
  const headerEnd = text.indexOf('\n');
  const validity = /^3 .*?\bV(\d+)\b/.exec(text.slice(0, headerEnd < 0 ? text.length : headerEnd));
  const extras = new Map<number, string>();
  const line = /^(\d+)(?: [^:\n]*)? :([^\n]+)$/my;
  for (let start = headerEnd + 1; start > 0 && start < text.length; ) {
    const end = text.indexOf('\n', start);
    const uid = Number.parseInt(text.slice(start, Math.min(start + 11, end < 0 ? text.length : end)), 10);
    if (uid > 0 && !(index && index.find(uid) >= 0)) {
      line.lastIndex = start;
      const match = line.exec(text);
      if (match) extras.set(uid, match[2] as string);
    }
    start = end + 1;
  }
  return { uidValidity: validity ? Number(validity[1]) : 0, extras };
}

/** A message downloaded into the folder's tmp/, checked and fsynced, waiting to be renamed into cur/. */
export interface StagedMessage {
  record: DeliveryRecord;
  /** Its path in tmp/. */
  temporary: string;
}

/** `later` keeps every keyword of `earlier` at its place (no file's keyword letters move). */
const extends_ = (earlier: readonly string[], later: readonly string[]) =>
  earlier.every((keyword, i) => later[i] === keyword);

/**
 * Puts `staged` (downloaded) and `inPlace` (found in cur/ with their bytes) into the folder at `folderDir`, whose
 * messages `index` holds (they are added to it): dovecot-keywords first (a file never names a letter the keywords
 * file lacks), then, under the uidlist lock, each staged file renamed into cur/ (and any file whose keyword letters
 * moved renamed to its new letters), the uidlist and Courier's uid file rewritten from the index, and the
 * directories fsynced. cur/ is listed only when it may hold files the index does not account for: `inPlace` or
 * `scan` (the uidlist named messages the index lacked), a lock taken over from a run that stopped while holding
 * it, or a file not where the index puts it.
 * Throws what the file system throws, and an Error when the uidlist lock stays taken.
 */
export async function commitFolder(
  folderDir: string,
  index: FolderIndex,
  staged: readonly StagedMessage[],
  options: { inPlace?: readonly DeliveryRecord[]; scan?: boolean } = {},
): Promise<void> {
  const inPlace = options.inPlace ?? [];
  const before = index.keywordTable();
  index.add(
    [...staged.map((s) => s.record), ...inPlace].map((record) => ({ record, offset: -1, length: 0 })),
  );
  const table = index.keywordTable();
  const keywordsPath = join(folderDir, DOVECOT_KEYWORDS);
  const keywordsText = dovecotKeywordsFile(table.keywords);
  if ((await readFile(keywordsPath, 'utf8').catch(() => undefined)) !== keywordsText)
    await writeFileAtomically(keywordsPath, keywordsText);

  const { uidValidity, lastUid } = index;
  // Generated line by line as they are written (writeChunks): a folder's uidlists grow with the folder.
  function* dovecot() {
    yield uidFiles.dovecotHeader(uidValidity, lastUid);
    for (let i = 0; i < index.count; i++) yield uidFiles.dovecotLine(index.uid(i), index.file(i));
  }
  function* courier() {
    yield uidFiles.courierHeader(uidValidity, lastUid);
    for (let i = 0; i < index.count; i++) yield uidFiles.courierLine(index.uid(i), index.file(i));
  }

  const lockPath = join(folderDir, `${DOVECOT_UIDLIST}.lock`);
  // The new uidlist goes to a temporary of this process beside it (swept by writeFileAtomically once the process
  // is gone), not into the lock as Dovecot writes it: the lock keeps naming this sync until it is removed, so a
  // run killed mid-commit has its lock freed by the next run at once instead of after Dovecot's 2 minutes.
  const uidListTemporary = join(folderDir, `${DOVECOT_UIDLIST}.tmp-${process.pid}`);
  const lock = await takeUidListLock(lockPath);
  let uidListRenamed = false;
  try {
    // The new uidlist is written (and fsynced) before any file moves into cur/: a full disk stops the commit
    // here, with cur/ and the uidlist as they were.
    const uidList = await open(uidListTemporary, 'w', 0o600);
    try {
      await writeChunks(uidList, dovecot(), 0);
      await uidList.sync();
    } finally {
      await uidList.close();
    }
    const stagedByFile = new Map(staged.map((s) => [s.record.file, s.temporary]));
    let scan = options.scan === true || inPlace.length > 0 || lock.tookOver;
    if (!scan) {
      for (const { record, temporary } of staged) {
        await rename(temporary, join(folderDir, index.filePath(index.find(record.uid), table)));
        stagedByFile.delete(record.file);
      }
      if (!extends_(before.keywords, table.keywords))
        for (let i = 0; i < index.count && !scan; i++) {
          const from = index.filePath(i, before);
          const to = index.filePath(i, table);
          if (from === to || stagedByFile.has(index.file(i))) continue;
          // Not where the index puts it (Dovecot renamed it, with flags a client set): cur/ is listed.
          await rename(join(folderDir, from), join(folderDir, to)).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== 'ENOENT') throw error;
            scan = true;
          });
        }
    }
    if (scan) await renameListed(folderDir, index, table, stagedByFile);
    await syncDirectory(join(folderDir, 'cur'));
    await rename(uidListTemporary, join(folderDir, DOVECOT_UIDLIST));
    uidListRenamed = true;
    await unlink(lockPath);
    lock.renamed = true;
    await writeFileAtomically(join(folderDir, COURIER_UIDDB), courier());
  } finally {
    if (!uidListRenamed) await unlink(uidListTemporary).catch(() => undefined);
    if (!lock.renamed) await unlink(lockPath).catch(() => undefined);
  }
}

/**
 * Lists cur/ and puts every message of the index under the name it wants: a staged file renamed in (an earlier
 * copy of it under another name removed), a file in place renamed when its letters differ.
 */
async function renameListed(
  folderDir: string,
  index: FolderIndex,
  table: KeywordTable,
  stagedByFile: Map<string, string>,
): Promise<void> {
  const present = new Map<string, string>();
  for (const name of await readdir(join(folderDir, 'cur'))) {
    const base = parseMessageFileName(name)?.baseName;
    if (base) present.set(base, name);
  }
  for (let i = 0; i < index.count; i++) {
    const file = index.file(i);
    const wanted = index.filePath(i, table);
    const temporary = stagedByFile.get(file);
    const current = present.get(file);
    if (temporary) {
      await rename(temporary, join(folderDir, wanted));
      if (current && `cur/${current}` !== wanted) await unlink(join(folderDir, 'cur', current));
    } else if (current && `cur/${current}` !== wanted) {
      await rename(join(folderDir, 'cur', current), join(folderDir, wanted));
    }
  }
}

/**
 * Creates the dotlock `path` (a folder's `dovecot-uidlist.lock`, or `dovecot-keywords.lock`) exclusively,
 * waiting while another process (Dovecot) holds it; a lock left unchanged for UIDLIST_LOCK_STALE_MS is stale (a
 * crashed writer) and is replaced, as Dovecot replaces it, and so is one a dead sync of this host left. The caller
 * writes the file's new content beside it, renames that over the file and unlinks the lock (`renamed`);
 * `tookOver`: a stale lock was replaced. Throws an Error when the lock stays taken, and what the file system
 * throws.
 */
export async function takeUidListLock(path: string): Promise<{ renamed: boolean; tookOver: boolean }> {
  const started = Date.now();
  let tookOver = false;
  for (;;) {
    try {
      // Dovecot reads nothing in a dotlock but its presence and mtime; ours says whose it is from its first byte
      // (written whole before it takes its name), so that a run killed while holding it has it freed at once.
      await createWithContent(path, `${LOCK_MARK} ${process.pid} ${hostname()}\n`);
      return { renamed: false, tookOver };
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
    }
    const info = await stat(path).catch(() => undefined);
    if (info && (Date.now() - info.mtimeMs > UIDLIST_LOCK_STALE_MS || (await heldByDeadSync(path)))) {
      await unlink(path).catch(() => undefined);
      tookOver = true;
      continue;
    }
    if (Date.now() - started > UIDLIST_LOCK_WAIT_MS)
      throw new Error(`${path} stayed locked for ${Math.round(UIDLIST_LOCK_WAIT_MS / 1000)} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
