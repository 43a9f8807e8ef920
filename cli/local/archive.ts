// The archive on this machine: DynamoDB Local + s3rver holding the data under MAIL_ARCHIVER_HOME (or those of a
// running `npm start`). Mail goes through the same ingest Lambda handler, with the same SDK calls, as on AWS:
// stored in S3 with SES's key layout and trace headers, then handed over as the SQS record that SES's
// notification would become.
import { join } from 'node:path';
import type { Context, SQSEvent } from 'aws-lambda';
import type { IngestHandler, IngestHandlerDeps } from '../../lambdas/ingest/handler';
import {
  type AwsClients,
  createClients,
  createS3Client,
  destroyClients,
  type LocalEndpoints,
} from '../../shared/adapters/clients';
import type { ArchiverConfig } from '../../shared/config';
import type { DeliveryLogBatch } from '../../shared/delivery-log/log';
import type { MailSender } from '../../shared/ports';
import type { Verdicts } from '../../shared/receiving/routing';
import type { SesReceivedNotification } from '../../shared/receiving/ses-notification';
import { storeLikeSes } from '../../shared/receiving/ses-receive';
import { rootCause } from '../process/describe-error';
import { type Archive, type ArchiveObjects, archiveObjects, archiveStorage } from '../target/archive';
import { holdPrivateUmask, localCredentials, makeDataHomePrivate } from './privacy';
import { archiverHome, readRunningStack } from './running-stack';

export const LOCAL_BUCKET = 'mail-archiver-raw';
export const LOCAL_TABLE = 'mail-archiver-index';
/** Offline nothing can be scanned or authenticated: say so, never PASS. */
export const LOCAL_VERDICTS: Verdicts = {
  spam: 'GRAY',
  virus: 'GRAY',
  spf: 'GRAY',
  dkim: 'GRAY',
  dmarc: 'GRAY',
};

export interface LocalForwarding {
  smarthost: { host: string; port: number };
  home: string;
  log?: (line: string) => void;
  /** Tests put a fault-injecting sender around the SMTP one. */
  wrapSender?: (sender: MailSender) => MailSender;
  retry?: { attempts?: number; backoffMs?: number };
  /** The Gmail API root for `via: "gmail-api"` targets (tests name a stand-in). */
  gmailRootUrl?: string;
}

export async function openArchive(
  config: ArchiverConfig,
  endpoints: LocalEndpoints,
  logger: IngestHandlerDeps['logger'] = { info: () => undefined, warn: () => undefined },
  forwardingOptions?: LocalForwarding,
): Promise<Omit<Archive, 'close'> & { clients: AwsClients }> {
  const storage = archiveStorage(createClients(endpoints), LOCAL_BUCKET, LOCAL_TABLE, config);
  const { store, index, locker, deliveryLog } = storage;
  let forwarding: Archive['forwarding'];
  if (forwardingOptions) {
    const { LocalForwardQueue, localForwardDeps } = await import('./forwarding');
    const deps = localForwardDeps({ config, index, store }, forwardingOptions);
    if (forwardingOptions.wrapSender) deps.sender = forwardingOptions.wrapSender(deps.sender);
    forwarding = { deps, queue: new LocalForwardQueue(deps, forwardingOptions.retry) };
  }
  // The ingest handler (and the MIME stack under it) is loaded by the first delivery: list and search never load it.
  let deliver: Archive['deliver'] | undefined;
  return {
    ...(forwarding ? { forwarding } : {}),
    ...storage,
    endpoints,
    async deliver(notification, options) {
      if (!deliver) {
        const { createIngestHandler } = await import('../../lambdas/ingest/handler');
        deliver = deliverThrough(
          createIngestHandler({
            config,
            store,
            index,
            deliveryLog,
            // A delivery flushes its log object before it returns and throws when it cannot: the SMTP listener
            // then parks the notification in the dead-letter folder, and its redrive finds the rows and writes
            // the sidecar. Imports deliver `using` their own batch: they keep writing sidecars.
            envelopeInLog: true,
            logger,
            ...(locker ? { locker } : {}),
            ...(forwarding ? { forwards: forwarding.queue } : {}),
          }),
        );
      }
      return deliver(notification, options);
    },
  };
}

