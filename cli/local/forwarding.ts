// Forwarding on this machine: the same forward handler code as the Lambda, sending by SMTP to a smarthost
// (by default a local sink that keeps every forwarded copy under MAIL_ARCHIVER_HOME/sink). The queue is
// in-process: transient failures are retried with backoff, then parked in MAIL_ARCHIVER_HOME/forward-dead-letters
// like the dead-letter queue on AWS; `mail-archiver redrive` sends parked requests again.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { type ForwardHandlerDeps, handleForwardRequest } from '../../lambdas/forward/handler';
import { GmailApi } from '../../shared/adapters/gmail-api';
import { FileGmailCredentialStore } from '../../shared/adapters/gmail-credentials';
import { errorMessage } from '../../shared/errors';
import { RetryLaterError, SendError } from '../../shared/forwarding/errors';
import type { ForwardDeps } from '../../shared/forwarding/forward';
import type { ForwardRequest } from '../../shared/forwarding/ledger';
import type { ForwardParking, ForwardQueue, MailSender } from '../../shared/ports';
import { backoffDelay, sleep } from '../../shared/retry/backoff';
import { readParkedFiles, type UnreadableFile } from './dead-letters';

export class SmtpSender implements MailSender {
  private readonly transport;

  constructor(host: string, port: number) {
    this.transport = createTransport({ host, port, secure: false, ignoreTLS: true, pool: false });
  }

  async send(input: { from: string; to: string; raw: Buffer }): Promise<{ messageId: string }> {
    try {
      const info = await this.transport.sendMail({
        envelope: { from: input.from, to: [input.to] },
        raw: input.raw,
      });
      if (info.rejected.length > 0) throw new SendError(`rejected: ${info.response}`, true);
      return { messageId: String(info.response).replace(/^250\s*/, '') || info.messageId };
    } catch (error) {
      if (error instanceof SendError) throw error;
      const code = (error as { responseCode?: number }).responseCode;
      throw new SendError(errorMessage(error), code !== undefined && code >= 500, { cause: error });
    }
  }
}

/** Parked requests, one file each (the local dead-letter queue). */
export class ParkedForwards implements ForwardParking {
  constructor(private readonly dir: string) {}

  async park(request: ForwardRequest, reason: string): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const name = `${request.messageKey}.${Buffer.from(request.mailbox).toString('hex')}.json`;
    writeFileSync(
      join(this.dir, name),
      JSON.stringify({ request, reason, at: new Date().toISOString() }, null, 2),
    );
  }

  /** The folder, read once: the parked requests and the files that are not one, with why. */
  read(): {
    parked: { file: string; request: ForwardRequest; reason: string }[];
    unreadable: UnreadableFile[];
  } {
    const { entries, unreadable } = this.scan();
    return { parked: entries.map(({ file, value }) => ({ file, ...value })), unreadable };
  }

  /** The parked requests (files that are not one: `unreadable()`). */
  list(): { file: string; request: ForwardRequest; reason: string }[] {
    return this.read().parked;
  }

  /** Files in the folder that are not a parked forward, with why: `redrive` cannot use them. */
  unreadable(): UnreadableFile[] {
    return this.scan().unreadable;
  }

  private scan() {
    return readParkedFiles(this.dir, (parsed) => {
      const { request, reason } = (parsed ?? {}) as { request?: Partial<ForwardRequest>; reason?: unknown };
      if (typeof request?.mailbox !== 'string' || typeof request.messageKey !== 'string')
        throw new Error('not a parked forward (no request with a mailbox and a messageKey)');
      return {
        request: { mailbox: request.mailbox, messageKey: request.messageKey },
        reason: String(reason ?? ''),
      };
    });
  }

  remove(file: string): void {
    rmSync(file, { force: true });
  }
}

/** The in-process forward queue: each request handled right away, with retries and parking. */
export class LocalForwardQueue implements ForwardQueue {
  constructor(
    private readonly deps: ForwardHandlerDeps,
    private readonly options: { attempts?: number; backoffMs?: number } = {},
  ) {}

  async enqueue(requests: ForwardRequest[]): Promise<void> {
    for (const request of requests) await this.process(request);
  }

  /** Handles one request like SQS would: retried on transient failure, parked when retries run out. */
  async process(request: ForwardRequest & { redrive?: boolean }): Promise<void> {
    const attempts = this.options.attempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      try {
        await handleForwardRequest(request, this.deps);
        return;
      } catch (error) {
        if (!(error instanceof RetryLaterError) || attempt >= attempts) {
          const { redrive: _r, ...target } = request;
          await this.deps.parking.park(target, errorMessage(error));
          this.deps.logger.warn('forward parked', { ...target, error: errorMessage(error) });
          return;
        }
        await sleep(backoffDelay({ firstMs: this.options.backoffMs ?? 250 }, attempt));
      }
    }
  }
}

/**
 * The Gmail API root every local command uses (forwarding, redrive, collect-sent): `MAIL_ARCHIVER_GMAIL_ROOT_URL`
 * when set (a stand-in for Google, e.g. the tests'), else undefined, which means Google's own.
 */
export function localGmailRootUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.MAIL_ARCHIVER_GMAIL_ROOT_URL || undefined;
}

export function localForwardDeps(
  deps: Omit<ForwardDeps, 'sender'>,
  options: {
    home: string;
    smarthost: { host: string; port: number };
    log?: (line: string) => void;
    /** The Gmail API root (a stand-in in tests). @default MAIL_ARCHIVER_GMAIL_ROOT_URL, else Google */
    gmailRootUrl?: string;
  },
): ForwardHandlerDeps {
  const log = options.log ?? (() => undefined);
  const gmailRootUrl = options.gmailRootUrl ?? localGmailRootUrl();
  return {
    ...deps,
    sender: new SmtpSender(options.smarthost.host, options.smarthost.port),
    // Credentials of `via: "gmail-api"` targets: files under the data directory (mode 0600).
    gmail: new GmailApi({
      credentials: new FileGmailCredentialStore(join(options.home, 'gmail')),
      ...(gmailRootUrl ? { rootUrl: gmailRootUrl } : {}),
    }),
    parking: new ParkedForwards(join(options.home, 'forward-dead-letters')),
    logger: {
      info: (message: string, extra?: unknown) => log(`${message} ${JSON.stringify(extra ?? {})}`),
      warn: (message: string, extra?: unknown) => log(`WARN ${message} ${JSON.stringify(extra ?? {})}`),
    },
  } as ForwardHandlerDeps;
}

export interface ForwardSink {
  host: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** An SMTP server that keeps every message it receives as a file: what would have been sent. */
export async function startForwardSink(options: {
  dir: string;
  host?: string;
  port?: number;
}): Promise<ForwardSink> {
  mkdirSync(options.dir, { recursive: true });
  const server = new SMTPServer({
    name: 'forward-sink.mail-archiver',
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    size: 50 * 1024 * 1024,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const id = `${new Date().toISOString().replace(/[:.]/g, '')}-${randomBytes(4).toString('hex')}`;
        const to = session.envelope.rcptTo.map((r) => r.address).join(',');
        writeFileSync(join(options.dir, `${id}.eml`), Buffer.concat(chunks));
        writeFileSync(
          join(options.dir, `${id}.json`),
          JSON.stringify({ from: (session.envelope.mailFrom || undefined)?.address, to }),
        );
        callback(null, `sink-${id}`);
      });
    },
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { host, port, dir: options.dir, stop: () => new Promise<void>((r) => server.close(() => r())) };
}
