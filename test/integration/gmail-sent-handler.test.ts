// The scheduled Sent-collection handler (lambdas/gmail-sent) with Google's clients against the stand-in, the
// file raw store and the in-memory index: a run collects; a target whose credential Google refuses is logged
// with the line the alarm counts and fails the invocation, after the other targets ran.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGmailSentHandler, SentCollectionFailedError } from '../../lambdas/gmail-sent/handler';
import { FileRawMailStore } from '../../shared/adapters/file-store';
import { GmailApi } from '../../shared/adapters/gmail-api';
import { FileGmailCredentialStore } from '../../shared/adapters/gmail-credentials';
import { MemoryMailIndex } from '../../shared/adapters/memory-index';
import { RawStoreSentCollectionState } from '../../shared/adapters/raw-store-sent-state';
import { GMAIL_INSERT_SCOPE, GMAIL_READONLY_SCOPE } from '../../shared/forwarding/gmail';
import { GMAIL_AUTH_FAILURE_LOG } from '../../shared/metrics';
import { exampleConfig } from '../support/config';
import { GoogleStandIn } from '../support/google-standin';
import { makeMessage } from '../support/messages';

const ALICE = 'alice.example@gmail.com';
const BOB = 'bob.example@gmail.com';
const config = exampleConfig({
  mailboxes: {
    'alice@example.com': { forwardTo: [{ address: ALICE, via: 'gmail-api', collectSent: true }] },
    'bob@example.com': { forwardTo: [{ address: BOB, via: 'gmail-api', collectSent: true }] },
  },
});

describe('the Sent-collection handler', () => {
  const google = new GoogleStandIn();
  let dir: string;
  beforeAll(async () => {
    await google.start();
    dir = mkdtempSync(join(tmpdir(), 'gmail-sent-'));
  });
  afterAll(async () => {
    await google.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('collects for every target; a refused credential is logged for the alarm and fails the run', async () => {
    google.addOAuthClient('c', 's');
    const credentials = new FileGmailCredentialStore(join(dir, 'gmail'));
    for (const user of [ALICE, BOB]) {
      google.addUser(user);
      await credentials.save(user, {
        type: 'authorized_user',
        client_id: 'c',
        client_secret: 's',
        refresh_token: google.issueRefreshToken('c', user, [GMAIL_INSERT_SCOPE, GMAIL_READONLY_SCOPE]),
        token_uri: google.tokenUri,
      });
    }
    const index = new MemoryMailIndex();
    const logged: { level: string; message: string; extra: unknown }[] = [];
    // The heartbeat: one ScheduledRunSucceeded per run that ended without a failure.
    const heartbeats: string[] = [];
    const metrics = {
      addMetric: (name: string) => heartbeats.push(name),
      publishStoredMetrics: () => undefined,
    } as never;
    // A run of the scheduled function, as a fresh Lambda instance would build it (same store and index).
    const newHandler = () =>
      createGmailSentHandler({
        config,
        reader: new GmailApi({ credentials, rootUrl: google.rootUrl }),
        store: new FileRawMailStore(join(dir, 'store')),
        state: new RawStoreSentCollectionState(new FileRawMailStore(join(dir, 'store')), 'raw'),
        index,
        bucket: 'raw',
        metrics,
        logger: {
          info: (message: string, extra?: unknown) => logged.push({ level: 'info', message, extra }),
          warn: (message: string, extra?: unknown) => logged.push({ level: 'warn', message, extra }),
        } as never,
      });
    const handler = newHandler();
    await handler(); // first run: records where each target starts
    google.userSends(
      ALICE,
      makeMessage({ subject: 'from alice', from: `Alice <${ALICE}>`, to: 'x@y.example' }),
    );
    google.userSends(BOB, makeMessage({ subject: 'from bob', from: `Bob <${BOB}>`, to: 'x@y.example' }));
    await handler();
    expect([...index.rows.values()].map((r) => `${r.mailbox} ${r.folder} ${r.subject}`).sort()).toEqual([
      'alice@example.com Sent from alice',
      'bob@example.com Sent from bob',
    ]);

    // Bob's refresh token is revoked (e.g. an app left in Testing status, after 7 days).
    await credentials.save(BOB, {
      type: 'authorized_user',
      client_id: 'c',
      client_secret: 's',
      refresh_token: 'revoked',
      token_uri: google.tokenUri,
    });
    google.userSends(
      ALICE,
      makeMessage({ subject: 'alice again', from: `Alice <${ALICE}>`, to: 'x@y.example' }),
    );
    const fresh = newHandler();
    expect(heartbeats).toEqual(['ScheduledRunSucceeded', 'ScheduledRunSucceeded']);
    await expect(fresh()).rejects.toBeInstanceOf(SentCollectionFailedError);
    expect(heartbeats).toHaveLength(2);
    expect([...index.rows.values()].some((r) => r.subject === 'alice again')).toBe(true);
    expect(logged.filter((l) => l.message === GMAIL_AUTH_FAILURE_LOG)).toEqual([
      {
        level: 'warn',
        message: GMAIL_AUTH_FAILURE_LOG,
        extra: expect.objectContaining({ target: BOB, reauthorise: true }),
      },
    ]);
  });
});
