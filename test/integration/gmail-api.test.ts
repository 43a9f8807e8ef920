// The Gmail transport with Google's real clients (google-auth-library, @googleapis/gmail) against a local
// stand-in for Google's token endpoint and the Gmail API (test/support/google-standin.ts). Nothing here reaches
// Google: what is checked is our side of the documented contract.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authoriseConsumerGmail, checkServiceAccount, parseClientSecretFile } from '../../cli/commands/gmail';
import { GmailApi, gmailAuthClient } from '../../shared/adapters/gmail-api';
import { FileGmailCredentialStore } from '../../shared/adapters/gmail-credentials';
import { SendError } from '../../shared/forwarding/errors';
import { GMAIL_INSERT_SCOPE, GMAIL_READONLY_SCOPE, GmailAuthError } from '../../shared/forwarding/gmail';
import type { GmailCredential } from '../../shared/ports';
import { GoogleStandIn } from '../support/google-standin';

const WORKSPACE_USER = 'alice@corp.example';
const CONSUMER_USER = 'alice.example@gmail.com';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function message(subject: string, bodyBytes = 200): Buffer {
  return Buffer.concat([
    Buffer.from(
      `From: Ann <ann@sender.example>\r\nTo: alice@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@sender.example>\r\n\r\n`,
    ),
    // 8-bit and bare-CR bytes survive an import untouched
    Buffer.from('caf\xe9\rline\n'.repeat(Math.ceil(bodyBytes / 10)), 'latin1'),
  ]);
}

