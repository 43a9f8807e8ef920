// An archive as every command sees it, local or deployed: its storage (raw mail in S3, the index in DynamoDB, the
// delivery log) and how mail is delivered into it. cli/local/archive.ts opens the local one, cli/target/aws.ts the
// deployed one.
import type { S3Client } from '@aws-sdk/client-s3';
import type { ForwardHandlerDeps } from '../../lambdas/forward/handler';
import type { AwsClients, LocalEndpoints } from '../../shared/adapters/clients';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { S3WriteOnceStore } from '../../shared/adapters/s3-write-once-store';
import type { BundleProofs } from '../../shared/bundle/export';
import type { ArchiverConfig } from '../../shared/config';
import { DeliveryLog, type DeliveryLogBatch } from '../../shared/delivery-log/log';
import type { RawMailStore, WriteOnceStore } from '../../shared/ports';
import type { SesReceivedNotification } from '../../shared/receiving/ses-notification';
import { type ArchiveLocker, archiveLocker } from '../../shared/retention/lock-policy';
import { lockingStore } from '../../shared/retention/locking-store';
import { leafIdentity } from '../../shared/transparency/leaf';
import { TRANSPARENCY_PREFIX } from '../../shared/transparency/log-files';
import { logBundleProofs } from '../../shared/transparency/prove';
import type { LocalForwardQueue } from '../local/forwarding';

/** An archive, local or deployed (cli/target/aws.ts connects the deployed one): its storage and ingest path. */
export interface Archive {
  clients: AwsClients;
  /** Writes under the locked prefixes are locked by it (shared/retention/locking-store.ts). */
  store: RawMailStore;
  /**
   * The same bucket without the lock step: what SES's S3 action writes through (SES stores with no retention;
   * ingest then locks the version it reads, or tags a canary's instead of locking it).
   */
  sesStore: RawMailStore;
  /** Locks what ingest reads; absent when the lock is off. */
  locker?: ArchiveLocker;
  index: DynamoMailIndex;
  bucket: string;
  tableName: string;
  endpoints: LocalEndpoints;
  /** The delivery log in the archive's bucket (shared/delivery-log). */
  deliveryLog: DeliveryLog;
  /** The transparency log's files in the archive's bucket (shared/transparency), written once each. */
  transparency: WriteOnceStore;
  /** What exports read from the transparency log: the proofs each bundle carries. */
  proofs: BundleProofs;
  /**
   * Delivers an SES notification through the ingest Lambda handler; throws if the record failed. Locally the
   * rows' delivery log records go into `logBatch` when given (the caller flushes it: one object per import
   * batch), else into an object of their own; on AWS the ingest Lambda logs them.
   */
  deliver(notification: SesReceivedNotification, options?: { logBatch?: DeliveryLogBatch }): Promise<void>;
  /** Present when this archive forwards (the local stack, redrive). */
  forwarding?: { queue: LocalForwardQueue; deps: ForwardHandlerDeps };
  close(): Promise<void>;
}

/** Runs `fn` against the archive: a running `npm start`, local services started for this command, or AWS. */
export type WithArchive = <T>(
  fn: (archive: Archive, config: ArchiverConfig) => Promise<T>,
  options?: { forwarding?: boolean },
) => Promise<T>;

/** Where an archive's S3 is, in the user's terms: what a message says when it does not answer. */
export type S3Place =
  /** The S3 server of a running `npm start`. */
  | { kind: 'local-stack'; endpoint: string }
  /** An S3 server started for this command (no local stack running). */
  | { kind: 'started'; endpoint: string }
  /** The deployed stack's bucket. */
  | { kind: 'aws'; bucket: string; region?: string };

/**
 * What a command that reads only the archive's bucket works on (sync reads the delivery log, the transparency log
 * and raw objects): no index, so locally no DynamoDB Local is started for it.
 */
export type ArchiveObjects = Pick<Archive, 'store' | 'deliveryLog' | 'transparency' | 'bucket'> & {
  s3Place: S3Place;
};

/** Runs `fn` against the archive's bucket alone: a running `npm start`'s S3, an S3 server started for it, or AWS. */
export type WithArchiveObjects = <T>(
  fn: (objects: ArchiveObjects, config: ArchiverConfig) => Promise<T>,
) => Promise<T>;

/**
 * The objects side of an archive (its bucket: the raw store, the delivery log, the transparency log). With
 * `config`, what is written under the locked prefixes (the transparency log's files included) is locked as its
 * lock says (shared/retention), and `locker` locks what ingest reads.
 */
export function archiveObjects(s3: S3Client, bucket: string, config?: Pick<ArchiverConfig, 'archive'>) {
  const locker = config ? archiveLocker(config, new S3ObjectLocks(s3)) : undefined;
  const sesStore = new S3RawMailStore(s3);
  const store = lockingStore(sesStore, locker);
  return {
    store,
    sesStore,
    ...(locker ? { locker } : {}),
    deliveryLog: new DeliveryLog(store, bucket),
    transparency: new S3WriteOnceStore(s3, bucket, TRANSPARENCY_PREFIX, locker),
    bucket,
  };
}

/** The storage side of an archive: its clients, its bucket's objects (archiveObjects) and the index. */
export function archiveStorage(
  clients: AwsClients,
  bucket: string,
  tableName: string,
  config?: Pick<ArchiverConfig, 'archive'>,
) {
  const objects = archiveObjects(clients.s3, bucket, config);
  return {
    clients,
    ...objects,
    index: new DynamoMailIndex(clients.dynamodb, tableName),
    proofs: logBundleProofs(objects.transparency, leafIdentity),
    tableName,
  };
}
