// A stand-in for imapflow's ImapFlow in unit tests of restore's session and folder mapping: it follows the parts
// of imapflow's contract restore uses (connect/usable/close/logout, list, namespace, mailboxCreate) and throws
// errors shaped as imapflow 2.1 throws them (dist/esm/imap-flow.js: a tagged NO/BAD is `Error('Command failed')`
// with responseStatus, responseText, serverResponseCode, executedCommand; a refused login sets
// authenticationFailed; Microsoft 365's throttling sets code ETHROTTLE and throttleReset).
import type { ImapFlow, ListResponse } from 'imapflow';

/** An error as imapflow rejects a command the server answered with NO or BAD. */
export function commandError(answer: {
  status: 'NO' | 'BAD';
  text: string;
  code?: string;
  command?: string;
}): Error {
  return Object.assign(new Error('Command failed'), {
    responseStatus: answer.status,
    responseText: answer.text,
    ...(answer.code ? { serverResponseCode: answer.code } : {}),
    ...(answer.command ? { executedCommand: `A7 ${answer.command}` } : {}),
  });
}

/** An error as imapflow rejects connect() when the server refused the login. */
export function loginError(text = 'Authentication failed.'): Error {
  return Object.assign(new Error('Authentication failed'), {
    authenticationFailed: true,
    responseStatus: 'NO',
    responseText: text,
    serverResponseCode: 'AUTHENTICATIONFAILED',
  });
}

/** A socket-level failure (`code` as Node sets it: ECONNREFUSED, ECONNRESET, ...). */
export function socketError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

/** Microsoft 365's throttling, as imapflow reports it. */
export function throttleError(resetMs: number): Error {
  return Object.assign(new Error('Command failed'), {
    responseStatus: 'BAD',
    responseText: `Request is throttled. Suggested Backoff Time: ${resetMs} milliseconds`,
    code: 'ETHROTTLE',
    throttleReset: resetMs,
  });
}

export interface FakeFolder {
  path: string;
  /** The LIST attributes as the server sends them (any case). */
  flags?: string[];
  delimiter?: string;
  /** What imapflow reports from its own rules (server attributes, or its table of names providers use). */
  specialUse?: string;
  specialUseSource?: 'user' | 'extension' | 'name';
}

/** One fake connection. `connectError` makes connect() fail; `drop()` makes it unusable (a lost connection). */
export class FakeImapClient {
  host = '127.0.0.1';
  port = 1143;
  secureConnection = false;
  connected = false;
  closed = false;
  loggedOut = false;
  namespace: { prefix: string; delimiter: string } | undefined;
  readonly created: string[] = [];
  /** CREATE answers: path -> the error the server answers (else it is created). */
  readonly refuseCreate = new Map<string, Error>();

  constructor(
    private readonly folders: FakeFolder[] = [],
    private readonly connectError?: Error,
    namespace?: { prefix: string; delimiter: string },
  ) {
    this.namespace = namespace;
  }

  get usable(): boolean {
    return this.connected && !this.closed;
  }

  on(): this {
    return this;
  }

  async connect(): Promise<void> {
    if (this.connectError) throw this.connectError;
    this.connected = true;
  }

  drop(): void {
    this.closed = true;
  }

  close(): void {
    this.closed = true;
  }

  async logout(): Promise<void> {
    this.loggedOut = true;
    this.closed = true;
  }

  async list(): Promise<ListResponse[]> {
    return this.folders.map(
      (f) =>
        ({
          path: f.path,
          name: f.path.split(f.delimiter ?? '/').pop() ?? f.path,
          delimiter: f.delimiter ?? '/',
          flags: new Set(f.flags ?? []),
          ...(f.specialUse ? { specialUse: f.specialUse } : {}),
          ...(f.specialUseSource ? { specialUseSource: f.specialUseSource } : {}),
          listed: true,
          subscribed: true,
        }) as unknown as ListResponse,
    );
  }

  async mailboxCreate(path: string): Promise<{ path: string; created: boolean }> {
    const refusal = this.refuseCreate.get(path);
    if (refusal) throw refusal;
    this.created.push(path);
    this.folders.push({ path });
    return { path, created: true };
  }

  /** This fake as the type restore's code takes. */
  asImapFlow(): ImapFlow {
    return this as unknown as ImapFlow;
  }
}
