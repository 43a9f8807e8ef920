// The whole archiver on this machine: DynamoDB Local + s3rver holding the data under MAIL_ARCHIVER_HOME, and
// (for `npm start`) an SMTP listener in SES's role. Mail goes through the same ingest Lambda handler, with the
// same SDK calls, as on AWS: stored in S3 with SES's key layout and trace headers, then handed over as the
// SQS record that SES's notification would become.
// What only some commands use (the services, forwarding, SMTP, the ingest handler and the MIME stack it reads
// with) is imported where it is used: a command against a running stack loads the SDK clients and no more.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context, SQSEvent } from 'aws-lambda';
import pLimit from 'p-limit';
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import type { ForwardHandlerDeps } from '../../lambdas/forward/handler';
import type { IngestHandler, IngestHandlerDeps } from '../../lambdas/ingest/handler';
import {
  type AwsClients,
  createClients,
  destroyClients,
  type LocalEndpoints,
} from '../../shared/adapters/clients';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import type { ArchiverConfig } from '../../shared/config';
import { DeliveryLog, type DeliveryLogBatch } from '../../shared/delivery-log/log';
import { errorMessage } from '../../shared/errors';
import type { MailSender, RawMailStore } from '../../shared/ports';
import { checkEnvelopeRecipient } from '../../shared/receiving/recipient-check';
import type { Verdicts } from '../../shared/receiving/routing';
import { normaliseAddress } from '../../shared/receiving/routing';
import type { SesReceivedNotification } from '../../shared/receiving/ses-notification';
import { storeLikeSes } from '../../shared/receiving/ses-receive';
import { type ArchiveLocker, archiveLocker } from '../../shared/retention/lock-policy';
import { lockingStore } from '../../shared/retention/locking-store';
import { describeError, rootCause } from '../process/describe-error';
import { assertPortFree } from '../process/net-ports';
import { LocalDeadLetters } from './dead-letters';
import type { LocalForwardQueue } from './forwarding';
import { holdPrivateUmask, localCredentials, makeDataHomePrivate } from './privacy';
import { archiverHome, readRunningStack, type StackFile, stackFilePath } from './running-stack';
import {
  DELIVERY_CONCURRENCY,
  IDLE_TIMEOUT_MS,
  MAX_CLIENTS,
  MAX_MESSAGE_BYTES,
  MAX_RECIPIENTS,
  MessageTooLargeError,
  smtpExposureWarning,
  spoolMessage,
  takeSpooled,
} from './smtp-limits';

export const LOCAL_BUCKET = 'mail-archiver-raw';
export const LOCAL_TABLE = 'mail-archiver-index';
/** SES refuses inbound mail over 40 MB, headers included (cli/local/smtp-limits.ts holds the rule). */
export { MAX_MESSAGE_BYTES } from './smtp-limits';
/** Offline nothing can be scanned or authenticated: say so, never PASS. */
export const LOCAL_VERDICTS: Verdicts = {
  spam: 'GRAY',
  virus: 'GRAY',
  spf: 'GRAY',
  dkim: 'GRAY',
  dmarc: 'GRAY',
};

export { archiverHome, readRunningStack, type StackFile } from './running-stack';

/** An archive, local or deployed (cli/target/aws.ts connects the deployed one): its storage and ingest path. */
export interface Archive {
  clients: AwsClients;
  /** Writes under the locked prefixes are locked by it (shared/retention/locking-store.ts). */
  store: RawMailStore;
  /** Locks what ingest reads; absent when the lock is off. */
  locker?: ArchiveLocker;
  index: DynamoMailIndex;
  bucket: string;
  tableName: string;
  endpoints: LocalEndpoints;
  /** The delivery log in the archive's bucket (shared/delivery-log). */
  deliveryLog: DeliveryLog;
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

/**
 * The storage side of an archive: its clients, the raw store and the index, wherever they run. With `config`,
 * what is written under the locked prefixes is locked as its lock says (shared/retention), and `locker` locks
 * what ingest reads.
 */
export function archiveStorage(
  clients: AwsClients,
  bucket: string,
  tableName: string,
  config?: Pick<ArchiverConfig, 'archive'>,
) {
  const locker = config ? archiveLocker(config, new S3ObjectLocks(clients.s3)) : undefined;
  const store = lockingStore(new S3RawMailStore(clients.s3), locker);
  return {
    clients,
    store,
    ...(locker ? { locker } : {}),
    index: new DynamoMailIndex(clients.dynamodb, tableName),
    deliveryLog: new DeliveryLog(store, bucket),
    bucket,
    tableName,
  };
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
  } = {
    home: archiverHome(),
  },
): Promise<Archive & { shared: boolean }> {
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
      ensureIndexTable(archive.clients.dynamodb, LOCAL_TABLE),
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
    async close() {
      destroyClients(archive.clients);
      await Promise.all([dynamo.stop(), s3.stop()]);
      releaseUmask();
    },
  };
}

