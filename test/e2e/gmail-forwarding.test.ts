import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiveRawMessage } from '../../cli/local/archive';
import { type RunningLocalStack, startLocalStack } from '../../cli/local/stack';
import { GmailApi } from '../../shared/adapters/gmail-api';
import { FileGmailCredentialStore } from '../../shared/adapters/gmail-credentials';
import { RawStoreSentCollectionState } from '../../shared/adapters/raw-store-sent-state';
import { GMAIL_INSERT_SCOPE, GMAIL_READONLY_SCOPE } from '../../shared/forwarding/gmail';
import type { ForwardEntry } from '../../shared/forwarding/ledger';
import { collectSentMail } from '../../shared/forwarding/sent-collection';
import type { DeliveryRow } from '../../shared/index/schema';
import { GMAIL_AUTH_FAILURE_LOG } from '../../shared/metrics';
import { runCli } from '../support/cli';
import { exampleConfig } from '../support/config';
import { GoogleStandIn } from '../support/google-standin';
import { makeMessage } from '../support/messages';
import { receiveAndArchive } from '../support/receive';

const TARGET = 'alice.example@gmail.com';
const CLIENT = 'desktop-client.apps.googleusercontent.com';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const config = exampleConfig({
  mailboxes: {
    'alice@example.com': { forwardTo: [{ address: TARGET, via: 'gmail-api', collectSent: true }] },
    'bob@example.com': { forwardTo: [] },
  },
});
const google = new GoogleStandIn();
const logLines: string[] = [];
let home: string;
let stack: RunningLocalStack;

beforeAll(async () => {
  await google.start();
  google.addUser(TARGET);
  google.addOAuthClient(CLIENT, 'desktop-secret');
  home = mkdtempSync(join(tmpdir(), 'mail-archiver-gmail-'));
  await new FileGmailCredentialStore(join(home, 'gmail')).save(TARGET, {
    type: 'authorized_user',
    client_id: CLIENT,
    client_secret: 'desktop-secret',
    refresh_token: google.issueRefreshToken(CLIENT, TARGET, [GMAIL_INSERT_SCOPE, GMAIL_READONLY_SCOPE]),
    token_uri: google.tokenUri,
  });
  stack = await startLocalStack(config, {
    home,
    smtpPort: 0,
    sinkPort: 0,
    gmailRootUrl: google.rootUrl,
    forwardRetry: { attempts: 3, backoffMs: 10 },
    log: (line) => logLines.push(line),
  });
});
afterAll(async () => {
  await stack?.stop();
  await google.stop();
  rmSync(home, { recursive: true, force: true });
});

async function ledger(): Promise<ForwardEntry[]> {
  const out: ForwardEntry[] = [];
  for await (const e of stack.archive.index.listForwards('alice@example.com')) out.push(e);
  return out;
}

async function archivedBytes(messageKey: string): Promise<Buffer> {
  const row = await stack.archive.index.getDelivery('alice@example.com', messageKey);
  const chunks: Uint8Array[] = [];
  for await (const c of await stack.archive.store.read(row?.location as { bucket: string; key: string }))
    chunks.push(c);
  return Buffer.concat(chunks);
}

const imported = () => google.mailboxes.get(TARGET)?.messages.filter((m) => m.via !== 'sent') ?? [];

