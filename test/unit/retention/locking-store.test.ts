// The lock step as the S3 API sees it (aws-sdk-client-mock): ingest locks the version of the raw object it read,
// by that version's id (SES wrote it: PutObjectRetention), and writes every sidecar version locked in the PutObject
// itself (its lock headers and a checksum, no PutObjectRetention), with the configured mode and days; with the lock off
// nothing is sent; a lock that S3 refuses fails the ingest (so SQS retries it; the sweep finds the version). A
// message only to the canary address is tagged instead (its raw version and its sidecar), and its row expires.
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  PutObjectTaggingCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryMailIndex } from '../../../shared/adapters/memory-index';
import { S3ObjectLocks } from '../../../shared/adapters/s3-object-locks';
import { S3RawMailStore } from '../../../shared/adapters/s3-raw-store';
import { archiveReceivedMail } from '../../../shared/archive/ingest';
import { buildReceivedNotification } from '../../../shared/receiving/ses-notification';
import { archiveLocker } from '../../../shared/retention/lock-policy';
import { lockingStore } from '../../../shared/retention/locking-store';
import { exampleConfig } from '../../support/config';
import { makeMessage } from '../../support/messages';

const s3 = mockClient(S3Client);
const NOW = new Date('2026-03-01T12:00:00.000Z');
const notification = buildReceivedNotification({
  messageId: 'ses-lock-1',
  timestamp: NOW,
  source: 'ann@sender.example.org',
  recipients: ['alice@example.com'],
  bucket: 'raw',
  objectKey: 'incoming/ses-lock-1',
});

function answerLikeS3() {
  s3.reset();
  let sidecarVersions = 0;
  s3.on(HeadObjectCommand).rejects(
    Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }),
  );
  s3.on(GetObjectCommand).callsFake(() => ({
    Body: Readable.from([makeMessage({ subject: 'locked' })]) as never,
    VersionId: 'raw-version-read',
  }));
  s3.on(PutObjectCommand).callsFake(() => ({ VersionId: `sidecar-version-${++sidecarVersions}` }));
  s3.on(PutObjectRetentionCommand).resolves({});
  s3.on(PutObjectTaggingCommand).resolves({});
}

async function ingestWith(
  archive: Record<string, unknown>,
  recipients = ['alice@example.com'],
  options: { receiptFirst?: boolean } = {},
) {
  const config = exampleConfig({ archive });
  const client = new S3Client({ region: 'us-east-1' });
  const locker = archiveLocker(config, new S3ObjectLocks(client), () => NOW);
  const index = new MemoryMailIndex(() => NOW);
  const outcome = await archiveReceivedMail(
    { ...notification, receipt: { ...notification.receipt, recipients } },
    {
      config,
      store: lockingStore(new S3RawMailStore(client), locker),
      index,
      now: () => NOW,
      ...(locker ? { locker } : {}),
      ...options,
    },
  );
  const rows = await Promise.all(
    outcome.deliveries.map((d) => index.getDelivery(d.mailbox, outcome.messageKey)),
  );
  return { outcome, rows };
}