/** Stores raw bytes the way SES's S3 action does and returns the notification SES would publish. */
export async function receiveRawMessage(
  archive: Pick<Archive, 'store' | 'bucket'>,
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
  const { notification } = await storeLikeSes(archive.store, archive.bucket, {
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

export interface SmtpListener {
  host: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * SMTP in SES's role: accepts mail for the receiving domains, 550 for others, 552 over 40 MB, 452 past 50
 * recipients, 421 past MAX_CLIENTS connections; idle connections close after IDLE_TIMEOUT_MS. DATA is spooled
 * to `spoolDir` (default: a private directory under the system's temporary directory) as it arrives; complete
 * messages are handed to ingest DELIVERY_CONCURRENCY at a time. Limits: cli/local/smtp-limits.ts.
 */
export async function startSmtpListener(
  config: ArchiverConfig,
  archive: Archive,
  options: {
    host?: string;
    port?: number;
    log?: (line: string) => void;
    deadLetterDir?: string;
    spoolDir?: string;
    maxClients?: number;
    idleTimeoutMs?: number;
  } = {},
): Promise<SmtpListener> {
  const log = options.log ?? (() => undefined);
  const spoolDir = options.spoolDir ?? mkdtempSync(join(tmpdir(), 'mail-archiver-smtp-spool-'));
  const delivering = pLimit(DELIVERY_CONCURRENCY);
  const { SMTPServer } = await import('smtp-server');
  const server = new SMTPServer({
    name: 'local-ses.mail-archiver',
    banner: 'mail-archiver local SES stand-in',
    size: MAX_MESSAGE_BYTES,
    rejectOversized: true,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    maxClients: options.maxClients ?? MAX_CLIENTS,
    socketTimeout: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
    onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: (error?: Error) => void) {
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS)
        return callback(smtpError(452, `4.5.3 Too many recipients: at most ${MAX_RECIPIENTS} per message`));
      const check = checkEnvelopeRecipient(config, address.address);
      if (!check.accepted) return callback(smtpError(check.code, check.reply));
      callback();
    },
    onData(stream, session, callback) {
      const recipients = session.envelope.rcptTo.map((r) => normaliseAddress(r.address));
      const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      const receive = async () => {
        let spooled: { path: string };
        try {
          spooled = await spoolMessage(stream, spoolDir, () => stream.sizeExceeded);
        } catch (error) {
          if (error instanceof MessageTooLargeError) {
            log(`refused a message over ${MAX_MESSAGE_BYTES} bytes`);
            return callback(smtpError(552, '5.3.4 Message exceeds the 40 MB limit'));
          }
          log(`could not spool a message: ${errorMessage(error)}`);
          return callback(smtpError(451, '4.3.0 Temporary failure storing the message, try again'));
        }
        await delivering(async () => {
          try {
            const notification = await receiveRawMessage(archive, {
              raw: await takeSpooled(spooled.path),
              envelopeFrom,
              recipients,
              clientAddress: session.remoteAddress,
              clientName: session.clientHostname || session.hostNameAppearsAs || 'localhost',
            });
            try {
              await archive.deliver(notification);
              log(`archived ${notification.mail.messageId} for ${recipients.join(', ')}`);
            } catch (error) {
              // Stored is accepted, as with SES: the notification waits in the dead-letter folder for redrive.
              if (options.deadLetterDir)
                new LocalDeadLetters(options.deadLetterDir).park(notification, describeError(error));
              log(`stored ${notification.mail.messageId} but indexing failed: ${errorMessage(error)}`);
            }
            callback(null, `Ok ${notification.mail.messageId}`);
          } catch (error) {
            log(`could not store a message: ${errorMessage(error)}`);
            callback(smtpError(451, '4.3.0 Temporary failure storing the message, try again'));
          }
        });
      };
      void receive();
    },
  });
  const host = options.host ?? '127.0.0.1';
  const warning = smtpExposureWarning(host);
  if (warning) log(warning);
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 2525, host, () => resolvePromise());
  });
  server.on('error', (error) => log(`smtp: ${error.message}`));
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 2525);
  return {
    host,
    port,
    stop: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      if (!options.spoolDir) rmSync(spoolDir, { recursive: true, force: true });
    },
  };
}

