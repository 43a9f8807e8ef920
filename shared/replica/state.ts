// The replica's own bookkeeping, beside the mailboxes it keeps (so that `diff -r` of a mailbox against an unpacked
// bundle sees none of it):
//
//   DIR/.mail-archiver-sync/
//     lock                     the run lock (`<pid> <host>`): one sync at a time
//     progress.json            the log cursor, the records to try again, the last runs
//     mailboxes/<mailbox>.jsonl   every delivery record applied to DIR/<mailbox>/, one canonical line each
//     mailboxes/<mailbox>.manifest-due   present while the mailbox's manifest.json is behind its journal
//     transparency/            the replica's copy of the transparency log: key.pub, every checkpoint it copied
//                              (checkpoints/<size>) and the entry bundles (tile/entries/...), in the log's own
//                              layout (shared/transparency/replica-log.ts)
//
// Every file is written to a temporary name, fsynced and renamed (the journals are appended and fsynced), so a
// crash leaves the old file or the new one, never a mix.
import { type FileHandle, open, readdir, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { processAlive } from '../adapters/pid-lock';
import { readIfExists } from '../adapters/read-if-exists';
import { LOG_START, type LogCursor } from '../delivery-log/layout';
import {
  canonicalRecord,
  type DeliveryRecord,
  isKnownRecordVersion,
  parseRecordLine,
  RECORD_FILE_NAME,
} from '../delivery-log/record';
import { errorMessage } from '../errors';
import { ReplicaProgressError } from './errors';

/** The directory of the replica's bookkeeping inside DIR. */
export const REPLICA_STATE_DIR = '.mail-archiver-sync';

/** The name ending of a mailbox's marker: its manifest is behind its journal (written at the end of a run). */
export const FILES_DUE = '.manifest-due';

export const replicaPaths = (dir: string) => {
  const state = join(dir, REPLICA_STATE_DIR);
  return {
    state,
    lock: join(state, 'lock'),
    progress: join(state, 'progress.json'),
    journals: join(state, 'mailboxes'),
    journal: (mailbox: string) => join(state, 'mailboxes', `${encodeURIComponent(mailbox)}.jsonl`),
    /** Present while a mailbox's manifest.json (and subscriptions, README.txt) are behind its journal. */
    filesDue: (mailbox: string) => join(state, 'mailboxes', `${encodeURIComponent(mailbox)}${FILES_DUE}`),
    /** The replica's copy of the transparency log (shared/transparency/replica-log.ts). */
    transparency: join(state, 'transparency'),
    /** A mailbox's tree: DIR/<mailbox address>/ (manifest.json, README.txt, Maildir/). */
    mailbox: (mailbox: string) => join(dir, mailbox),
  };
};

/** One sync run as progress.json remembers it (status and doctor read it). */
export interface ReplicaRun {
  /** ISO 8601 UTC: when the run started and ended. */
  startedAt: string;
  endedAt: string;
  ok: boolean;
  /** Messages written into the replica by this run. */
  added: number;
  /** Problems reported (records not applied, bad log lines). */
  problems: number;
}

export interface ReplicaProgress {
  v: 1;
  /** The archive this replica copies: `local` or `aws`, and its bucket. */
  source: { target: string; bucket: string };
  /** The mailboxes kept (--mailbox), sorted; null: all of them. */
  mailboxes: string[] | null;
  cursor: LogCursor;
  /** Records not applied yet (object missing upstream, bytes that do not match): tried again on each run. */
  retry: DeliveryRecord[];
  /**
   * Per mailbox, the bytes of whole lines its journal held when the cursor last moved: a journal found shorter
   * (removed, emptied, cut short) lost records the cursor is past, and is handled as a damaged one. Absent in a
   * progress file written before it was kept: nothing is checked then.
   */
  journals?: Record<string, number>;
  /**
   * The delivery-log objects (keys) holding a line that did not parse: read again and reported on every run until
   * they parse (then their records are applied and the key dropped). Absent: none.
   */
  unparsed?: string[];
  /** The last run that ended without a problem, and the last run. */
  lastSuccess?: ReplicaRun;
  lastRun?: ReplicaRun;
}

const runSchema = z.object({
  startedAt: z.string(),
  endedAt: z.string(),
  ok: z.boolean(),
  added: z.number().int().min(0),
  problems: z.number().int().min(0),
});
const progressSchema = z.object({
  v: z.literal(1),
  source: z.object({ target: z.string(), bucket: z.string() }),
  mailboxes: z.array(z.string()).nullable(),
  cursor: z.object({ after: z.string(), seen: z.array(z.string()) }),
  retry: z.array(z.string()),
  journals: z.record(z.string(), z.number().int().min(0)).optional(),
  unparsed: z.array(z.string()).optional(),
  lastSuccess: runSchema.optional(),
  lastRun: runSchema.optional(),
});

/** A new replica's progress: nothing read yet. */
export function newProgress(source: ReplicaProgress['source'], mailboxes: string[] | null): ReplicaProgress {
  return { v: 1, source, mailboxes, cursor: LOG_START, retry: [] };
}

/**
 * progress.json, or undefined when there is none. Throws ReplicaProgressError (naming the file and what is
 * wrong) when it does not parse.
 */
export async function readProgress(path: string): Promise<ReplicaProgress | undefined> {
  const text = await readIfExists(path, 'utf8');
  if (text === undefined) return undefined;
  try {
    const parsed = progressSchema.parse(JSON.parse(text));
    return { ...parsed, v: 1, retry: parsed.retry.map(parseRecordLine) } as ReplicaProgress;
  } catch (error) {
    throw new ReplicaProgressError(`${path} is damaged (${errorMessage(error).split('\n')[0]})`, {
      cause: error,
    });
  }
}

export async function writeProgress(path: string, progress: ReplicaProgress): Promise<void> {
  const { retry, ...rest } = progress;
  await writeFileAtomically(
    path,
    `${JSON.stringify({ ...rest, retry: retry.map(canonicalRecord) }, null, 1)}\n`,
  );
}

/** How much of a journal is read at a time. */
const JOURNAL_CHUNK = 1 << 20;

/**
 * The journal's records one at a time, each with where its line starts (bytes) and its length in bytes without
 * the LF; nothing when there is no journal. The last line counts only when its LF is there: a line torn by a crash
 * or a full disk was not applied (appendJournal cuts it off before it appends). Throws ReplicaProgressError naming
 * the line when one does not parse.
 */
export async function* readJournalLines(
  path: string,
): AsyncGenerator<{ record: DeliveryRecord; offset: number; length: number }> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!handle) return;
  try {
    let held = Buffer.alloc(0);
    let heldAt = 0;
    let number = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(JOURNAL_CHUNK);
      const { bytesRead } = await handle.read(chunk, 0, JOURNAL_CHUNK, heldAt + held.length);
      if (bytesRead === 0) return;
      const data = held.length
        ? Buffer.concat([held, chunk.subarray(0, bytesRead)])
        : chunk.subarray(0, bytesRead);
      let start = 0;
      for (let end = data.indexOf(0x0a); end >= 0; end = data.indexOf(0x0a, start)) {
        number += 1;
        const line = data.toString('utf8', start, end);
        let record: DeliveryRecord;
        try {
          record = parseJournalLine(line);
        } catch (error) {
          throw new ReplicaProgressError(`${path} line ${number} is damaged (${errorMessage(error)})`, {
            cause: error,
          });
        }
        yield { record, offset: heldAt + start, length: end - start };
        start = end + 1;
      }
      heldAt += start;
      held = Buffer.from(data.subarray(start));
    }
  } finally {
    await handle.close();
  }
}

