// A raw object into the tmp/ of every folder that holds it, as maildir files: read once (the version the records
// name), every CRLF made LF when the records say so, hashed on the way and compared with the records' sha256 and
// size, each file's mtime set to the INTERNALDATE and fsynced. A delivery to several mailboxes (or folders) is
// one object read, written once per place. What is left in tmp/ is removed on every way out but success.
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import { messageFileTime } from '../bundle/maildir';
import { messageBytes, StoredBytesMismatchError } from '../bundle/raw-reader';
import type { DeliveryRecord } from '../delivery-log/record';
import { errorMessage, errorName, networkFailure } from '../errors';
import type { RawMailStore } from '../ports';
import { writeWhole } from './state';

/** The raw object a record names cannot be read: gone upstream (or not readable with this credential). */
export class ObjectMissingError extends Error {
  override name = 'ObjectMissingError';
}

/** The part of a temporary file's name that says it is ours (a killed run's leftovers are recognised by it). */
export const TEMPORARY_MARK = '.mail-archiver-sync';

/**
 * The key under which deliveries share one read: the same object version, bytes and storage (a delivery to two
 * mailboxes names one object; its records agree on all of these).
 */
export const sourceKey = (record: DeliveryRecord): string =>
  JSON.stringify([record.objectKey, record.versionId ?? '', record.sha256, record.size, record.storage]);

/** One place a message goes: its record and the tmp/ directory of its folder. */
export interface FetchTarget {
  record: DeliveryRecord;
  tmpDir: string;
}

/** The download slots of a run, shared by the steps under way (pipeline.ts). */
export interface FetchSlots {
  /** Raw objects being read (the GET and the writes of its bytes): the run's concurrency. */
  reads: LimitFunction;
  /** Objects under way, read or being made durable (fsync): twice the concurrency, which bounds open files. */
  objects: LimitFunction;
}

/** The slots of a run that reads `concurrency` raw objects at a time. */
export function fetchSlots(concurrency: number): FetchSlots {
  const reads = Math.max(1, concurrency);
  return { reads: pLimit(reads), objects: pLimit(2 * reads) };
}

/** A raw object written into its temporaries, checked, not yet durable. */
interface Written {
  paths: string[];
  handles: FileHandle[];
}

/**
 * Reads the raw object the targets' records name (they share its {@link sourceKey}) once, and writes it into each
 * target's tmp/ (a read slot held meanwhile), then makes each file durable with its mtime set (the slot free for
 * the next object: an fsync waits on the disk, not on the network). Returns each file's path, in the targets'
 * order. Throws ObjectMissingError when the object cannot be read, StoredBytesMismatchError when its bytes are not
 * the records', and what the file system throws (ENOSPC: a full disk); no file is left behind then.
 */
async function fetchToTemporaries(
  store: RawMailStore,
  bucket: string,
  targets: readonly FetchTarget[],
  reads: LimitFunction,
): Promise<string[]> {
  const paths = targets.map(({ record, tmpDir }) =>
    join(tmpDir, `${record.file}${TEMPORARY_MARK}-${process.pid}-${randomBytes(4).toString('hex')}`),
  );
  const written: Written = { paths, handles: [] };
  let done = false;
  try {
    await reads(() => writeTemporaries(store, bucket, targets, written));
    await Promise.all(
      written.handles.map(async (handle, i) => {
        // The mtime first, then the fsync: both durable before the file can be renamed into cur/ and named in a
        // uidlist (folder.ts commitFolder).
        const mtime = messageFileTime((targets[i] as FetchTarget).record.receivedAt);
        await handle.utimes(mtime, mtime);
        await handle.sync();
      }),
    );
    done = true;
    return paths;
  } finally {
    for (const handle of written.handles) await handle.close().catch(() => undefined);
    if (!done) for (const path of paths) await unlink(path).catch(() => undefined);
  }
}

