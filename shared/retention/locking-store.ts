// A RawMailStore whose every write under a locked prefix makes a locked version: the one place the archive's
// writers (sidecars, Sent collection, imports, reindex, the delivery log) get their lock, whatever they write.
// A whole-object write carries the retention in its own request (WriteOptions.retention: the version exists
// locked or not at all, one request where a write and a PutObjectRetention were two). A streamed upload is locked
// right after it completes; when that lock fails it throws, so its caller's retry runs again, and the version
// already written is found by the sweep (shared/retention/sweep.ts). A write tagged as a canary's (ingest's own
// for a message only to the canary address) is not locked: it expires.
import type { Readable } from 'node:stream';
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
      return store.write(location, body, retention ? { ...options, retention } : options);
    },
    async upload(location: RawLocation, body: Readable, contentType: string): Promise<StoredVersion> {
      const version = await store.upload(location, body, contentType);
      await locker.lockVersion(location, version);
      return version;
    },
  };
}