/**
 * Hands a notification to an ingest Lambda handler as the one-record SQS event the queue would deliver; throws
 * IngestFailedError, naming the record's own error, when the record failed. With `logBatch`, the delivery log
 * records go there (the caller flushes it) instead of an object per delivery.
 */
export function deliverThrough(
  handler: IngestHandler,
): (notification: SesReceivedNotification, options?: { logBatch?: DeliveryLogBatch }) => Promise<void> {
  return async (notification, options = {}) => {
    const event = {
      Records: [
        {
          messageId: notification.mail.messageId,
          body: JSON.stringify(notification),
          eventSource: 'aws:sqs',
          // Delivered once: what fails is parked (cli/local/dead-letters.ts) after ingest wrote its envelope.
          attributes: { ApproximateReceiveCount: '1' },
        },
      ],
    } as SQSEvent;
    let response: Awaited<ReturnType<typeof handler>>;
    try {
      response = await (options.logBatch ? handler.using(options.logBatch) : handler)(event, {} as Context);
    } catch (error) {
      // One record per event: when it fails, Powertools throws FullBatchFailureError with the record's error.
      throw new IngestFailedError(`ingest failed for ${notification.mail.messageId}: ${rootCause(error)}`, {
        cause: error,
      });
    }
    if (response.batchItemFailures.length > 0) {
      throw new IngestFailedError(`ingest failed for ${notification.mail.messageId}`);
    }
  };
}

/** A message was stored but not indexed; `cause` holds why. */
export class IngestFailedError extends Error {
  override name = 'IngestFailedError';
}

/**
 * Starts DynamoDB Local and s3rver over the data directory, or uses those of a running `npm start`.
 * `close()` stops only what this call started.
 */
export async function startLocalArchive(
  config: ArchiverConfig,
  options: {
    home: string;
    ports?: { s3?: number; dynamodb?: number };
    logger?: IngestHandlerDeps['logger'];
    forwarding?: LocalForwarding;
    /** The services run for hours (`npm start`), not for one command: DynamoDB Local's JVM gets its defaults. */
    longRunning?: boolean;
    /** Told in one line what starting the services takes longer for (an index of the table being built). */
    notice?: (line: string) => void;
  } = {
    home: archiverHome(),
  },
): Promise<Archive & { shared: boolean; died?: Promise<string> }> {
  const running = readRunningStack(options.home);
  if (running) {
    const archive = await openArchive(config, running.endpoints, options.logger, options.forwarding);
    return {
      ...archive,
      shared: true,
      async close() {
        destroyClients(archive.clients);
      },
    };
  }
  // Private: the directory 0700, files written 0600 while the services run, and the data directory's own key.
  makeDataHomePrivate(options.home);
  const releaseUmask = holdPrivateUmask();
  const credentials = localCredentials(options.home);
  const { ensureBucket, startDynamoLocal, startS3Local } = await import('./services');
  const { ensureIndexTable } = await import('./index-table');
  const started = await Promise.allSettled([
    startDynamoLocal({
      dataDir: join(options.home, 'dynamodb'),
      port: options.ports?.dynamodb,
      quickStart: !options.longRunning,
    }),
    startS3Local({
      dataDir: join(options.home, 's3'),
      port: options.ports?.s3,
      credentials,
    }),
  ]);
  const [dynamoStart, s3Start] = started;
  if (dynamoStart.status === 'rejected' || s3Start.status === 'rejected') {
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    releaseUmask();
    throw dynamoStart.status === 'rejected' ? dynamoStart.reason : (s3Start as PromiseRejectedResult).reason;
  }
  const dynamo = dynamoStart.value;
  const s3 = s3Start.value;
  const endpoints: LocalEndpoints = { s3: s3.endpoint, dynamodb: dynamo.endpoint, credentials };
  let archive: Awaited<ReturnType<typeof openArchive>>;
  try {
    archive = await openArchive(config, endpoints, options.logger, options.forwarding);
  } catch (error) {
    await Promise.all([dynamo.stop(), s3.stop()]);
    releaseUmask();
    throw error;
  }
  try {
    await Promise.all([
      ensureBucket(archive.clients.s3, LOCAL_BUCKET),
      ensureIndexTable(archive.clients.dynamodb, LOCAL_TABLE, {
        ...(options.notice ? { notice: options.notice } : {}),
      }),
    ]);
  } catch (error) {
    destroyClients(archive.clients);
    await Promise.all([dynamo.stop(), s3.stop()]);
    releaseUmask();
    throw error;
  }
  return {
    ...archive,
    shared: false,
    // What a long-running caller (npm start) watches: a service it started ended under it.
    died: dynamo.died.then((how) => `DynamoDB Local (${dynamo.endpoint}) stopped unexpectedly: ${how}`),
    async close() {
      destroyClients(archive.clients);
      await Promise.all([dynamo.stop(), s3.stop()]);
      releaseUmask();
    },
  };
}

