// A RawMailStore whose every write under a locked prefix is followed by the lock of the version it made: the one
// place the archive's writers (sidecars, Sent collection, imports, reindex, the delivery log) get their lock step,
// whatever they write. A write whose lock then fails throws, so its caller's retry (SQS, the next reconcile) runs
// again; the version already written is found by the sweep (shared/retention/sweep.ts). A write tagged as a
// canary's (ingest's own for a message only to the canary address) is not locked: it expires.
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
      const version = await store.write(location, body, options);
      if (!isCanaryTagged(options?.tags)) await locker.lockVersion(location, version);
      return version;
    },
    async upload(location: RawLocation, body: Readable, contentType: string): Promise<StoredVersion> {
      const version = await store.upload(location, body, contentType);
      await locker.lockVersion(location, version);
      return version;
    },
  };
}
