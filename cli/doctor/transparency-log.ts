// doctor's `transparency log` check: the head of the log read back (shared/transparency/log-files.ts checkLogHead):
// the newest checkpoint signed by the log's key, its hash tiles and newest entries hashing to its root, and when
// it was last sealed. A file of the log rewritten after its seal (S3 keeps the locked version; readers see the
// current one) fails here, the local stand-in for the seal function's alarms (docs/transparency.md).
import { createClients, destroyClients } from '../../shared/adapters/clients';
import { S3WriteOnceStore } from '../../shared/adapters/s3-write-once-store';
import { errorMessage } from '../../shared/errors';
import type { WriteOnceStore } from '../../shared/ports';
import {
  checkLogHead,
  LogDamageError,
  parseSealRecordPath,
  SEALS_PREFIX,
  TRANSPARENCY_PREFIX,
} from '../../shared/transparency/log-files';
import { parseVerifierKey } from '../../shared/transparency/note';
import { LOCAL_BUCKET } from '../local/archive';
import type { StackFile } from '../local/running-stack';
import { type Check, fail, ok, warn } from './check';

export const TRANSPARENCY_LOG_CHECK = 'transparency log';

/**
 * The check over a store of the log, given the log's key line (doctor's `transparency key`). Never throws: a
 * damaged log fails, a log that cannot be read warns.
 */
export async function transparencyLogCheck(store: WriteOnceStore, key: string): Promise<Check> {
  try {
    const checkpoint = await checkLogHead(store, parseVerifierKey(key));
    if (!checkpoint) return ok(TRANSPARENCY_LOG_CHECK, 'not sealed yet: mail-archiver seal');
    let last: string | undefined;
    for await (const path of store.list(SEALS_PREFIX))
      if (parseSealRecordPath(path) && (!last || path > last)) last = path;
    const at = last ? parseSealRecordPath(last)?.sealedAt : undefined;
    return ok(
      TRANSPARENCY_LOG_CHECK,
      `checkpoint of ${checkpoint.size} deliveries signed by the key, its tiles and newest entries hash to its root${at ? `; last sealed ${at}` : ''}`,
    );
  } catch (error) {
    if (error instanceof LogDamageError)
      return fail(
        TRANSPARENCY_LOG_CHECK,
        `damaged: ${error.message}`,
        'a file of the log was written over after its seal: see docs/transparency.md#when-the-log-is-damaged',
      );
    return warn(
      TRANSPARENCY_LOG_CHECK,
      `could not read the log: ${errorMessage(error)}`,
      `needs s3:GetObject and s3:ListBucket on ${TRANSPARENCY_PREFIX}* of the raw-mail bucket`,
    );
  }
}

/** The check on the deployed bucket or the running local stack; undefined when there is no archive to read. */
export async function transparencyLog(
  key: string | undefined,
  where: { aws: Record<string, string> | undefined } | { local: StackFile | undefined },
): Promise<Check | undefined> {
  const target =
    'aws' in where
      ? where.aws?.RawMailBucketName && { clients: createClients(), bucket: where.aws.RawMailBucketName }
      : where.local && { clients: createClients(where.local.endpoints), bucket: LOCAL_BUCKET };
  if (!key || !target) return undefined;
  try {
    return await transparencyLogCheck(
      new S3WriteOnceStore(target.clients.s3, target.bucket, TRANSPARENCY_PREFIX),
      key,
    );
  } finally {
    destroyClients(target.clients);
  }
}
