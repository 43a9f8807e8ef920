// The whole archiver on this machine: DynamoDB Local + s3rver holding the data under MAIL_ARCHIVER_HOME, and
// (for `npm start`) an SMTP listener in SES's role. Mail goes through the same ingest Lambda handler, with the
// same SDK calls, as on AWS: stored in S3 with SES's key layout and trace headers, then handed over as the
// SQS record that SES's notification would become.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context, SQSEvent } from 'aws-lambda';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';
import type { ForwardHandlerDeps } from '../lambdas/forward/handler';
import { createIngestHandler, type IngestHandlerDeps } from '../lambdas/ingest/handler';
import { type AwsClients, createClients, destroyClients } from '../shared/adapters/clients';
import { DynamoMailIndex } from '../shared/adapters/dynamo-index';
import { S3RawMailStore } from '../shared/adapters/s3-raw-store';
import type { ArchiverConfig } from '../shared/config';
import type { MailSender } from '../shared/ports';
import { checkEnvelopeRecipient } from '../shared/recipient-check';
import type { Verdicts } from '../shared/routing';
import { normaliseAddress } from '../shared/routing';
import type { SesReceivedNotification } from '../shared/ses-notification';
import { storeLikeSes } from '../shared/ses-receive';
import { resolveDataHome } from './data-home';
import { LocalForwardQueue, localForwardDeps, startForwardSink } from './local-forwarding';
import { ensureBucket, ensureIndexTable, startDynamoLocal, startS3Local } from './local-services';
import { assertPortFree } from './net-ports';

export const LOCAL_BUCKET = 'mail-archiver-raw';
export const LOCAL_TABLE = 'mail-archiver-index';
/** SES refuses inbound mail over 40 MB, headers included. */
export const MAX_MESSAGE_BYTES = 40 * 1024 * 1024;
/** Offline nothing can be scanned or authenticated: say so, never PASS. */
export const LOCAL_VERDICTS: Verdicts = {
  spam: 'GRAY',
  virus: 'GRAY',
  spf: 'GRAY',
  dkim: 'GRAY',
  dmarc: 'GRAY',
};

/** The data directory (see cli/data-home.ts): MAIL_ARCHIVER_HOME, else the platform's user data directory. */
export function archiverHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolveDataHome({ env }).path;
}

/** What a running `npm start` publishes so that CLI commands can use its services. */
export interface StackFile {
  pid: number;
  startedAt: string;
  endpoints: { s3: string; dynamodb: string };
  smtp?: { host: string; port: number };
  /** Where forwarded copies go (the local sink unless a smarthost is configured). */
  smarthost?: { host: string; port: number };
  bucket: string;
  tableName: string;
}

const stackFilePath = (home: string) => join(home, 'stack.json');

export function readRunningStack(home: string): StackFile | undefined {
  const path = stackFilePath(home);
  if (!existsSync(path)) return undefined;
  try {
    const stack = JSON.parse(readFileSync(path, 'utf8')) as StackFile;
    process.kill(stack.pid, 0);
    return stack;
  } catch {
    return undefined;
  }
}

