// One IMAP connection to the target that comes back after a disconnect or throttling, with back-off; and what a
// failed connection means for the user (a wrong password, a wrong address, or an outage to wait out).
import type { ImapFlow } from 'imapflow';
import { errorMessage } from '../errors';
import { backoffDelay, sleep } from '../retry/backoff';
import { TargetLoginError, TargetRefusedError, TargetUnreachableError } from './errors';
import { isCommandAnswer, serverWords } from './refusals';

export interface SessionOptions {
  /** Builds a new, unconnected client for the target; called again after every disconnect. */
  newClient: () => ImapFlow;
  /** Reconnect attempts after consecutive failures, and the first back-off (doubled each time, at most 30 s). */
  retry?: { attempts?: number; firstDelayMs?: number };
  /** Lines for the user (reconnects) while the run goes on. */
  log?: (line: string) => void;
}

/** Tries before the first login of a run (a later disconnect gets `retry.attempts`). */
const FIRST_CONNECT_ATTEMPTS = 3;
const MAX_DELAY_MS = 30_000;

/**
 * `run(fn)` gives `fn` a connected client; on a connection failure or throttling it waits (doubling from
 * `firstDelayMs`, at most 30 s, or the server's suggested back-off), connects again and calls `fn` again with
 * `fresh` true. A tagged NO/BAD is `fn`'s to handle: it is thrown to the caller as it is, as are TargetLoginError
 * and TargetUnreachableError (a wrong address: waiting changes nothing). After `retry.attempts` failures in a row
 * (3 before any login succeeded): TargetUnreachableError with the last failure.
 */
export class Session {
  private client: ImapFlow | undefined;
  reconnects = 0;
  /** Set once a connection logged in: before that, a failure to connect is a wrong address, not an outage. */
  private connectedOnce = false;
  private where = 'the target';
  private readonly attempts: number;
  private readonly firstDelayMs: number;

  constructor(private readonly options: SessionOptions) {
    this.attempts = options.retry?.attempts ?? 8;
    this.firstDelayMs = options.retry?.firstDelayMs ?? 1000;
  }

  get log(): ((line: string) => void) | undefined {
    return this.options.log;
  }

  async run<T>(fn: (client: ImapFlow, fresh: boolean) => Promise<T>): Promise<T> {
    let failures = 0;
    let fresh = false;
    for (;;) {
      try {
        if (!this.client?.usable) {
          if (this.client) {
            this.reconnects += 1;
            this.client.close();
          }
          this.client = undefined;
          const client = this.options.newClient();
          this.where = `${client.host}:${client.port}`;
          client.on('error', () => undefined);
          try {
            await client.connect();
          } catch (error) {
            // A client that failed to connect or log in still holds its socket: left open, it kept the
            // process alive after the error was printed (a wrong password hung the command).
            client.close();
            throw whyNotConnected(error, client, this.connectedOnce);
          }
          this.client = client;
          this.connectedOnce = true;
          fresh = true;
        }
        return await fn(this.client, fresh);
      } catch (error) {
        // The server's answer, said at once: asking again gets the same one (it used to be retried for minutes
        // as a lost connection, "connection lost (the IMAP server refused \"CREATE ...\")").
        if (
          isCommandAnswer(error) ||
          error instanceof TargetLoginError ||
          error instanceof TargetRefusedError
        )
          throw error;
        // imapflow refused to send a value (a CR or LF in a string): sending it again changes nothing.
        if ((error as { code?: string } | undefined)?.code === 'InvalidStringValue') throw error;
        // Never reached at all: a wrong host, port or TLS setting. Waiting and trying again changes nothing.
        if (error instanceof TargetUnreachableError) throw error;
        failures += 1;
        if (this.client) {
          this.client.close();
        }
        // Before any login succeeded, a server that keeps closing the connection is not an outage to wait
        // out for minutes: three tries, then what it did.
        const attempts = this.connectedOnce ? this.attempts : Math.min(this.attempts, FIRST_CONNECT_ATTEMPTS);
        if (failures >= attempts) {
          throw new TargetUnreachableError(
            this.connectedOnce
              ? `the IMAP server ${this.where} failed ${failures} times in a row; last: ${errorMessage(error)}`
              : `no IMAP session with ${this.where} after ${failures} tries (last: ${describe(error)}): check the host, the port and imaps:// or imap://`,
            { cause: error },
          );
        }
        const throttle = (error as { throttleReset?: number } | undefined)?.throttleReset;
        const delay = backoffDelay({ firstMs: this.firstDelayMs, maxMs: MAX_DELAY_MS }, failures, throttle);
        this.options.log?.(
          `${(error as { code?: string } | undefined)?.code === 'ETHROTTLE' ? 'throttled' : this.connectedOnce ? 'connection lost' : 'could not connect'} (${describe(error)}); reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${failures + 1} of ${attempts})`,
        );
        await sleep(delay);
        if (this.client) this.reconnects += 1;
        this.client = undefined;
      }
    }
  }

  /** Logs out (or drops a connection that cannot log out); the next `run` connects again. */
  async close() {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    try {
      if (client.usable) await client.logout();
    } catch {
      client.close();
    }
  }
}

/**
 * Why a connection failed, for the user. A login refusal is TargetLoginError (with the server's words). Before any
 * connection of this run logged in, a refused connection, an unknown host, a TLS mismatch or a port that does not
 * greet like IMAP is TargetUnreachableError naming host and port and what to check; otherwise (a connection lost
 * mid-run) the error is returned as it is, to be retried.
 */
function whyNotConnected(error: unknown, client: ImapFlow, connectedOnce: boolean): unknown {
  const e = (error ?? {}) as { authenticationFailed?: boolean; code?: string; message?: string };
  const where = `${client.host}:${client.port}`;
  if (e.authenticationFailed)
    return new TargetLoginError(`the IMAP server ${where} refused the login: ${serverWords(error)}`, {
      cause: error,
    });
  if (connectedOnce) return error;
  const code = e.code ?? '';
  const tls = client.secureConnection;
  const hint =
    code === 'ECONNREFUSED'
      ? 'nothing accepts connections there: check the host and the port (imaps:// is 993 by default, imap:// 143)'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'no such host: check the name after the last @'
        : code === 'GREETING_TIMEOUT'
          ? tls
            ? 'the server sent no IMAP greeting over TLS: is that an IMAP port?'
            : 'the server sent no IMAP greeting: is that an IMAP port? A TLS-only port (993) needs imaps://'
          : /SSL|TLS|certificate|EPROTO/i.test(`${code} ${e.message ?? ''}`)
            ? tls
              ? 'TLS failed: if the port speaks plain IMAP (or STARTTLS), use imap:// instead of imaps://'
              : `TLS failed: ${e.message ?? code}`
            : undefined;
  if (!hint) return error;
  return new TargetUnreachableError(
    `cannot reach the IMAP server ${where} (${describe(error).trim()}): ${hint}`,
    {
      cause: error,
    },
  );
}

function describe(error: unknown): string {
  const e = (error ?? {}) as { code?: string; message?: string; responseText?: string };
  return [e.code, e.responseText ?? e.message].filter(Boolean).join(': ') || String(error);
}
