// SMTP in SES's role for the local stack: what SES's receiving endpoint accepts and refuses, with the limits of
// cli/local/smtp-limits.ts; accepted mail is stored like SES stores it and delivered into the archive.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import type { ArchiverConfig } from '../../shared/config';
import { errorMessage } from '../../shared/errors';
import { checkEnvelopeRecipient, envelopeRecipient } from '../../shared/receiving/recipient-check';
import { describeError } from '../process/describe-error';
import type { Archive } from '../target/archive';
import { receiveRawMessage } from './archive';
import { LocalDeadLetters } from './dead-letters';
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
      // smtp-server hands RCPT TO domains as U-labels; SES hands them as A-labels, and so does its stand-in.
      const recipients = session.envelope.rcptTo.map((r) => envelopeRecipient(r.address));
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
