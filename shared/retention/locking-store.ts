// A RawMailStore whose every write under a locked prefix makes a locked version: the one place the archive's
// writers (sidecars, Sent collection, imports, reindex, the delivery log) get their lock, whatever they write.
// A whole-object write carries the retention in its own request (WriteOptions.retention: the version exists
// locked or not at all, one request where a write and a PutObjectRetention were two). When S3 refuses that
// request (a bucket without Object Lock, a role without s3:PutObjectRetention: a 4xx answer), the bytes are
// written again without the lock and the refusal is thrown: nothing the writer meant to keep (an envelope's Bcc
// recipients) is lost to a lock problem, its caller's retry runs again, and the sweep (shared/retention/sweep.ts)
// reports or locks the unlocked version. A streamed upload (the export's bundles, under exports/, which is not a
// locked prefix) is locked after it completes when its key is locked. A write tagged as a canary's (ingest's own
// for a message only to the canary address) is not locked: it expires.
import type { Readable } from 'node:stream';
import { httpStatusOf } from '../errors';
import type { RawLocation } from '../index/schema';
import type { RawMailStore, StoredVersion } from '../ports';
import { type ArchiveLocker, isCanaryTagged } from './lock-policy';

export function lockingStore(store: RawMailStore, locker: ArchiveLocker | undefined): RawMailStore {
  if (!locker) return store;
  return {
    read: (location) => store.read(location),
    exists: (location) => store.exists(location),
    list: (bucket, prefix, startAfter) => store.list(bucket, prefix, startAfter),
    async write(location, body, options): Promise<StoredVersion> {
      const retention = isCanaryTagged(options?.tags) ? undefined : locker.retentionFor(location);
      if (!retention) return store.write(location, body, options);
      try {
        return await store.write(location, body, { ...options, retention });
      } catch (error) {
        if (!refusedByS3(error)) throw error;
        // Kept unlocked rather than lost; the refusal still fails the writer.
        await store.write(location, body, options).catch(() => undefined);
        throw error;
      }
    },
    async upload(location: RawLocation, body: Readable, contentType: string): Promise<StoredVersion> {
      const version = await store.upload(location, body, contentType);
      await locker.lockVersion(location, version);
      return version;
    },
  };
}

/** S3 answered the request itself with a 4xx (a refusal: the same request will not succeed as it is). */
function refusedByS3(error: unknown): boolean {
  const status = httpStatusOf(error);
  return status !== undefined && status >= 400 && status < 500;
}
