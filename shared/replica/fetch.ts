// A raw object into a folder's tmp/ as its maildir file: read (the version the record names), every CRLF made LF
// when the record says so, hashed on the way and compared with the record's sha256 and size, fsynced, its mtime
// set to the INTERNALDATE. What is left in tmp/ is removed on every way out but success.
import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { messageBytes, StoredBytesMismatchError } from '../bundle/raw-reader';
import type { DeliveryRecord } from '../delivery-log/record';
import { errorMessage, errorName } from '../errors';
import type { RawMailStore } from '../ports';

/** The raw object a record names cannot be read: gone upstream (or not readable with this credential). */
export class ObjectMissingError extends Error {
  override name = 'ObjectMissingError';
}

/** The part of a temporary file's name that says it is ours (a killed run's leftovers are recognised by it). */
export const TEMPORARY_MARK = '.mail-archiver-sync';

/**
 * Writes the record's message into `tmpDir` and returns the file's path. Throws ObjectMissingError when the
 * object cannot be read, StoredBytesMismatchError when its bytes are not the record's, and what the file system
 * throws (ENOSPC: a full disk).
 */
export async function fetchToTemporary(
  store: RawMailStore,
  bucket: string,
  record: DeliveryRecord,
  tmpDir: string,
): Promise<string> {
  const location = {
    bucket,
    key: record.objectKey,
    ...(record.versionId ? { versionId: record.versionId } : {}),
  };
  const path = join(
    tmpDir,
    `${record.file}${TEMPORARY_MARK}-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  const handle = await open(path, 'wx', 0o600);
  let done = false;
  try {
    const bytes = messageBytes(
      { location, size: record.size, sha256: record.sha256 },
      async () => {
        try {
          return await store.read(location);
        } catch (error) {
          const name = errorName(error);
          throw new ObjectMissingError(
            `${record.objectKey}${record.versionId ? ` (version ${record.versionId})` : ''} is missing upstream or not readable (${name && name !== 'Error' ? `${name}: ` : ''}${errorMessage(error)})`,
            { cause: error },
          );
        }
      },
      record.storage === 'crlf-to-lf',
    );
    let written = 0;
    for await (const chunk of bytes as AsyncIterable<Buffer>) {
      await handle.write(chunk);
      written += chunk.length;
    }
    const expected = Number(/,S=(\d+),/.exec(record.file)?.[1] ?? written);
    if (written !== expected)
      throw new StoredBytesMismatchError(
        { location, size: record.size, sha256: record.sha256 },
        `(${written} bytes written for S=${expected})`,
      );
    await handle.sync();
    const mtime = new Date(record.receivedAt);
    await handle.utimes(mtime, mtime);
    done = true;
    return path;
  } finally {
    await handle.close();
    if (!done) await unlink(path).catch(() => undefined);
  }
}