/** The archive's storage and ingest path, wherever its services run. */
export interface LocalArchive {
  clients: AwsClients;
  store: S3RawMailStore;
  index: DynamoMailIndex;
  bucket: string;
  tableName: string;
  endpoints: { s3: string; dynamodb: string };
  /** Delivers an SES notification through the ingest Lambda handler; throws if the record failed. */
  deliver(notification: SesReceivedNotification): Promise<void>;
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

/** The storage side of an archive: its clients, the raw store and the index, wherever they run. */
export function archiveStorage(clients: AwsClients, bucket: string, tableName: string) {
  return {
    clients,
    store: new S3RawMailStore(clients.s3),
    index: new DynamoMailIndex(clients.dynamodb, tableName),
    bucket,
    tableName,
  };
}

export function openArchive(
  config: ArchiverConfig,
  endpoints: { s3: string; dynamodb: string },
  logger: IngestHandlerDeps['logger'] = { info: () => undefined, warn: () => undefined },
  forwardingOptions?: LocalForwarding,
): Omit<LocalArchive, 'close'> & { clients: AwsClients } {
  const storage = archiveStorage(createClients(endpoints), LOCAL_BUCKET, LOCAL_TABLE);
  const { store, index } = storage;
  let forwarding: LocalArchive['forwarding'];
  if (forwardingOptions) {
    const deps = localForwardDeps({ config, index, store }, forwardingOptions);
    if (forwardingOptions.wrapSender) deps.sender = forwardingOptions.wrapSender(deps.sender);
    forwarding = { deps, queue: new LocalForwardQueue(deps, forwardingOptions.retry) };
  }
  const handler = createIngestHandler({
    config,
    store,
    index,
    logger,
    ...(forwarding ? { forwards: forwarding.queue } : {}),
  });
  return {
    ...(forwarding ? { forwarding } : {}),
    ...storage,
    endpoints,
    async deliver(notification) {
      const event = {
        Records: [
          {
            messageId: notification.mail.messageId,
            body: JSON.stringify(notification),
            eventSource: 'aws:sqs',
          },
        ],
      } as SQSEvent;
      const response = await handler(event, {} as Context);
      if (response.batchItemFailures.length > 0) {
        throw new Error(`ingest failed for ${notification.mail.messageId} (see the log above)`);
      }
    },
  };
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
  } = {
    home: archiverHome(),
  },
): Promise<LocalArchive & { shared: boolean }> {
  const running = readRunningStack(options.home);
  if (running) {
    const archive = openArchive(config, running.endpoints, options.logger, options.forwarding);
    return {
      ...archive,
      shared: true,
      async close() {
        destroyClients(archive.clients);
      },
    };
  }
  mkdirSync(options.home, { recursive: true });
  const [dynamo, s3] = await Promise.all([
    startDynamoLocal({ dataDir: join(options.home, 'dynamodb'), port: options.ports?.dynamodb }),
    startS3Local({ dataDir: join(options.home, 's3'), port: options.ports?.s3 }),
  ]);
  const endpoints = { s3: s3.endpoint, dynamodb: dynamo.endpoint };
  const archive = openArchive(config, endpoints, options.logger, options.forwarding);
  try {
    await Promise.all([
      ensureBucket(archive.clients.s3, LOCAL_BUCKET),
      ensureIndexTable(archive.clients.dynamodb, LOCAL_TABLE),
    ]);
  } catch (error) {
    await Promise.all([dynamo.stop(), s3.stop()]);
    throw error;
  }
  return {
    ...archive,
    shared: false,
    async close() {
      destroyClients(archive.clients);
      await Promise.all([dynamo.stop(), s3.stop()]);
    },
  };
}

/** Stores raw bytes the way SES's S3 action does and returns the notification SES would publish. */
export async function receiveRawMessage(
  archive: Pick<LocalArchive, 'store' | 'bucket'>,
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

/** SMTP in SES's role: accepts mail for the receiving domains, 550 for others, 552 over 40 MB. */
export async function startSmtpListener(
  config: ArchiverConfig,
  archive: LocalArchive,
  options: { host?: string; port?: number; log?: (line: string) => void; deadLetterDir?: string } = {},
): Promise<SmtpListener> {
  const log = options.log ?? (() => undefined);
  const server = new SMTPServer({
    name: 'local-ses.mail-archiver',
    banner: 'mail-archiver local SES stand-in',
    size: MAX_MESSAGE_BYTES,
    rejectOversized: true,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onRcptTo(address: SMTPServerAddress, _session: SMTPServerSession, callback: (error?: Error) => void) {
      const check = checkEnvelopeRecipient(config, address.address);
      if (!check.accepted) return callback(smtpError(check.code, check.reply));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        if (!stream.sizeExceeded) chunks.push(chunk);
      });
      stream.on('end', async () => {
        if (stream.sizeExceeded) {
          log(`refused a message over ${MAX_MESSAGE_BYTES} bytes`);
          return callback(smtpError(552, '5.3.4 Message exceeds the 40 MB limit'));
        }
        const recipients = session.envelope.rcptTo.map((r) => normaliseAddress(r.address));
        const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        try {
          const notification = await receiveRawMessage(archive, {
            raw: Buffer.concat(chunks),
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
            deadLetter(options, notification, error as Error);
            log(`stored ${notification.mail.messageId} but indexing failed: ${(error as Error).message}`);
          }
          callback(null, `Ok ${notification.mail.messageId}`);
        } catch (error) {
          log(`could not store a message: ${(error as Error).message}`);
          callback(smtpError(451, '4.3.0 Temporary failure storing the message, try again'));
        }
      });
    },
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 2525, host, () => resolvePromise());
  });
  server.on('error', (error) => log(`smtp: ${error.message}`));
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 2525);
  return { host, port, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

function deadLetter(
  options: { deadLetterDir?: string },
  notification: SesReceivedNotification,
  error: Error,
) {
  const dir = options.deadLetterDir;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, `${notification.mail.messageId}.json`),
    JSON.stringify({ notification, error: error.message, at: new Date().toISOString() }, null, 2),
  );
}

function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

export interface RunningLocalStack {
  archive: LocalArchive;
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
  const sink = config.forwarding.smarthost
    ? undefined
    : await startForwardSink({ dir: join(options.home, 'sink'), port: options.sinkPort ?? 0 });
  const smarthost = config.forwarding.smarthost ?? { host: sink?.host ?? '127.0.0.1', port: sink?.port ?? 0 };
  let archive: LocalArchive;
  try {
    archive = await startLocalArchive(config, {
      home: options.home,
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
  writeFileSync(stackFilePath(options.home), JSON.stringify(stackFile, null, 2));
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