describe('the lock step of ingest', () => {
  beforeEach(answerLikeS3);

  it('locks the raw version it read, by its id, and writes the sidecar locked in one request', async () => {
    await ingestWith({ lock: { mode: 'compliance', retainDays: 365 } });
    const locks = s3.commandCalls(PutObjectRetentionCommand).map((c) => c.args[0].input);
    const until = new Date('2027-03-01T12:00:00.000Z');
    expect(locks).toEqual([
      {
        Bucket: 'raw',
        Key: 'incoming/ses-lock-1',
        VersionId: 'raw-version-read',
        Retention: { Mode: 'COMPLIANCE', RetainUntilDate: until },
      },
    ]);
    // The sidecar is written once, with the deliveries, and locked by that write (S3 requires a checksum then).
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(
      puts.map((p) => [p.Key, p.ObjectLockMode, p.ObjectLockRetainUntilDate, p.ChecksumAlgorithm]),
    ).toEqual([['envelopes/ses-lock-1.json', 'COMPLIANCE', until, 'CRC32']]);
  });

  it('on a redelivery writes the sidecar locked before the message is read, then again with the rows', async () => {
    await ingestWith({ lock: { mode: 'compliance', retainDays: 365 } }, undefined, { receiptFirst: true });
    const requests = s3
      .calls()
      .map((c) => c.args[0] as unknown as { constructor: { name: string }; input: Record<string, unknown> })
      .filter((c) => ['PutObjectCommand', 'PutObjectRetentionCommand'].includes(c.constructor.name))
      .map((c) => `${c.constructor.name} ${c.input.Key} ${c.input.ObjectLockMode ?? c.input.VersionId}`);
    expect(requests).toEqual([
      'PutObjectCommand envelopes/ses-lock-1.json COMPLIANCE',
      'PutObjectRetentionCommand incoming/ses-lock-1 raw-version-read',
      'PutObjectCommand envelopes/ses-lock-1.json COMPLIANCE',
    ]);
  });

  it('governance is the default mode', async () => {
    await ingestWith({});
    const modes = s3.commandCalls(PutObjectRetentionCommand).map((c) => c.args[0].input.Retention?.Mode);
    expect(modes).toEqual(['GOVERNANCE']);
    expect(s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.ObjectLockMode)).toEqual([
      'GOVERNANCE',
    ]);
  });

  it('sends no lock with the lock off', async () => {
    await ingestWith({ lock: { mode: 'off' } });
    expect(s3.commandCalls(PutObjectRetentionCommand)).toHaveLength(0);
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => [p.ObjectLockMode, p.ObjectLockRetainUntilDate, p.ChecksumAlgorithm])).toEqual([
      [undefined, undefined, undefined],
    ]);
  });

  it('when S3 refuses the locked write of the sidecar, writes it unlocked and still fails, so the message is retried', async () => {
    // The envelope (Bcc recipients included) reaches S3 whatever the lock does; the sweep reports the version.
    const refused = Object.assign(new Error('Access Denied'), {
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    s3.on(PutObjectCommand).callsFake((input: { ObjectLockMode?: string }) => {
      if (input.ObjectLockMode) throw refused;
      return { VersionId: 'unlocked-sidecar' };
    });
    await expect(ingestWith({})).rejects.toThrow('Access Denied');
    const puts = s3
      .commandCalls(PutObjectCommand)
      .map((c) => [c.args[0].input.Key, c.args[0].input.ObjectLockMode]);
    expect(puts.filter(([, mode]) => mode === undefined).map(([key]) => key)).toContain(
      'envelopes/ses-lock-1.json',
    );
  });

  it('does not write twice when the locked write fails without an answer from S3 (a timeout, a reset)', async () => {
    s3.on(PutObjectCommand).rejects(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }));
    await expect(ingestWith({})).rejects.toThrow('socket hang up');
    expect(s3.commandCalls(PutObjectCommand).every((c) => c.args[0].input.ObjectLockMode)).toBe(true);
  });

  it('fails when S3 refuses the lock, so that the message is retried', async () => {
    s3.on(PutObjectRetentionCommand).rejects(
      Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }),
    );
    await expect(ingestWith({})).rejects.toThrow('Access Denied');
  });

  it('tags a message only to the canary address instead of locking it, and its row expires after keepDays', async () => {
    const { rows } = await ingestWith({}, ['canary@example.com', 'Canary+x@Example.com']);
    expect(s3.commandCalls(PutObjectRetentionCommand)).toHaveLength(0);
    const tagged = s3.commandCalls(PutObjectTaggingCommand).map((c) => c.args[0].input);
    expect(tagged).toEqual([
      {
        Bucket: 'raw',
        Key: 'incoming/ses-lock-1',
        VersionId: 'raw-version-read',
        Tagging: { TagSet: [{ Key: 'mail-archiver:canary', Value: '1' }] },
      },
    ]);
    // The sidecar's write carries the tag (PutObject x-amz-tagging), so the lifecycle rule expires it too, and
    // no lock.
    const sidecars = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(sidecars.map((p) => [p.Key, p.Tagging, p.ObjectLockMode])).toEqual([
      ['envelopes/ses-lock-1.json', 'mail-archiver%3Acanary=1', undefined],
    ]);
    expect(rows.map((r) => [r?.mailbox, r?.expiresAt])).toEqual([
      ['canary@example.com', Math.floor(NOW.getTime() / 1000) + 14 * 86400],
    ]);
  });

  it('locks a message to the canary and a real mailbox as usual: it is mail', async () => {
    const { rows } = await ingestWith({}, ['canary@example.com', 'alice@example.com']);
    expect(s3.commandCalls(PutObjectTaggingCommand)).toHaveLength(0);
    expect(s3.commandCalls(PutObjectRetentionCommand)).toHaveLength(1);
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => [p.Tagging, p.ObjectLockMode])).toEqual([[undefined, 'GOVERNANCE']]);
    expect(rows.map((r) => r?.expiresAt)).toEqual([undefined, undefined]);
  });

  it('with the lock off a canary is kept like every version: neither tagged nor expiring', async () => {
    const { rows } = await ingestWith({ lock: { mode: 'off' } }, ['canary@example.com']);
    expect(s3.commandCalls(PutObjectTaggingCommand)).toHaveLength(0);
    expect(s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Tagging)).toEqual([undefined]);
    expect(rows[0]?.expiresAt).toBeUndefined();
  });
});
