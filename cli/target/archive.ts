// An archive as every command sees it, local or deployed: its storage (raw mail in S3, the index in DynamoDB, the
// delivery log) and how mail is delivered into it. cli/local/archive.ts opens the local one, cli/target/aws.ts the
// deployed one.
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

/**
 * The storage side of an archive: its clients, the raw store and the index, wherever they run. With `config`,
 * what is written under the locked prefixes (the transparency log's files included) is locked as its lock says
 * (shared/retention), and `locker` locks what ingest reads.
 */
export function archiveStorage(
  clients: AwsClients,
  bucket: string,
  tableName: string,
  config?: Pick<ArchiverConfig, 'archive'>,
) {
  const locker = config ? archiveLocker(config, new S3ObjectLocks(clients.s3)) : undefined;
  const sesStore = new S3RawMailStore(clients.s3);
  const store = lockingStore(sesStore, locker);
  const transparency = new S3WriteOnceStore(clients.s3, bucket, TRANSPARENCY_PREFIX, locker);
  return {
    clients,
    store,
    sesStore,
    ...(locker ? { locker } : {}),
    index: new DynamoMailIndex(clients.dynamodb, tableName),
    deliveryLog: new DeliveryLog(store, bucket),
    transparency,
    proofs: logBundleProofs(transparency, leafIdentity),
    bucket,
    tableName,
  };
}