/** Opens `written.paths` and writes the object's checked bytes into each (the handles are the caller's to close). */
async function writeTemporaries(
  store: RawMailStore,
  bucket: string,
  targets: readonly FetchTarget[],
  written: Written,
): Promise<void> {
  const first = (targets[0] as FetchTarget).record;
  const location = {
    bucket,
    key: first.objectKey,
    ...(first.versionId ? { versionId: first.versionId } : {}),
  };
  for (const path of written.paths) written.handles.push(await open(path, 'wx', 0o600));
  const bytes = messageBytes(
    { location, size: first.size, sha256: first.sha256 },
    async () => {
      try {
        return await store.read(location);
      } catch (error) {
        // S3 not answering says nothing about the object: the run stops (the next resumes), nothing is reported
        // missing and nothing is queued to try again.
        if (networkFailure(error)) throw error;
        const name = errorName(error);
        throw new ObjectMissingError(
          `${first.objectKey}${first.versionId ? ` (version ${first.versionId})` : ''} is missing upstream or not readable (${name && name !== 'Error' ? `${name}: ` : ''}${errorMessage(error)})`,
          { cause: error },
        );
      }
    },
    first.storage === 'crlf-to-lf',
  );
  let size = 0;
  for await (const chunk of bytes as AsyncIterable<Buffer>) {
    await Promise.all(written.handles.map((handle) => writeWhole(handle, chunk)));
    size += chunk.length;
  }
  for (const { record } of targets) {
    const expected = Number(/,S=(\d+),/.exec(record.file)?.[1] ?? size);
    if (size !== expected)
      throw new StoredBytesMismatchError(
        { location, size: record.size, sha256: record.sha256 },
        `(${size} bytes written for S=${expected})`,
      );
  }
}

/**
 * Downloads `targets` into their folders' tmp/ through the run's `slots` (shared with the other steps under way),
 * each object read once for all the targets that name it (fetchToTemporaries). Returns each staged record's
 * temporary file. The records whose object is missing (ObjectMissingError) or whose bytes do not match
 * (StoredBytesMismatchError) go to `onUnreadable` and are not staged; any other failure (a full disk) stops the
 * downloads, removes every file staged (`onUnstaged`) and is thrown. Once `stopped()` (a step before failed), no
 * further object is read: the step is abandoned.
 */
export async function fetchAll(
  store: RawMailStore,
  bucket: string,
  targets: readonly FetchTarget[],
  options: {
    slots: FetchSlots;
    stopped?: () => boolean;
    onStaged: (records: DeliveryRecord[]) => void;
    onUnstaged: (records: DeliveryRecord[]) => void;
    onUnreadable: (record: DeliveryRecord, error: ObjectMissingError | StoredBytesMismatchError) => void;
  },
): Promise<Map<DeliveryRecord, string>> {
  const staged = new Map<DeliveryRecord, string>();
  const bySource = new Map<string, FetchTarget[]>();
  for (const target of targets) {
    const key = sourceKey(target.record);
    const list = bySource.get(key) ?? [];
    list.push(target);
    bySource.set(key, list);
  }
  let failure: unknown;
  const fetchGroup = async (group: FetchTarget[]) => {
    if (failure !== undefined || options.stopped?.()) return;
    try {
      const paths = await fetchToTemporaries(store, bucket, group, options.slots.reads);
      for (const [i, { record }] of group.entries()) staged.set(record, paths[i] as string);
      options.onStaged(group.map((t) => t.record));
    } catch (error) {
      if (error instanceof ObjectMissingError || error instanceof StoredBytesMismatchError)
        for (const { record } of group) options.onUnreadable(record, error);
      else failure ??= error;
    }
  };
  await Promise.all(Array.from(bySource.values(), (group) => options.slots.objects(fetchGroup, group)));
  if (failure !== undefined) {
    for (const temporary of staged.values()) await unlink(temporary).catch(() => undefined);
    options.onUnstaged([...staged.keys()]);
    throw failure;
  }
  return staged;
}

/** Removes what a killed run left in a folder's tmp/ (partial downloads of ours, recognised by their name). */
export async function removeLeftovers(tmpDir: string): Promise<void> {
  for (const name of await readdir(tmpDir).catch(() => [] as string[]))
    if (name.includes(TEMPORARY_MARK)) await unlink(join(tmpDir, name)).catch(() => undefined);
}