/**
 * A journal line as a record. The replica wrote it from a record parseRecordLine had accepted, so it is read back
 * with JSON.parse and a check of what a damaged line would break (the fields a replica names files and orders
 * messages by), not the record's whole schema, which is most of the cost of reading a large mailbox's journal.
 * Throws an Error saying which fields are wrong.
 */
export function parseJournalLine(line: string): DeliveryRecord {
  const value = JSON.parse(line) as Record<string, unknown> | null;
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const strings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
  const wrong = [
    !isKnownRecordVersion(record.v) && 'v',
    ...(['mailbox', 'folder', 'objectKey', 'sha256', 'receivedAt', 'messageKey'] as const).filter(
      (k) => typeof record[k] !== 'string',
    ),
    ...(['uidValidity', 'uid', 'size'] as const).filter((k) => !Number.isSafeInteger(record[k])),
    !strings(record.flags) && 'flags',
    !strings(record.keywords) && 'keywords',
    !(typeof record.file === 'string' && RECORD_FILE_NAME.test(record.file)) && 'file',
  ].filter(Boolean);
  if (wrong.length > 0) throw new Error(`not a delivery record (${wrong.join(', ')})`);
  return record as unknown as DeliveryRecord;
}

/** Reads lines of a journal by position (the index's order), a window of the file at a time. */
export class JournalReader {
  private buffer = Buffer.alloc(0);
  private window = Buffer.alloc(0);
  private windowAt = 0;

  private constructor(private readonly handle: FileHandle) {}

  static async open(path: string): Promise<JournalReader> {
    return new JournalReader(await open(path, 'r'));
  }

  /** The line of `length` bytes at `offset`, as a string, when the window read last holds it. */
  held(offset: number, length: number): string | undefined {
    if (offset < this.windowAt || offset + length > this.windowAt + this.window.length) return undefined;
    return this.window.toString('utf8', offset - this.windowAt, offset - this.windowAt + length);
  }