/**
 * The archive's bucket alone, for a command that reads only S3 (sync): the running `npm start`'s S3, else an S3
 * server started over the data directory for this call (no DynamoDB Local: its JVM is the slow part of starting
 * the local services). `close()` stops only what this call started.
 */
export async function startLocalObjects(
  config: ArchiverConfig,
  options: { home: string },
): Promise<ArchiveObjects & { shared: boolean; close(): Promise<void> }> {
  const running = readRunningStack(options.home);
  if (running) {
    const s3 = createS3Client(running.endpoints);
    return {
      ...archiveObjects(s3, LOCAL_BUCKET, config),
      s3Place: { kind: 'local-stack', endpoint: running.endpoints.s3 },
      shared: true,
      async close() {
        s3.destroy();
      },
    };
  }
  makeDataHomePrivate(options.home);
  const releaseUmask = holdPrivateUmask();
  const credentials = localCredentials(options.home);
  const { ensureBucket, startS3Local } = await import('./services');
  let server: Awaited<ReturnType<typeof startS3Local>>;
  try {
    server = await startS3Local({ dataDir: join(options.home, 's3'), credentials });
  } catch (error) {
    releaseUmask();
    throw error;
  }
  const s3 = createS3Client({ s3: server.endpoint, credentials });
  // Once, whoever asks first: the command's end or a Ctrl-C's clean-up.
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      s3.destroy();
      await server.stop();
      releaseUmask();
    })());
  try {
    await ensureBucket(s3, LOCAL_BUCKET);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    ...archiveObjects(s3, LOCAL_BUCKET, config),
    s3Place: { kind: 'started', endpoint: server.endpoint },
    shared: false,
    close,
  };
}

/**
 * Stores raw bytes the way SES's S3 action does (through the unlocked store: SES sets no retention, ingest locks
 * or tags what it reads) and returns the notification SES would publish.
 */
export async function receiveRawMessage(
  archive: Pick<Archive, 'sesStore' | 'bucket'>,
  input: {
    raw: Buffer;
    envelopeFrom: string;
    recipients: string[];
    clientAddress?: string;
    clientName?: string;
    receivedAt?: Date;
    messageId?: string;
    traceHeaders?: boolean;
  },
): Promise<SesReceivedNotification> {
  const { notification } = await storeLikeSes(archive.sesStore, archive.bucket, {
    raw: input.raw,
    envelopeFrom: input.envelopeFrom,
    recipients: input.recipients,
    verdicts: LOCAL_VERDICTS,
    client: { address: input.clientAddress ?? '127.0.0.1', name: input.clientName ?? 'localhost' },
    receiver: 'local-ses.mail-archiver',
    ...(input.messageId ? { messageId: input.messageId } : {}),
    ...(input.receivedAt ? { receivedAt: input.receivedAt } : {}),
    ...(input.traceHeaders === false ? { traceHeaders: false } : {}),
  });
  return notification;
}
