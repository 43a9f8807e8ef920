// Messages to import, read from what people really have: `.eml` files and directories of them, maildirs
// (Maildir++ as Dovecot and Courier keep them, nested folders as mbsync copies them, offlineimap's layout, mb2md's
// output), mbox files (mboxo, mboxrd, mboxcl, mboxcl2; Google Takeout, Thunderbird, mutt and neomutt, getmail,
// classic Mac OS). Each message comes out as its exact bytes with what the source knew about it (envelope date,
// file time, folder, flags, labels); every other input comes out as a failure, a skip or a notice with its reason,
// never silently. This file walks the paths; the readers beside it read one file, maildir folder or mbox.
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { readFileSource } from './file-source';
import { readMaildirFolder } from './maildir-source';
import { type SourceItem, unreadable } from './source-items';

/** Total input bytes, for a progress bar. */
export async function totalBytes(paths: string[]): Promise<number> {
  let total = 0;
  const walk = async (path: string): Promise<void> => {
    try {
      const info = await stat(path);
      if (info.isDirectory()) {
        for (const entry of await readdir(path))
          if (!SKIPPED_NAMES.test(entry)) await walk(join(path, entry));
      } else total += info.size;
    } catch {
      // reported when read
    }
  };
  for (const path of paths) await walk(path);
  return total;
}

export async function* readSources(paths: string[]): AsyncGenerator<SourceItem> {
  for (const path of paths) {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (error) {
      yield unreadable(path, error);
      continue;
    }
    if (info.isDirectory()) yield* readDirectory(path, path);
    else yield* readFileSource(path);
  }
}

/** Server state, caches and tool state kept beside maildirs and mail folders: never messages. */
const SKIPPED_NAMES =
  /^(dovecot[.-].*|courierimap.*|maildirfolder|maildirsize|subscriptions|\.mbsyncstate.*|\.isyncuidmap.*|\.uidvalidity|\.DS_Store|.*\.msf|\.offlineimap|Info\.plist|table_of_contents|tmp)$/;

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

async function* readDirectory(dir: string, root: string): AsyncGenerator<SourceItem> {
  let entries: Dirent[];
  try {
    entries = (await readdir(dir, { withFileTypes: true })).sort(byName);
  } catch (error) {
    yield unreadable(dir, error);
    return;
  }
  const names = new Set(entries.map((e) => e.name));
  const isMaildir = names.has('cur') || names.has('new');
  if (isMaildir) yield* readMaildirFolder(dir, relative(root, dir), names);
  for (const entry of entries) {
    if (SKIPPED_NAMES.test(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (isMaildir && (entry.name === 'cur' || entry.name === 'new')) continue;
      // Hidden directories other than Maildir++ folders (.git, .Trash-1000 of a desktop) are not mail.
      if (entry.name.startsWith('.') && !(isMaildir || (await hasMaildir(path)))) continue;
      yield* readDirectory(path, root);
    } else if (entry.isFile() && !isMaildir && !entry.name.startsWith('.')) {
      yield* readFileSource(path, { root });
    }
  }
}

async function hasMaildir(dir: string): Promise<boolean> {
  try {
    const names = await readdir(dir);
    return names.includes('cur') || names.includes('new');
  } catch {
    return false;
  }
}
