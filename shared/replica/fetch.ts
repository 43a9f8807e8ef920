// A raw object into the tmp/ of every folder that holds it, as maildir files: read once (the version the records
// name), every CRLF made LF when the records say so, hashed on the way and compared with the records' sha256 and
// size, each file fsynced and its mtime set to the INTERNALDATE. A delivery to several mailboxes (or folders) is
// one object read, written once per place. What is left in tmp/ is removed on every way out but success.
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
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

/**
 * Reads the raw object the targets' records name (they share its {@link sourceKey}) once, and writes it into each
 * target's tmp/. Returns each file's path, in the targets' order. Throws ObjectMissingError when the object cannot
 * be read, StoredBytesMismatchError when its bytes are not the records', and what the file system throws (ENOSPC:
 * a full disk); no file is left behind then.
 */
export async function fetchToTemporaries(
  store: RawMailStore,
  bucket: string,
  targets: readonly FetchTarget[],
): Promise<string[]> {
  const first = targets[0]?.record;
  if (!first) return [];
  const location = {
    bucket,
    key: first.objectKey,
    ...(first.versionId ? { versionId: first.versionId } : {}),
  };
  const paths = targets.map(({ record, tmpDir }) =>
    join(tmpDir, `${record.file}${TEMPORARY_MARK}-${process.pid}-${randomBytes(4).toString('hex')}`),
  );
  const handles: FileHandle[] = [];
  let done = false;
  try {
    for (const path of paths) handles.push(await open(path, 'wx', 0o600));
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
    let written = 0;
    for await (const chunk of bytes as AsyncIterable<Buffer>) {
      await Promise.all(handles.map((handle) => writeWhole(handle, chunk)));
      written += chunk.length;
    }
    for (const { record } of targets) {
      const expected = Number(/,S=(\d+),/.exec(record.file)?.[1] ?? written);
      if (written !== expected)
        throw new StoredBytesMismatchError(
          { location, size: record.size, sha256: record.sha256 },
          `(${written} bytes written for S=${expected})`,
        );
    }
    await Promise.all(
      handles.map(async (handle, i) => {
        // Durable before it can be renamed into cur/ and named in a uidlist (folder.ts commitFolder).
        await handle.sync();
        const mtime = new Date((targets[i] as FetchTarget).record.receivedAt);
        await handle.utimes(mtime, mtime);
      }),
    );
    done = true;
    return paths;
  } finally {
    for (const handle of handles) await handle.close().catch(() => undefined);
    if (!done) for (const path of paths) await unlink(path).catch(() => undefined);
  }
}

/**
 * Downloads `targets` into their folders' tmp/, `concurrency` raw objects at a time, each object read once for all
 * the targets that name it (fetchToTemporaries). Returns each staged record's temporary file. The records whose
 * object is missing (ObjectMissingError) or whose bytes do not match (StoredBytesMismatchError) go to
 * `onUnreadable` and are not staged; any other failure (a full disk) stops the downloads, removes every file
 * staged (`onUnstaged`) and is thrown.
 */
export async function fetchAll(
  store: RawMailStore,
  bucket: string,
  targets: readonly FetchTarget[],
  options: {
    concurrency: number;
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
  const queue = [...bySource.values()];
  let failure: unknown;
  const worker = async () => {
    for (let group = queue.shift(); group && failure === undefined; group = queue.shift()) {
      try {
        const paths = await fetchToTemporaries(store, bucket, group);
        for (const [i, { record }] of group.entries()) staged.set(record, paths[i] as string);
        options.onStaged(group.map((t) => t.record));
      } catch (error) {
        if (error instanceof ObjectMissingError || error instanceof StoredBytesMismatchError)
          for (const { record } of group) options.onUnreadable(record, error);
        else failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
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