  /** The line of `length` bytes at `offset`, as a string (a new window read from `offset` when needed). */
  async line(offset: number, length: number): Promise<string> {
    const held = this.held(offset, length);
    if (held !== undefined) return held;
    const size = Math.max(JOURNAL_CHUNK, length);
    // One buffer, reused while it is large enough: the window moves along the journal.
    if (this.buffer.length < size) this.buffer = Buffer.allocUnsafe(size);
    const { bytesRead } = await this.handle.read(this.buffer, 0, size, offset);
    this.window = this.buffer.subarray(0, bytesRead);
    this.windowAt = offset;
    if (bytesRead < length) throw new ReplicaProgressError(`the journal ends before byte ${offset + length}`);
    return this.window.toString('utf8', 0, length);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/**
 * Appends records to a journal and fsyncs it. Returns the byte offset where the first record's line starts. A
 * torn last line (no LF: a crash in an earlier append) is cut off first; when this append fails (a full disk), the
 * journal is cut back to what it held, so that it never ends in half a line that a run could take for a record
 * applied.
 */
export async function appendJournal(path: string, lines: readonly string[]): Promise<number> {
  const handle = await open(path, 'a+', 0o600);
  try {
    const whole = await wholeLinesLength(handle);
    if (lines.length === 0) return whole;
    try {
      // O_APPEND: written at the end, which is `whole` now.
      await writeWhole(handle, Buffer.from(lines.map((line) => `${line}\n`).join('')));
      await handle.sync();
    } catch (error) {
      await handle.truncate(whole).catch(() => undefined);
      throw error;
    }
    return whole;
  } finally {
    await handle.close();
  }
}

/** The length of a file's whole lines (up to its last LF), a torn last line cut off; read from its end. */
async function wholeLinesLength(handle: FileHandle): Promise<number> {
  const { size } = await handle.stat();
  let end = size;
  const buffer = Buffer.allocUnsafe(64 * 1024);
  while (end > 0) {
    const from = Math.max(0, end - buffer.length);
    const { bytesRead } = await handle.read(buffer, 0, end - from, from);
    const lf = buffer.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (lf >= 0) {
      end = from + lf + 1;
      break;
    }
    end = from;
  }
  if (end !== size) await handle.truncate(end);
  return end;
}

/**
 * Writes all of `data` at `position` (the file's end when absent): a write(2) on a nearly full disk may write only
 * a part and say so without an error, which FileHandle.write returns as a short count. Throws what the file
 * system throws (ENOSPC once nothing more fits).
 */
export async function writeWhole(handle: FileHandle, data: Buffer, position?: number): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(
      data,
      offset,
      data.length - offset,
      position === undefined ? null : position + offset,
    );
    offset += bytesWritten;
  }
}

/**
 * Writes `chunks` (strings, UTF-8) from `position` (the handle's own position when absent), gathered into writes
 * of about 64 KB: a file of one line per message (a uidlist, a manifest) is written without its whole text in
 * memory at once. Throws what the file system throws.
 */
export async function writeChunks(
  handle: FileHandle,
  chunks: Iterable<string> | AsyncIterable<string>,
  position?: number,
): Promise<void> {
  let pending: string[] = [];
  let length = 0;
  let at = position;
  const flush = async () => {
    const bytes = Buffer.from(pending.join(''), 'utf8');
    await writeWhole(handle, bytes, at);
    if (at !== undefined) at += bytes.length;
    pending = [];
    length = 0;
  };
  const take = (chunk: string) => {
    pending.push(chunk);
    length += chunk.length;
    return length >= 64 * 1024;
  };
  // A plain iterable is walked without a wait per chunk (a uidlist is one chunk per message).
  if (Symbol.asyncIterator in chunks) {
    for await (const chunk of chunks) if (take(chunk)) await flush();
  } else for (const chunk of chunks) if (take(chunk)) await flush();
  if (length > 0) await flush();
}

/**
 * Writes `path` whole: a temporary file beside it, fsynced, renamed over it, the directory fsynced. `data` may be
 * given as an iterable of strings, or an async one (written as they come, writeChunks).
 */
export async function writeFileAtomically(
  path: string,
  data: string | Buffer | Iterable<string> | AsyncIterable<string>,
  options: { mtime?: Date } = {},
): Promise<void> {
  await sweepStaleTemporaries(dirname(path));
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    const handle = await open(temporary, 'w', 0o600);
    try {
      if (typeof data === 'string' || Buffer.isBuffer(data)) await handle.writeFile(data);
      else await writeChunks(handle, data);
      await handle.sync();
      if (options.mtime) await handle.utimes(options.mtime, options.mtime);
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    // A full disk (or any failure) leaves no temporary file behind.
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
}

/**
 * Removes the temporary files writeFileAtomically left in `dir` in a run that was killed (`<name>.tmp-<pid>`, the
 * process gone): the replica must equal an unpacked export, and nothing else would ever remove them (found after
 * a SIGKILL while a first sync wrote a mailbox's subscriptions). A listing of a directory of a few names (a
 * folder's, a mailbox's, the state's), not of cur/.
 */
async function sweepStaleTemporaries(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(/\.tmp-(\d+)$/.exec(name)?.[1] ?? Number.NaN);
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    await unlink(join(dir, name)).catch(() => undefined);
  }
}

/** Creates an empty file (when missing) and makes its name durable: a marker a crash must not lose. */
export async function touchDurably(path: string): Promise<void> {
  await (await open(path, 'a', 0o600)).close();
  await syncDirectory(dirname(path));
}

/** fsync of a directory: a rename or a new file in it survives a power loss. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