function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

export interface RunningLocalStack {
  archive: Archive;
  smtp: SmtpListener;
  /** Where forwarded copies are kept, when the local sink is the smarthost. */
  sinkDir?: string;
  /** The local sink's SMTP address, when it is the smarthost. */
  sink?: { host: string; port: number };
  home: string;
  stop(): Promise<void>;
}

/** `npm start`: services, SMTP, and a stack file other commands find. */
export async function startLocalStack(
  config: ArchiverConfig,
  options: {
    home: string;
    smtpPort?: number;
    smtpHost?: string;
    /** Port of the forward sink (when no smarthost is configured). @default a free one */
    sinkPort?: number;
    /** Ports of DynamoDB Local and s3rver. @default free ones */
    ports?: { s3?: number; dynamodb?: number };
    log?: (line: string) => void;
    wrapSender?: LocalForwarding['wrapSender'];
    forwardRetry?: LocalForwarding['retry'];
    gmailRootUrl?: string;
  },
): Promise<RunningLocalStack> {
  if (readRunningStack(options.home)) {
    throw new Error(
      `a local stack is already running over ${options.home} (see ${stackFilePath(options.home)})`,
    );
  }
  // Every port is checked before anything starts, so a busy one names its flag instead of half a stack.
  await assertPortFree(options.smtpHost ?? '127.0.0.1', options.smtpPort ?? 2525, '--smtp-port');
  if (!config.forwarding.smarthost) await assertPortFree('127.0.0.1', options.sinkPort ?? 0, '--sink-port');
  await assertPortFree('127.0.0.1', options.ports?.dynamodb ?? 0, '--dynamodb-port');
  await assertPortFree('127.0.0.1', options.ports?.s3 ?? 0, '--s3-port');
  // Private before anything writes into it (the sink keeps forwarded copies there).
  makeDataHomePrivate(options.home);
  const sink = config.forwarding.smarthost
    ? undefined
    : await (await import('./forwarding')).startForwardSink({
        dir: join(options.home, 'sink'),
        port: options.sinkPort ?? 0,
      });
  const smarthost = config.forwarding.smarthost ?? { host: sink?.host ?? '127.0.0.1', port: sink?.port ?? 0 };
  let archive: Archive;
  try {
    archive = await startLocalArchive(config, {
      home: options.home,
      longRunning: true,
      ...(options.ports ? { ports: options.ports } : {}),
      forwarding: {
        smarthost,
        home: options.home,
        log: options.log,
        wrapSender: options.wrapSender,
        retry: options.forwardRetry,
        gmailRootUrl: options.gmailRootUrl,
      },
    });
  } catch (error) {
    await sink?.stop();
    throw error;
  }
  let smtp: SmtpListener;
  try {
    smtp = await startSmtpListener(config, archive, {
      host: options.smtpHost,
      port: options.smtpPort,
      log: options.log,
      deadLetterDir: join(options.home, 'dead-letters'),
      spoolDir: join(options.home, 'smtp-spool'),
    });
  } catch (error) {
    await archive.close();
    await sink?.stop();
    throw error;
  }
  const stackFile: StackFile = {
    smarthost,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    endpoints: archive.endpoints,
    smtp: { host: smtp.host, port: smtp.port },
    bucket: archive.bucket,
    tableName: archive.tableName,
  };
  // It holds the data directory's credentials: 0600 like local-credentials.json.
  writeFileSync(stackFilePath(options.home), JSON.stringify(stackFile, null, 2), { mode: 0o600 });
  chmodSync(stackFilePath(options.home), 0o600);
  return {
    archive,
    smtp,
    ...(sink ? { sinkDir: sink.dir, sink: { host: sink.host, port: sink.port } } : {}),
    home: options.home,
    async stop() {
      rmSync(stackFilePath(options.home), { force: true });
      await smtp.stop();
      await archive.close();
      await sink?.stop();
    },
  };
}
