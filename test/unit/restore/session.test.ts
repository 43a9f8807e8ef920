// The restore session (shared/restore/session.ts) against fake clients: one connection reused, reconnects with
// back-off after a lost connection or throttling, and the failures that must not be retried.
import { describe, expect, it } from 'vitest';
import { TargetLoginError, TargetUnreachableError } from '../../../shared/restore/errors';
import { Session } from '../../../shared/restore/session';
import {
  commandError,
  FakeImapClient,
  loginError,
  socketError,
  throttleError,
} from '../../support/fake-imap';

/** newClient() handing out the given clients in order (then plain working ones), remembering each. */
function clients(...planned: FakeImapClient[]) {
  const made: FakeImapClient[] = [];
  return {
    made,
    newClient: () => {
      const client = planned.shift() ?? new FakeImapClient();
      made.push(client);
      return client.asImapFlow();
    },
  };
}

describe('Session', () => {
  it('connects once and hands every call the same client; fresh only on the call that connected', async () => {
    const pool = clients();
    const session = new Session({ newClient: pool.newClient });
    const seen: boolean[] = [];
    await session.run(async (_client, fresh) => seen.push(fresh));
    await session.run(async (_client, fresh) => seen.push(fresh));
    expect(seen).toEqual([true, false]);
    expect(pool.made).toHaveLength(1);
    await session.close();
    expect(pool.made[0]?.loggedOut).toBe(true);
  });

  it('a lost connection: waits, connects again, calls fn again with fresh, counts the reconnect and says so', async () => {
    const pool = clients();
    const lines: string[] = [];
    const session = new Session({
      newClient: pool.newClient,
      retry: { attempts: 4, firstDelayMs: 5 },
      log: (l) => lines.push(l),
    });
    await session.run(async () => undefined);
    let calls = 0;
    const answer = await session.run(async (client, fresh) => {
      calls += 1;
      if (calls === 1) {
        (client as unknown as FakeImapClient).drop();
        throw socketError('ECONNRESET', 'Socket closed unexpectedly');
      }
      return fresh;
    });
    expect(answer).toBe(true);
    expect(pool.made).toHaveLength(2);
    expect(pool.made[0]?.closed).toBe(true);
    expect(session.reconnects).toBe(1);
    expect(lines).toEqual([
      'connection lost (ECONNRESET: Socket closed unexpectedly); reconnecting in 0.0 s (attempt 2 of 4)',
    ]);
  });

  it('doubles the wait after each failure in a row, and gives up after retry.attempts with the last failure', async () => {
    const pool = clients();
    const lines: string[] = [];
    const session = new Session({
      newClient: pool.newClient,
      retry: { attempts: 3, firstDelayMs: 10 },
      log: (l) => lines.push(l),
    });
    await session.run(async () => undefined);
    const error = await session
      .run(async () => {
        throw socketError('EPIPE', 'write EPIPE');
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as Error).message).toBe(
      'the IMAP server 127.0.0.1:1143 failed 3 times in a row; last: write EPIPE',
    );
    expect(lines.map((l) => l.match(/in ([\d.]+) s/)?.[1])).toEqual(['0.0', '0.0']);
    expect(lines.map((l) => l.match(/attempt (\d) of 3/)?.[1])).toEqual(['2', '3']);
  });

  it("throttling waits at least the server's suggested back-off", async () => {
    const pool = clients();
    const lines: string[] = [];
    const session = new Session({
      newClient: pool.newClient,
      retry: { firstDelayMs: 1 },
      log: (l) => lines.push(l),
    });
    let calls = 0;
    const started = Date.now();
    await session.run(async () => {
      calls += 1;
      if (calls === 1) throw throttleError(120);
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(115);
    expect(lines[0]).toMatch(/^throttled \(ETHROTTLE: Request is throttled\..*\); reconnecting in 0\.1 s/);
  });

  it("a NO or BAD is the caller's: thrown as it is, never retried", async () => {
    const pool = clients();
    const session = new Session({ newClient: pool.newClient, retry: { firstDelayMs: 1 } });
    const refusal = commandError({ status: 'NO', text: 'Message contains invalid header' });
    let calls = 0;
    const error = await session
      .run(async () => {
        calls += 1;
        throw refusal;
      })
      .catch((e: unknown) => e);
    expect(error).toBe(refusal);
    expect(calls).toBe(1);
    expect(pool.made).toHaveLength(1);
  });

  it("a refused login is TargetLoginError with the server's words, tried once, its socket closed", async () => {
    const refused = new FakeImapClient([], loginError('[AUTHENTICATIONFAILED] Authentication failed.'));
    const pool = clients(refused);
    const session = new Session({ newClient: pool.newClient, retry: { firstDelayMs: 1 } });
    const error = await session.run(async () => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetLoginError);
    expect((error as Error).message).toBe(
      'the IMAP server 127.0.0.1:1143 refused the login: NO [AUTHENTICATIONFAILED] [AUTHENTICATIONFAILED] Authentication failed.',
    );
    expect(pool.made).toHaveLength(1);
    expect(refused.closed).toBe(true);
  });

  it('a wrong address before any login fails at once, naming host and port and what to check', async () => {
    const pool = clients(
      new FakeImapClient([], socketError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1143')),
    );
    const session = new Session({ newClient: pool.newClient, retry: { firstDelayMs: 1 } });
    const error = await session.run(async () => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as Error).message).toBe(
      'cannot reach the IMAP server 127.0.0.1:1143 (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1143): nothing accepts connections there: check the host and the port (imaps:// is 993 by default, imap:// 143)',
    );
    expect(pool.made).toHaveLength(1);
  });

  it('a server that keeps closing the connection before any login: three tries, not retry.attempts', async () => {
    const closing = () => new FakeImapClient([], socketError('ECONNRESET', 'socket hang up'));
    const pool = clients(closing(), closing(), closing(), closing());
    const session = new Session({ newClient: pool.newClient, retry: { attempts: 8, firstDelayMs: 1 } });
    const error = await session.run(async () => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as Error).message).toBe(
      'no IMAP session with 127.0.0.1:1143 after 3 tries (last: ECONNRESET: socket hang up): check the host, the port and imaps:// or imap://',
    );
    expect(pool.made).toHaveLength(3);
  });

  it('after a login, a connect that fails is an outage: retried until a connection comes back', async () => {
    const pool = clients(
      new FakeImapClient(),
      new FakeImapClient([], socketError('ECONNREFUSED')),
      new FakeImapClient([], socketError('ECONNREFUSED')),
    );
    const session = new Session({ newClient: pool.newClient, retry: { attempts: 5, firstDelayMs: 1 } });
    let calls = 0;
    await session.run(async (client) => {
      calls += 1;
      if (calls === 1) {
        (client as unknown as FakeImapClient).drop();
        throw socketError('ECONNRESET');
      }
    });
    expect(pool.made).toHaveLength(4);
    expect(calls).toBe(2);
  });
});