describe('Gmail API delivery through the stand-in', () => {
  const google = new GoogleStandIn();
  let home: string;
  let store: FileGmailCredentialStore;
  let serviceAccount: GmailCredential;

  beforeAll(async () => {
    await google.start();
    home = mkdtempSync(join(tmpdir(), 'gmail-api-'));
    store = new FileGmailCredentialStore(join(home, 'gmail'));
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    serviceAccount = {
      type: 'service_account',
      client_email: 'archiver@project.iam.gserviceaccount.com',
      client_id: '1234567890',
      private_key_id: 'k1',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      token_uri: google.tokenUri,
    };
    google.addServiceAccount(
      serviceAccount.client_email,
      publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      [GMAIL_INSERT_SCOPE, GMAIL_READONLY_SCOPE],
    );
    google.addUser(WORKSPACE_USER);
    google.addUser(CONSUMER_USER);
    await store.save(WORKSPACE_USER, serviceAccount);
    google.addOAuthClient('client-1.apps.googleusercontent.com', 'secret-1');
    await store.save(CONSUMER_USER, {
      type: 'authorized_user',
      client_id: 'client-1.apps.googleusercontent.com',
      client_secret: 'secret-1',
      refresh_token: google.issueRefreshToken('client-1.apps.googleusercontent.com', CONSUMER_USER, [
        GMAIL_INSERT_SCOPE,
      ]),
      token_uri: google.tokenUri,
    });
  });
  afterAll(async () => {
    await google.stop();
    rmSync(home, { recursive: true, force: true });
  });

  const api = (overrides: Partial<ConstructorParameters<typeof GmailApi>[0]> = {}) =>
    new GmailApi({ credentials: store, rootUrl: google.rootUrl, backoffMs: 5, ...overrides });

  it('keeps credentials in files only their owner can read', () => {
    expect(statSync(store.path(WORKSPACE_USER)).mode & 0o777).toBe(0o600);
  });

  it('imports the archived bytes unchanged (sha256), into INBOX and UNREAD, with the documented parameters', async () => {
    for (const [user, raw] of [
      [WORKSPACE_USER, message('workspace import')],
      [CONSUMER_USER, message('consumer import')],
    ] as const) {
      const { gmailMessageId } = await api().importMessage({ user, raw });
      const stored = google.mailboxes.get(user)?.messages.find((m) => m.id === gmailMessageId);
      expect(stored, user).toBeDefined();
      expect(sha256(stored?.raw as Buffer)).toBe(sha256(raw));
      expect(stored?.labelIds).toEqual(['INBOX', 'UNREAD']);
      expect(stored?.via).toEqual({
        uploadType: 'multipart',
        params: { internalDateSource: 'receivedTime', neverMarkSpam: 'false', processForCalendar: 'false' },
      });
    }
  });

  it('uses a resumable upload above 5 MB, with the same bytes and parameters', async () => {
    const raw = message('large import', 6 * 1024 * 1024);
    const { gmailMessageId } = await api().importMessage({ user: WORKSPACE_USER, raw });
    const stored = google.mailboxes.get(WORKSPACE_USER)?.messages.find((m) => m.id === gmailMessageId);
    expect(stored?.raw.equals(raw)).toBe(true);
    expect(stored?.labelIds).toEqual(['INBOX', 'UNREAD']);
    expect(stored?.via).toMatchObject({
      uploadType: 'resumable',
      params: { internalDateSource: 'receivedTime' },
    });
  });

  it('refuses messages over 150 MB before calling Google, permanently', async () => {
    const before = google.requests.length;
    const raw = Buffer.alloc(150 * 1024 * 1024 + 1, 0x61);
    const error = await api()
      .importMessage({ user: WORKSPACE_USER, raw })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SendError);
    expect((error as SendError).permanent).toBe(true);
    expect(google.requests.length).toBe(before);
  });

  it('retries 429 and rateLimitExceeded with backoff, honouring Retry-After', async () => {
    const slept: number[] = [];
    google.failNext(
      /messages\/import$/,
      {
        status: 429,
        body: { error: { code: 429, message: 'Too many', errors: [{ reason: 'rateLimitExceeded' }] } },
        headers: { 'retry-after': '2' },
      },
      {
        status: 403,
        body: {
          error: {
            code: 403,
            message: 'User-rate limit exceeded',
            errors: [{ reason: 'userRateLimitExceeded' }],
          },
        },
      },
    );
    const raw = message('after throttling');
    const { gmailMessageId } = await api({
      sleep: async (ms) => {
        slept.push(ms);
      },
    }).importMessage({ user: WORKSPACE_USER, raw });
    expect(slept).toEqual([2000, 10]);
    expect(
      google.mailboxes
        .get(WORKSPACE_USER)
        ?.messages.find((m) => m.id === gmailMessageId)
        ?.raw.equals(raw),
    ).toBe(true);
  });

  it('gives a transient failure back to the queue once its attempts are used up', async () => {
    google.failNext(/messages\/import$/, { status: 503 }, { status: 503 });
    const error = await api({ attempts: 2, sleep: async () => undefined })
      .importMessage({ user: WORKSPACE_USER, raw: message('unavailable') })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SendError);
    expect((error as SendError).permanent).toBe(false);
  });

  it('a Google that accepts the connection and never answers is a transient failure in bounded time, not a hang', async () => {
    // A server that takes connections and says nothing, as a stuck load balancer does.
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const quick = { attempts: 2, timeoutMs: 300, sleep: async () => undefined };
      const cases: [string, GmailApi][] = [['the Gmail API', api({ ...quick, rootUrl: `${silentUrl}/` })]];
      // The token endpoint silent instead: a refresh token whose token_uri does not answer.
      const stuck = new FileGmailCredentialStore(join(home, 'stuck'));
      await stuck.save(CONSUMER_USER, {
        type: 'authorized_user',
        client_id: 'client-1.apps.googleusercontent.com',
        client_secret: 'secret-1',
        refresh_token: 'never-refreshed',
        token_uri: `${silentUrl}/token`,
      });
      cases.push(['the token endpoint', api({ ...quick, credentials: stuck })]);
      for (const [what, client] of cases) {
        const started = Date.now();
        const error = await client
          .importMessage({ user: CONSUMER_USER, raw: message('into the void') })
          .catch((e: unknown) => e);
        expect(error, what).toBeInstanceOf(SendError);
        expect((error as SendError).permanent, what).toBe(false);
        expect((error as Error).message, what).toMatch(/did not answer in time \(request timed out\)/);
        expect(Date.now() - started, what).toBeLessThan(15_000);
      }
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('treats a 400 as permanent, without retrying', async () => {
    google.failNext(/messages\/import$/, {
      status: 400,
      body: { error: { code: 400, message: 'Invalid message', errors: [{ reason: 'badRequest' }] } },
    });
    const before = google.requests.filter((r) => r.path.endsWith('/import')).length;
    const error = await api()
      .importMessage({ user: WORKSPACE_USER, raw: message('bad') })
      .catch((e: unknown) => e);
    expect((error as SendError).permanent).toBe(true);
    expect(error).not.toBeInstanceOf(GmailAuthError);
    expect(google.requests.filter((r) => r.path.endsWith('/import')).length).toBe(before + 1);
  });

  it('refreshes an expired access token by itself (service account and refresh token alike)', async () => {
    const gmail = api();
    await gmail.importMessage({ user: WORKSPACE_USER, raw: message('before expiry') });
    await gmail.importMessage({ user: CONSUMER_USER, raw: message('before expiry 2') });
    const tokenCalls = () => google.requests.filter((r) => r.path === '/token' && r.status === 200).length;
    const before = tokenCalls();
    google.expireAccessTokens();
    await gmail.importMessage({ user: WORKSPACE_USER, raw: message('after expiry') });
    await gmail.importMessage({ user: CONSUMER_USER, raw: message('after expiry 2') });
    expect(tokenCalls()).toBe(before + 2);
  });

  it('says "re-authorise" when Google refuses the credential: revoked refresh token, missing delegation, 401', async () => {
    const revoked = new FileGmailCredentialStore(join(home, 'revoked'));
    await revoked.save(CONSUMER_USER, {
      type: 'authorized_user',
      client_id: 'client-1.apps.googleusercontent.com',
      client_secret: 'secret-1',
      refresh_token: '1//revoked-long-ago',
      token_uri: google.tokenUri,
    });
    const refused = await api({ credentials: revoked })
      .importMessage({ user: CONSUMER_USER, raw: message('revoked') })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GmailAuthError);
    expect((refused as GmailAuthError).permanent).toBe(true);
    expect((refused as Error).message).toMatch(/invalid_grant.*re-authorise/s);
    // After `gmail-auth` stored a new token, the same (warm) client reads it again and delivers.
    const warm = api({ credentials: revoked });
    await warm.importMessage({ user: CONSUMER_USER, raw: message('still revoked') }).catch(() => undefined);
    await revoked.save(CONSUMER_USER, {
      type: 'authorized_user',
      client_id: 'client-1.apps.googleusercontent.com',
      client_secret: 'secret-1',
      refresh_token: google.issueRefreshToken('client-1.apps.googleusercontent.com', CONSUMER_USER, [
        GMAIL_INSERT_SCOPE,
      ]),
      token_uri: google.tokenUri,
    });
    await expect(
      warm.importMessage({ user: CONSUMER_USER, raw: message('re-authorised') }),
    ).resolves.toBeDefined();

    // A service account the admin never delegated to: the token endpoint says unauthorized_client.
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    google.addServiceAccount(
      'undelegated@project.iam.gserviceaccount.com',
      publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      [],
    );
    const undelegated = new FileGmailCredentialStore(join(home, 'undelegated'));
    await undelegated.save(WORKSPACE_USER, {
      ...serviceAccount,
      client_email: 'undelegated@project.iam.gserviceaccount.com',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    } as GmailCredential);
    const notDelegated = await api({ credentials: undelegated })
      .importMessage({ user: WORKSPACE_USER, raw: message('undelegated') })
      .catch((e: unknown) => e);
    expect(notDelegated).toBeInstanceOf(GmailAuthError);
    expect((notDelegated as Error).message).toMatch(/unauthorized_client/);

    // The API's own 401 (the library retries once with a fresh token first; both refused).
    google.failNext(/messages\/import$/, { status: 401 }, { status: 401 });
    const unauthorised = await api()
      .importMessage({ user: WORKSPACE_USER, raw: message('401') })
      .catch((e: unknown) => e);
    expect(unauthorised).toBeInstanceOf(GmailAuthError);
  });

  it('signs the service account JWT with its key: a key that is not the registered one is refused', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = gmailAuthClient(
      {
        ...serviceAccount,
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      } as GmailCredential,
      WORKSPACE_USER,
      [GMAIL_INSERT_SCOPE],
    );
    await expect(forged.getAccessToken()).rejects.toThrow(/Invalid JWT Signature/);
    const genuine = gmailAuthClient(serviceAccount, WORKSPACE_USER, [GMAIL_INSERT_SCOPE]);
    expect((await genuine.getAccessToken()).token).toMatch(/^ya29\./);
    // The stand-in issued that token for the impersonated user with exactly the requested scope.
    const wrongSubject = gmailAuthClient(serviceAccount, 'nobody@corp.example', [GMAIL_INSERT_SCOPE]);
    await expect(wrongSubject.getAccessToken()).rejects.toThrow(/Invalid email or User ID/);
  });

  it('gmail-auth: the loopback consent flow (PKCE) yields a refresh token that imports', async () => {
    google.consentUser = 'new.user@gmail.com';
    google.addUser('new.user@gmail.com');
    const client = parseClientSecretFile(
      JSON.stringify({
        installed: {
          client_id: 'client-1.apps.googleusercontent.com',
          client_secret: 'secret-1',
          auth_uri: google.authUri,
          token_uri: google.tokenUri,
          redirect_uris: ['http://localhost'],
        },
      }),
      'client.json',
    );
    let consentUrl = '';
    const credential = await authoriseConsumerGmail({
      client,
      user: 'new.user@gmail.com',
      scopes: [GMAIL_INSERT_SCOPE],
      // The "browser": follows the consent page's redirect back to the loopback listener.
      openUrl: async (url) => {
        consentUrl = url;
        const answer = await fetch(url, { redirect: 'follow' });
        expect(answer.status).toBe(200);
      },
    });
    const asked = new URL(consentUrl).searchParams;
    expect(asked.get('code_challenge_method')).toBe('S256');
    expect(asked.get('access_type')).toBe('offline');
    expect(asked.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(credential).toMatchObject({ type: 'authorized_user', token_uri: google.tokenUri });
    const fresh = new FileGmailCredentialStore(join(home, 'fresh'));
    await fresh.save('new.user@gmail.com', credential);
    const raw = message('after gmail-auth');
    const { gmailMessageId } = await api({ credentials: fresh }).importMessage({
      user: 'new.user@gmail.com',
      raw,
    });
    expect(
      google.mailboxes
        .get('new.user@gmail.com')
        ?.messages.find((m) => m.id === gmailMessageId)
        ?.raw.equals(raw),
    ).toBe(true);
  });

  it('gmail-auth: a service account is tried before it is stored; a missing delegation says where to add it', async () => {
    await expect(
      checkServiceAccount(serviceAccount, WORKSPACE_USER, [GMAIL_INSERT_SCOPE]),
    ).resolves.toBeUndefined();
    await expect(
      checkServiceAccount(serviceAccount, WORKSPACE_USER, [GMAIL_INSERT_SCOPE, 'https://mail.google.com/']),
    ).rejects.toThrow(/Domain-wide delegation/);
  });

  it('refuses a credential file that others can read', async () => {
    const path = store.path('leaky@corp.example');
    writeFileSync(path, JSON.stringify(serviceAccount), { mode: 0o644 });
    await expect(store.load('leaky@corp.example')).rejects.toThrow(/readable by others/);
  });

  it('an unusable credential file (readable by others, not JSON, not a credential) is an authorisation failure: no retries, no request', async () => {
    for (const [user, content, mode, said] of [
      ['leaky@corp.example', JSON.stringify(serviceAccount), 0o644, /readable by others \(chmod 600 it\)/],
      ['garbled@corp.example', '{garbage', 0o600, /is not JSON/],
      ['wrong@corp.example', '{"type":"authorized_user"}', 0o600, /expected a service account key/],
    ] as const) {
      google.addUser(user);
      writeFileSync(store.path(user), content, { mode });
      const before = google.requests.length;
      let slept = 0;
      const failure = await api({
        sleep: async () => {
          slept += 1;
        },
      })
        .importMessage({ user, raw: message('never sent') })
        .catch((error: unknown) => error);
      expect(failure, user).toBeInstanceOf(GmailAuthError);
      expect((failure as GmailAuthError).permanent).toBe(true);
      expect((failure as Error).message).toMatch(said);
      expect((failure as Error).message).toMatch(/re-authorise with: mail-archiver gmail-auth/);
      expect(slept, user).toBe(0);
      expect(google.requests.length, user).toBe(before);
    }
  });
});
