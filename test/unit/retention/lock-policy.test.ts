// Ingest's lock step on a version that is already locked, as the S3 API sees it (aws-sdk-client-mock): GetObject
// answers the version's retention (x-amz-object-lock-mode and -retain-until-date, sent to a caller with
// s3:GetObjectRetention), and ingest asks S3 for no retention the version has already: none when it lasts as long
// (whatever the modes), an extension in the version's own mode when it is shorter, the configured lock when it has
// none or it has ended.
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
const DAY = 24 * 3600 * 1000;
const daysFromNow = (days: number) => new Date(NOW.getTime() + days * DAY);
const notification = buildReceivedNotification({
  messageId: 'import-1',
  timestamp: NOW,
  source: '',
  recipients: ['bob@example.com'],
  bucket: 'raw',
  objectKey: 'incoming/import-1',
});

/** S3 answering the raw object's read with `retention` (none: no lock headers, as for SES's version). */
function answerLikeS3(retention?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; until: Date }) {
  s3.reset();
  s3.on(HeadObjectCommand).rejects(
    Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }),
  );
  s3.on(GetObjectCommand).callsFake(() => ({
    Body: Readable.from([makeMessage({ subject: 'imported' })]) as never,
    VersionId: 'raw-version-read',
    ...(retention ? { ObjectLockMode: retention.mode, ObjectLockRetainUntilDate: retention.until } : {}),
  }));
  s3.on(PutObjectCommand).resolves({ VersionId: 'sidecar-version' });
  s3.on(PutObjectRetentionCommand).resolves({});
}

async function ingestWith(lock: Record<string, unknown>) {
  const config = exampleConfig({ archive: { lock } });
  const client = new S3Client({ region: 'us-east-1' });
  const locker = archiveLocker(config, new S3ObjectLocks(client), () => NOW);
  await archiveReceivedMail(notification, {
    config,
    store: lockingStore(new S3RawMailStore(client), locker),
    index: new MemoryMailIndex(() => NOW),
    now: () => NOW,
    ...(locker ? { locker } : {}),
  });
  // Only the raw version's: the sidecar is written locked by its PutObject.
  return s3.commandCalls(PutObjectRetentionCommand).map((c) => c.args[0].input);
}

describe("ingest's lock step asks S3 for no retention a version has already", () => {
  beforeEach(() => answerLikeS3());

  it('a version read without retention (SES wrote it) is locked with the configured mode and days', async () => {
    expect(await ingestWith({ mode: 'governance', retainDays: 30 })).toEqual([
      {
        Bucket: 'raw',
        Key: 'incoming/import-1',
        VersionId: 'raw-version-read',
        Retention: { Mode: 'GOVERNANCE', RetainUntilDate: daysFromNow(30) },
      },
    ]);
  });

  it('a version locked longer than the config now says (retainDays lowered) gets no request', async () => {
    answerLikeS3({ mode: 'GOVERNANCE', until: daysFromNow(3650) });
    expect(await ingestWith({ mode: 'governance', retainDays: 30 })).toEqual([]);
  });

  it('a version locked by its write a moment ago, with the same days, gets no second request', async () => {
    // The import computed its retention just before its write; ingest reads it a second later.
    answerLikeS3({ mode: 'GOVERNANCE', until: new Date(daysFromNow(3650).getTime() - 1000) });
    expect(await ingestWith({ mode: 'governance', retainDays: 3650 })).toEqual([]);
  });

  it.each([
    ['COMPLIANCE', 'governance'],
    ['GOVERNANCE', 'compliance'],
  ] as const)(
    'a %s lock at least as long under a %s config gets no request: no mode is changed',
    async (mode, configured) => {
      answerLikeS3({ mode, until: daysFromNow(400) });
      expect(await ingestWith({ mode: configured, retainDays: 365 })).toEqual([]);
    },
  );

  it.each([
    ['GOVERNANCE', 'governance'],
    ['COMPLIANCE', 'governance'],
    ['GOVERNANCE', 'compliance'],
  ] as const)(
    'a shorter %s lock under a %s config is extended to the configured days in its own mode',
    async (mode, configured) => {
      answerLikeS3({ mode, until: daysFromNow(10) });
      expect(await ingestWith({ mode: configured, retainDays: 365 })).toEqual([
        {
          Bucket: 'raw',
          Key: 'incoming/import-1',
          VersionId: 'raw-version-read',
          Retention: { Mode: mode, RetainUntilDate: daysFromNow(365) },
        },
      ]);
    },
  );

  it('a retention that has ended is locked again as the config says', async () => {
    answerLikeS3({ mode: 'COMPLIANCE', until: daysFromNow(-1) });
    expect(await ingestWith({ mode: 'governance', retainDays: 30 })).toEqual([
      {
        Bucket: 'raw',
        Key: 'incoming/import-1',
        VersionId: 'raw-version-read',
        Retention: { Mode: 'GOVERNANCE', RetainUntilDate: daysFromNow(30) },
      },
    ]);
  });
});
