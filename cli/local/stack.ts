// `npm start`: the whole archiver on this machine: DynamoDB Local + s3rver holding the data under
// MAIL_ARCHIVER_HOME (cli/local/archive.ts), an SMTP listener in SES's role (cli/local/smtp-listener.ts), a forward
// sink unless a smarthost is configured, and the stack file other commands find (cli/local/running-stack.ts).
import { join } from 'node:path';
import type { ArchiverConfig } from '../../shared/config';
import { assertPortFree } from '../process/net-ports';
import type { Archive } from '../target/archive';
import { type LocalForwarding, startLocalArchive } from './archive';
import { makeDataHomePrivate } from './privacy';
import {
  readRunningStack,
  removeStackFile,
  type StackFile,
  stackFilePath,
  writeStackFile,
} from './running-stack';
import { type SmtpListener, startSmtpListener } from './smtp-listener';

export interface RunningLocalStack {
  archive: Archive;
  smtp: SmtpListener;
  /** Where forwarded copies are kept, when the local sink is the smarthost. */
  sinkDir?: string;
  /** The local sink's SMTP address, when it is the smarthost. */
  sink?: { host: string; port: number };
  home: string;
  /** Resolves with what happened when a service of the stack ends under it (DynamoDB Local's JVM dies). */
  died: Promise<string>;
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
    /** Told in one line what the start takes longer for (an index of the table being built). */
    notice?: (line: string) => void;
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
  let archive: Awaited<ReturnType<typeof startLocalArchive>>;
  try {
    archive = await startLocalArchive(config, {
      home: options.home,
      longRunning: true,
      ...(options.notice ? { notice: options.notice } : {}),
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
  writeStackFile(options.home, stackFile);
  return {
    archive,
    smtp,
    ...(sink ? { sinkDir: sink.dir, sink: { host: sink.host, port: sink.port } } : {}),
    home: options.home,
    died: archive.died ?? new Promise<string>(() => {}),
    async stop() {
      removeStackFile(options.home);
      await smtp.stop();
      await archive.close();
      await sink?.stop();
    },
  };
}
