// The lock step as the S3 API sees it (aws-sdk-client-mock): ingest locks the version of the raw object it read,
// by that version's id, and every sidecar version it wrote, with the configured mode and days; with the lock off
// nothing is sent; a lock that S3 refuses fails the ingest (so SQS retries it; the sweep finds the version).
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryMailIndex } from '../../shared/adapters/memory-index';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import { buildReceivedNotification } from '../../shared/receiving/ses-notification';
import { archiveLocker } from '../../shared/retention/lock-policy';
import { lockingStore } from '../../shared/retention/locking-store';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';

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
  s3.on(GetObjectCommand, { Key: 'incoming/ses-lock-1' }).callsFake(() => ({
    Body: Readable.from([makeMessage({ subject: 'locked' })]) as never,
    VersionId: 'raw-version-read',
  }));
  s3.on(PutObjectCommand).callsFake(() => ({ VersionId: `sidecar-version-${++sidecarVersions}` }));
  s3.on(PutObjectRetentionCommand).resolves({});
}

async function ingestWith(archive: Record<string, unknown>, options: { receiptFirst?: boolean } = {}) {
  const config = exampleConfig({ archive });
  const client = new S3Client({ region: 'us-east-1' });
  const locker = archiveLocker(config, new S3ObjectLocks(client), () => NOW);
  return archiveReceivedMail(notification, {
    config,
    store: lockingStore(new S3RawMailStore(client), locker),
    index: new MemoryMailIndex(() => NOW),
    now: () => NOW,
    ...(locker ? { locker } : {}),
    ...options,
  });
}

describe('the lock step of ingest', () => {
  beforeEach(answerLikeS3);

  it('locks the raw version it read, by its id, and the sidecar version it wrote', async () => {
    await ingestWith({ lock: { mode: 'compliance', retainDays: 365 } });
    const locks = s3.commandCalls(PutObjectRetentionCommand).map((c) => c.args[0].input);
    const until = new Date('2027-03-01T12:00:00.000Z');
    expect(locks).toEqual([
      // The raw version read is locked first; the sidecar is written once, with the deliveries.
      {
        Bucket: 'raw',
        Key: 'incoming/ses-lock-1',
        VersionId: 'raw-version-read',
        Retention: { Mode: 'COMPLIANCE', RetainUntilDate: until },
      },
      {
        Bucket: 'raw',
        Key: 'envelopes/ses-lock-1.json',
        VersionId: 'sidecar-version-1',
        Retention: { Mode: 'COMPLIANCE', RetainUntilDate: until },
      },
    ]);
  });

  it('on a redelivery writes and locks the sidecar before the message is read, then again with the rows', async () => {
    await ingestWith({ lock: { mode: 'compliance', retainDays: 365 } }, { receiptFirst: true });
    const locked = s3
      .commandCalls(PutObjectRetentionCommand)
      .map((c) => `${c.args[0].input.Key} ${c.args[0].input.VersionId}`);
    expect(locked).toEqual([
      'envelopes/ses-lock-1.json sidecar-version-1',
      'incoming/ses-lock-1 raw-version-read',
      'envelopes/ses-lock-1.json sidecar-version-2',
    ]);
  });

  it('governance is the default mode', async () => {
    await ingestWith({});
    const modes = s3.commandCalls(PutObjectRetentionCommand).map((c) => c.args[0].input.Retention?.Mode);
    expect(modes).toEqual(['GOVERNANCE', 'GOVERNANCE']);
  });

  it('sends no lock with the lock off', async () => {
    await ingestWith({ lock: { mode: 'off' } });
    expect(s3.commandCalls(PutObjectRetentionCommand)).toHaveLength(0);
  });

  it('fails when S3 refuses the lock, so that the message is retried', async () => {
    s3.on(PutObjectRetentionCommand).rejects(
      Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }),
    );
    await expect(ingestWith({})).rejects.toThrow('Access Denied');
  });
});