describe('Gmail API delivery on the local stack', () => {
  it("SMTP receipt -> an imported copy whose bytes are the archived bytes, recorded with Gmail's id", async () => {
    await createTransport({
      host: stack.smtp.host,
      port: stack.smtp.port,
      secure: false,
      ignoreTLS: true,
    }).sendMail({
      from: 'Ann <ann@sender.example.org>',
      to: 'alice@example.com',
      subject: 'to gmail by the API',
      text: 'hello\n',
    });
    const [entry] = await ledger();
    expect(entry).toMatchObject({ state: 'sent', target: TARGET, attempts: 1 });
    expect(entry?.gmailMessageId).toBeDefined();
    const copy = imported().find((m) => m.id === entry?.gmailMessageId);
    const archived = await archivedBytes(entry?.messageKey as string);
    expect(sha256(copy?.raw as Buffer)).toBe(sha256(archived));
    expect(copy?.labelIds).toEqual(['INBOX', 'UNREAD']);
  });

  it('`forwards` shows each entry with the subject and sender of its message', async () => {
    const { stdout, stderr, code } = await runCli(['forwards', 'alice@example.com'], { home });
    expect(code, stderr).toBe(0);
    const [header, line] = stdout.trim().split('\n');
    expect(header).toMatch(/STATE\s+TARGET\s+FROM\s+SUBJECT\s+DETAIL/);
    expect(line).toMatch(
      /sent\s+alice\.example@gmail\.com\s+Ann <ann@sender\.example\.org>\s+to gmail by the API\s+gmail \w+/,
    );
  });

  it('imports once when the same event arrives three times, in a row or at once', async () => {
    const before = imported().length;
    const notification = await receiveRawMessage(stack.archive, {
      raw: makeMessage({ subject: 'delivered thrice' }),
      envelopeFrom: 'ann@sender.example.org',
      recipients: ['alice@example.com'],
    });
    for (let i = 0; i < 3; i++) await stack.archive.deliver(notification);
    await Promise.all([1, 2, 3].map(() => stack.archive.deliver(notification)));
    expect(imported().length - before).toBe(1);
  });

  it('retries when Gmail is unavailable, then imports once', async () => {
    const before = imported().length;
    // Four refusals use up the importer's own attempts; the queue's retry then succeeds.
    google.failNext(/messages\/import$/, ...Array.from({ length: 4 }, () => ({ status: 503 })));
    await receiveAndArchive(stack.archive, makeMessage({ subject: 'gmail was down' }));
    expect(imported().length - before).toBe(1);
    expect((await ledger()).find((e) => e.attempts === 2 && e.state === 'sent')).toBeDefined();
  });

  it('parks an import Google refuses to authorise, and logs the line the alarm counts', async () => {
    google.failNext(/messages\/import$/, { status: 401 }, { status: 401 });
    await receiveAndArchive(stack.archive, makeMessage({ subject: 'token revoked' }));
    const failed = (await ledger()).filter((e) => e.state === 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ permanent: true, error: expect.stringMatching(/re-authorise/) });
    expect(logLines.some((l) => l.includes(GMAIL_AUTH_FAILURE_LOG))).toBe(true);
  });

  it('collects what the user sent from Gmail into Sent, resuming from the last history id', async () => {
    const deps = {
      config,
      reader: new GmailApi({
        credentials: new FileGmailCredentialStore(join(home, 'gmail')),
        rootUrl: google.rootUrl,
      }),
      state: new RawStoreSentCollectionState(stack.archive.store, stack.archive.bucket),
      store: stack.archive.store,
      index: stack.archive.index,
      bucket: stack.archive.bucket,
    };
    const target = { address: TARGET, mailbox: 'alice@example.com' };
    const sent = (subject: string) =>
      makeMessage({ subject, from: `Alice <${TARGET}>`, to: 'carol@elsewhere.example' });
    google.userSends(TARGET, sent('before the first run'));
    const first = await collectSentMail(target, deps);
    expect(first).toMatchObject({ mode: 'started', archived: 0 });

    google.pageSize = 2; // several pages
    const raws = [sent('sent 1'), sent('sent 2'), sent('sent 3')];
    for (const raw of raws) google.userSends(TARGET, raw);
    const second = await collectSentMail(target, deps);
    expect(second).toMatchObject({ mode: 'history', archived: 3, duplicates: 0 });

    const sentRows: DeliveryRow[] = [];
    for await (const row of stack.archive.index.folderDeliveries('alice@example.com', 'Sent'))
      sentRows.push(row);
    expect(sentRows.map((r) => r.subject).sort()).toEqual(['sent 1', 'sent 2', 'sent 3']);
    expect(sentRows.every((r) => r.flags.includes('\\Seen'))).toBe(true);
    for (const row of sentRows) {
      const raw = raws.find((r) => r.toString().includes(`Subject: ${row.subject}\r\n`)) as Buffer;
      expect(sha256(await archivedBytes(row.messageKey))).toBe(sha256(raw));
    }
    // Collected mail is archived, never forwarded back to Gmail.
    expect((await ledger()).some((e) => sentRows.some((r) => r.messageKey === e.messageKey))).toBe(false);

    // Nothing new: nothing archived. A replay from the old history id archives nothing twice.
    expect(await collectSentMail(target, deps)).toMatchObject({ archived: 0, duplicates: 0 });
    await deps.state.put(TARGET, {
      historyId: String(first.historyId),
      collectedAt: new Date().toISOString(),
    });
    expect(await collectSentMail(target, deps)).toMatchObject({ archived: 0, duplicates: 3 });

    // Google forgot the history id (more than a week without a run): the fallback lists SENT from a day before
    // the last run, which also finds the message sent before the first run; the rest are duplicates.
    google.userSends(TARGET, sent('sent 4'));
    google.forgetHistory(TARGET);
    google.userSends(TARGET, sent('sent 5'));
    const fallback = await collectSentMail(target, deps);
    expect(fallback).toMatchObject({ mode: 'listing', archived: 3, duplicates: 3 });
    expect(await collectSentMail(target, deps)).toMatchObject({
      mode: 'history',
      archived: 0,
      duplicates: 0,
    });
  });

  it('`collect-sent` uses the Gmail API root forwarding uses (MAIL_ARCHIVER_GMAIL_ROOT_URL), not Google', async () => {
    const configFile = join(home, 'gmail-config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        domains: ['example.com'],
        mailboxes: {
          'alice@example.com': { forwardTo: [{ address: TARGET, via: 'gmail-api', collectSent: true }] },
        },
        journalAddress: 'sent@journal.example.com',
        alarmEmail: 'ops@example.com',
        ses: { ruleSetName: 'mail-archiver', activateRuleSet: true },
      }),
    );
    google.userSends(TARGET, makeMessage({ subject: 'sent 6', from: `Alice <${TARGET}>` }));
    const { stdout, stderr, code } = await runCli(['collect-sent'], {
      home,
      env: { MAIL_ARCHIVER_CONFIG: configFile, MAIL_ARCHIVER_GMAIL_ROOT_URL: google.rootUrl },
    });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(new RegExp(`${TARGET} -> alice@example.com/Sent: 1 archived, 0 already there`));
  });
});
