// Messages to import, read from .eml files, directories of them, maildirs and mbox files (mboxo and mboxrd).
// Each message comes out as its exact bytes; nothing is skipped silently: unreadable inputs come out as
// failures with their reason.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { readMbox } from '../shared/bundle/mbox';

export interface SourceMessage {
  kind: 'message';
  raw: Buffer;
  /** Where it came from, for the report: a path, or path#n inside an mbox. */
  origin: string;
  /** The best receive time the source knows: maildir mtime, mbox From_ line. */
  receivedAt?: Date;
  /** A folder the source filed it in (maildir folder, Gmail label), used to recognise sent mail. */
  folderHints: string[];
  /** Bytes of the input this message accounts for, for progress. */
  sourceBytes: number;
}

export interface SourceFailure {
  kind: 'failure';
  origin: string;
  reason: string;
  sourceBytes: number;
}

export type SourceItem = SourceMessage | SourceFailure;

function unreadable(origin: string, error: unknown): SourceFailure {
  return { kind: 'failure', origin, reason: `cannot read: ${(error as Error).message}`, sourceBytes: 0 };
}

/** Total input bytes, for a progress bar. */
export async function totalBytes(paths: string[]): Promise<number> {
  let total = 0;
  for (const path of paths) {
    try {
      const info = await stat(path);
      if (info.isDirectory()) {
        for (const file of await listFiles(path)) total += (await stat(file)).size;
      } else total += info.size;
    } catch {
      // reported when read
    }
  }
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
    if (info.isDirectory()) {
      if (await isMaildir(path)) yield* readMaildir(path);
      else for (const file of await listFiles(path)) yield* readFileSource(file, []);
    } else {
      yield* readFileSource(path, []);
    }
  }
}

async function isMaildir(dir: string): Promise<boolean> {
  const entries = new Set(await readdir(dir));
  return entries.has('cur') || entries.has('new');
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else if (entry.isFile() && !entry.name.startsWith('.')) out.push(path);
  }
  return out;
}

/** Maildir++: the root is INBOX, `.Name` subdirectories are folders; messages in cur/ and new/. */
async function* readMaildir(root: string): AsyncGenerator<SourceItem> {
  const folders: { dir: string; name: string }[] = [{ dir: root, name: 'INBOX' }];
  for (const entry of (await readdir(root, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    if (entry.isDirectory() && entry.name.startsWith('.') && entry.name.length > 1) {
      folders.push({ dir: join(root, entry.name), name: entry.name.slice(1) });
    }
  }
  for (const folder of folders) {
    for (const sub of ['cur', 'new']) {
      let names: string[];
      try {
        names = (await readdir(join(folder.dir, sub))).sort();
      } catch {
        continue;
      }
      for (const name of names) {
        const path = join(folder.dir, sub, name);
        try {
          const [raw, info] = await Promise.all([readFile(path), stat(path)]);
          yield {
            kind: 'message',
            raw,
            origin: path,
            receivedAt: info.mtime,
            folderHints: [folder.name],
            sourceBytes: info.size,
          };
        } catch (error) {
          yield { kind: 'failure', origin: path, reason: (error as Error).message, sourceBytes: 0 };
        }
      }
    }
  }
}

async function* readFileSource(path: string, folderHints: string[]): AsyncGenerator<SourceItem> {
  let head: Buffer;
  try {
    const handle = await import('node:fs/promises').then((fs) => fs.open(path));
    try {
      const buffer = Buffer.alloc(5);
      const { bytesRead } = await handle.read(buffer, 0, 5, 0);
      head = buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    yield unreadable(path, error);
    return;
  }
  if (head.toString('latin1') === 'From ') {
    yield* readMboxSource(path);
    return;
  }
  const raw = await readFile(path);
  const size = raw.length;
  if (size === 0) {
    yield { kind: 'failure', origin: path, reason: 'empty file', sourceBytes: 0 };
    return;
  }
  yield { kind: 'message', raw, origin: path, folderHints, sourceBytes: size };
}

/** An mbox file's messages, with Google Takeout's own header fields taken off (their labels kept as hints). */
async function* readMboxSource(path: string): AsyncGenerator<SourceItem> {
  for await (const item of readMbox(path)) {
    if (item.kind === 'failure') {
      yield item;
      continue;
    }
    const takeout = stripTakeoutHeaders(item.raw);
    yield { ...item, raw: takeout.raw, folderHints: takeout.labels };
  }
}

/**
 * Google Takeout prepends `X-GM-THRID:` and `X-Gmail-Labels:` to every message. They are not part of the mail:
 * without removing them the same message never matches its other copies. The labels are kept as hints.
 */
export function stripTakeoutHeaders(raw: Buffer): { raw: Buffer; labels: string[] } {
  let offset = 0;
  const labels: string[] = [];
  for (;;) {
    const lineEnd = raw.indexOf(10, offset);
    if (lineEnd < 0) break;
    const line = raw.toString('utf8', offset, lineEnd).replace(/\r$/, '');
    const match = line.match(/^(X-GM-THRID|X-Gmail-Labels):\s?(.*)$/i);
    if (!match) break;
    if (match[1]?.toLowerCase() === 'x-gmail-labels') labels.push(...splitLabels(match[2] ?? ''));
    offset = lineEnd + 1;
  }
  return { raw: offset ? raw.subarray(offset) : raw, labels };
}

function splitLabels(value: string): string[] {
  const labels: string[] = [];
  for (const match of value.matchAll(/"((?:[^"\\]|\\.)*)"|([^,]+)/g)) {
    const label = (match[1] ?? match[2] ?? '').trim();
    if (label) labels.push(label);
  }
  return labels;
}

export const describeOrigin = (origin: string) => basename(origin);
