// `serve` of a directory follows it: a message that a writer (`mail-archiver sync`) adds to the source maildir
// after serve copied it is added to serve's private copy too, with the UID the source's dovecot-uidlist gives it,
// so that a connected IMAP client sees it (IDLE, NOOP, STATUS) without a restart. Serve keeps a copy rather than
// serving the source in place because Dovecot writes into what it serves (its dovecot-uidlist and
// dovecot-uidvalidity files, renames on a flag change) and a replica must stay equal to an export; a message with
// a bare CR is served from a rewritten copy (shared/bundle/imap-lines.ts); and as root Dovecot runs as another
// user, who would need the source handed over. The copy is changed the way a second writer changes a folder that
// Dovecot serves: the file written into tmp/, renamed into cur/ only under Dovecot's uidlist lock, and the new
// uidlist written into the lock and renamed over the old one (shared/replica/folder.ts).
import {
  chown,
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  stat,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { type BundleLimits, DEFAULT_BUNDLE_LIMITS, entryProblem } from '../../shared/bundle/entries';
import { treeEntry } from '../../shared/bundle/extract';
import { servedAsCrlf } from '../../shared/bundle/imap-lines';
import {
  COURIER_SUBSCRIPTIONS,
  DOVECOT_KEYWORDS,
  DOVECOT_SUBSCRIPTIONS,
  DOVECOT_UIDLIST,
  FOLDER_SUBDIRECTORIES,
  MAILDIR_FOLDER_FILE,
} from '../../shared/bundle/layout';
import { parseMessageFileName } from '../../shared/bundle/maildir';
import { errorMessage } from '../../shared/errors';
import { readUidList, takeUidListLock } from '../../shared/replica/folder';

/** How often the source's uidlists are looked at (one stat per folder), in milliseconds. */
export const FOLLOW_INTERVAL_MS = 2000;

export interface FollowOptions {
  /** The maildir that was copied (the root folder: cur/, new/, tmp/ and the `.Folder` directories). */
  source: string;
  /** Serve's private copy of it, which Dovecot serves. */
  copy: string;
  /** As root: the account Dovecot runs as, given every file and directory added to the copy. */
  owner?: { uid: number; gid: number };
  /** @default FOLLOW_INTERVAL_MS */
  intervalMs?: number;
  /** What a new message file may be (a regular file, its size): the bundle rule, as for the first copy. */
  limits?: BundleLimits;
  /** Messages added to a folder of the copy ('INBOX' or the directory's name, `.Sent`), by UID. */
  onAdded?: (folder: string, uids: number[]) => void;
  /** Something not followed (said once each): a UID below one already served, a refused file, an error. */
  onProblem?: (message: string) => void;
}

export interface MaildirFollower {
  /** One pass now (what the timer does); resolves when it ends. Passes never overlap. */
  pass(): Promise<void>;
  /** Stops the timer and waits for a pass under way. */
  stop(): Promise<void>;
}

/** Starts following `source` into `copy`: a pass at once, then one every `intervalMs`. */
export function followMaildir(options: FollowOptions): MaildirFollower {
  const seen = new Map<string, string>();
  const said = new Set<string>();
  const problem = (message: string) => {
    if (said.has(message)) return;
    said.add(message);
    options.onProblem?.(message);
  };
  let current: Promise<void> = Promise.resolve();
  let stopped = false;
  const pass = () => {
    current = current.then(() =>
      stopped ? undefined : followPass(options, seen, problem).catch((e) => problem(errorMessage(e))),
    );
    return current;
  };
  const timer = setInterval(pass, options.intervalMs ?? FOLLOW_INTERVAL_MS);
  timer.unref();
  void pass();
  return {
    pass,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}

/** One look at every folder of the source: a folder whose dovecot-uidlist changed since the last pass is followed. */
async function followPass(
  options: FollowOptions,
  seen: Map<string, string>,
  problem: (message: string) => void,
): Promise<void> {
  const folders = [''];
  for (const entry of await readdir(options.source, { withFileTypes: true }))
    if (entry.isDirectory() && entry.name.startsWith('.')) folders.push(entry.name);
  let created = false;
  for (const folder of folders) created = (await ensureCopyFolder(options, folder)) || created;
  if (created) await copySubscriptions(options);
  for (const folder of folders) {
    const info = await stat(join(options.source, folder, DOVECOT_UIDLIST)).catch(() => undefined);
    if (!info) continue;
    const stamp = `${info.ino} ${info.mtimeMs} ${info.size}`;
    if (seen.get(folder) === stamp) continue;
    if (await followFolder(options, folder, problem)) seen.set(folder, stamp);
  }
}

/**
 * A folder new in the source appears in the copy whole, with the source's UIDVALIDITY already in its uidlist: it
 * is built aside and renamed into place, so Dovecot never sees it without its uidlist (it would give it a
 * UIDVALIDITY of its own). Returns whether it was created.
 */
async function ensureCopyFolder(options: FollowOptions, folder: string): Promise<boolean> {
  const target = join(options.copy, folder);
  if (await stat(target).catch(() => undefined)) return false;
  const aside = join(options.copy, 'tmp', `follow-${process.pid}-${Date.now()}${folder}`);
  for (const sub of FOLDER_SUBDIRECTORIES) await mkdir(join(aside, sub), { recursive: true, mode: 0o700 });
  await writeFile(join(aside, MAILDIR_FOLDER_FILE), '', { mode: 0o600 });
  const list = await readUidList(join(options.source, folder));
  if (list) await writeFile(join(aside, DOVECOT_UIDLIST), `3 V${list.uidValidity} N1\n`, { mode: 0o600 });
  await giveToOwner(options, aside, ...(await readdir(aside)).map((name) => join(aside, name)));
  await rename(aside, target);
  return true;
}

async function copySubscriptions(options: FollowOptions): Promise<void> {
  for (const name of [DOVECOT_SUBSCRIPTIONS, COURIER_SUBSCRIPTIONS]) {
    const text = await readFile(join(options.source, name)).catch(() => undefined);
    if (text === undefined) continue;
    const aside = join(options.copy, 'tmp', `follow-${name}`);
    await writeFile(aside, text, { mode: 0o600 });
    await giveToOwner(options, aside);
    await rename(aside, join(options.copy, name));
  }
}

/** A message taken from the source, written into the copy's tmp/. */
interface Staged {
  uid: number;
  baseName: string;
  temporary: string;
  name: string;
}

/**
 * Adds to the copy's folder every message the source's uidlist lists under a UID above every UID the copy has.
 * Returns false when a listed file was not found (looked for again at the next pass), true otherwise.
 */
async function followFolder(
  options: FollowOptions,
  folder: string,
  problem: (message: string) => void,
): Promise<boolean> {
  const label = folder === '' ? 'INBOX' : folder;
  const sourceDir = join(options.source, folder);
  const copyDir = join(options.copy, folder);
  const source = await readUidList(sourceDir);
  const copied = await readCopyUidList(copyDir);
  if (!source) return true;
  if (copied && copied.uidValidity !== source.uidValidity) {
    problem(
      `${label}: UIDVALIDITY ${source.uidValidity} in the source, ${copied.uidValidity} in the copy served: not followed (restart serve)`,
    );
    return true;
  }
  const served = copied ?? { uidValidity: source.uidValidity, uids: new Set<number>(), highest: 0 };
  const wanted = [...source.files].filter(([uid]) => !served.uids.has(uid)).sort(([a], [b]) => a - b);
  if (wanted.length === 0) return true;

  const files = new Map<string, string>();
  for (const sub of ['cur', 'new'])
    for (const name of await readdir(join(sourceDir, sub)).catch(() => [] as string[])) {
      const base = parseMessageFileName(name)?.baseName;
      if (base) files.set(base, `${sub}/${name}`);
    }
  const keywords = await keywordTranslation(sourceDir, copyDir);
  const staged: Staged[] = [];
  let complete = true;
  try {
    for (const [uid, baseName] of wanted) {
      if (uid <= served.highest) {
        problem(
          `${label}: UID ${uid} (${baseName}) arrived after UID ${served.highest} was served; an IMAP client cannot be shown a lower UID, so it shows when serve restarts`,
        );
        continue;
      }
      const file = files.get(baseName);
      if (!file) {
        complete = false;
        continue;
      }
      const path = join(sourceDir, file);
      const info = await lstat(path);
      const refused = entryProblem(
        treeEntry(join(folder, file), info),
        options.limits ?? DEFAULT_BUNDLE_LIMITS,
      );
      if (refused) {
        problem(`${label}: UID ${uid} not served: ${refused}`);
        continue;
      }
      const bytes = await readFile(path);
      const name = keywords.rename(file.slice(file.indexOf('/') + 1));
      const crlf = servedAsCrlf(bytes, name);
      const finalName = crlf?.name ?? name;
      const temporary = join(copyDir, 'tmp', `follow-${finalName}`);
      await writeFile(temporary, crlf?.bytes ?? bytes, { mode: 0o600 });
      await utimes(temporary, info.atime, info.mtime);
      await giveToOwner(options, temporary);
      staged.push({
        uid,
        baseName: parseMessageFileName(finalName)?.baseName ?? baseName,
        temporary,
        name: finalName,
      });
    }
    if (staged.length === 0) return complete;
    await keywords.write(options);
    await commitToCopy(options, copyDir, source.uidValidity, staged, problem, label);
    options.onAdded?.(
      folder === '' ? 'INBOX' : folder,
      staged.map((s) => s.uid),
    );
  } finally {
    for (const s of staged) await unlink(s.temporary).catch(() => undefined);
  }
  return complete;
}

/** The copy's uidlist: its UIDVALIDITY, its UIDs, and the highest UID it has used (its N less one, or more). */
async function readCopyUidList(
  copyDir: string,
): Promise<{ uidValidity: number; uids: Set<number>; highest: number } | undefined> {
  const text = await readFile(join(copyDir, DOVECOT_UIDLIST), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const list = await readUidList(copyDir);
  const next = /^3 .*?\bN(\d+)\b/.exec(text)?.[1];
  const uids = new Set(list?.files.keys() ?? []);
  return {
    uidValidity: list?.uidValidity ?? 0,
    uids,
    highest: Math.max(next ? Number(next) - 1 : 0, ...uids),
  };
}

/**
 * Under the copy's uidlist lock: each staged file renamed into cur/ and its line added to the uidlist, whose
 * header's next UID (N) moves past them; the rest of Dovecot's uidlist is kept as it is. A UID that the copy
 * used meanwhile (a client's APPEND) is left out and said.
 */
/**
 * Replaces `path` with `text` while the caller holds its dotlock: written beside it (`<name>.tmp-<pid>`), given
 * to the copy's owner and renamed over it. Not written into the lock as Dovecot does, so the lock names this
 * process until it is removed and a killed run's is freed at once (takeUidListLock). Throws what the file system
 * throws, leaving no temporary.
 */
async function replaceHoldingLock(options: FollowOptions, path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(temporary, text, { mode: 0o600 });
    await giveToOwner(options, temporary);
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

async function commitToCopy(
  options: FollowOptions,
  copyDir: string,
  uidValidity: number,
  staged: Staged[],
  problem: (message: string) => void,
  label: string,
): Promise<void> {
  const uidlistPath = join(copyDir, DOVECOT_UIDLIST);
  const lockPath = `${uidlistPath}.lock`;
  const lock = await takeUidListLock(lockPath);
  try {
    const text = await readFile(uidlistPath, 'utf8').catch(() => `3 V${uidValidity} N1\n`);
    const copied = await readCopyUidList(copyDir);
    const [header = '', ...rest] = text
      .split('\n')
      .filter((line, i, all) => line !== '' || i < all.length - 1);
    const lines = rest.filter((line) => line !== '');
    let highest = copied?.highest ?? 0;
    for (const s of staged) {
      if (s.uid <= highest) {
        problem(`${label}: UID ${s.uid} was taken in the copy meanwhile; it shows when serve restarts`);
        continue;
      }
      await rename(s.temporary, join(copyDir, 'cur', s.name));
      lines.push(`${s.uid} :${s.baseName}`);
      highest = s.uid;
    }
    const next = `N${highest + 1}`;
    const newHeader = /\bN\d+\b/.test(header) ? header.replace(/\bN\d+\b/, next) : `${header} ${next}`;
    await replaceHoldingLock(options, uidlistPath, `${[newHeader, ...lines].join('\n')}\n`);
    await unlink(lockPath);
    lock.renamed = true;
  } finally {
    if (!lock.renamed) await unlink(lockPath).catch(() => undefined);
  }
}

/**
 * Keyword letters (a..z, an index into the folder's dovecot-keywords) mean the source's keywords; in the copy a
 * letter must mean the copy's (Dovecot may have added keywords of its own there). `rename` gives a file name with
 * the copy's letters (a keyword the copy lacks is added at its end); `write` writes the copy's dovecot-keywords,
 * when keywords were added, under its lock as Dovecot does.
 */
async function keywordTranslation(sourceDir: string, copyDir: string) {
  const read = async (dir: string) =>
    new Map(
      (await readFile(join(dir, DOVECOT_KEYWORDS), 'utf8').catch(() => ''))
        .split('\n')
        .map((line) => /^(\d+) (.+)$/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [Number(m[1]), m[2] as string]),
    );
  const source = await read(sourceDir);
  const copy = await read(copyDir);
  const indexOf = new Map([...copy].map(([i, k]) => [k, i]));
  let added = false;
  return {
    rename(name: string): string {
      const at = name.indexOf(':2,');
      if (at < 0) return name;
      const flags = [...name.slice(at + 3)];
      const letters = flags.flatMap((flag) => {
        if (flag < 'a' || flag > 'z') return [flag];
        const keyword = source.get(flag.charCodeAt(0) - 97);
        if (keyword === undefined) return [];
        let index = indexOf.get(keyword);
        if (index === undefined) {
          index = Math.max(-1, ...copy.keys()) + 1;
          if (index > 25) return [];
          copy.set(index, keyword);
          indexOf.set(keyword, index);
          added = true;
        }
        return [String.fromCharCode(97 + index)];
      });
      return `${name.slice(0, at + 3)}${[...new Set(letters)].sort().join('')}`;
    },
    async write(options: FollowOptions): Promise<void> {
      if (!added) return;
      const path = join(copyDir, DOVECOT_KEYWORDS);
      const lock = await takeUidListLock(`${path}.lock`);
      try {
        const text = [...copy].sort(([a], [b]) => a - b).map(([i, k]) => `${i} ${k}\n`);
        await replaceHoldingLock(options, path, text.join(''));
        await unlink(`${path}.lock`);
        lock.renamed = true;
        added = false;
      } finally {
        if (!lock.renamed) await unlink(`${path}.lock`).catch(() => undefined);
      }
    },
  };
}

async function giveToOwner(options: FollowOptions, ...paths: string[]): Promise<void> {
  if (!options.owner) return;
  for (const path of paths) await chown(path, options.owner.uid, options.owner.gid);
}
