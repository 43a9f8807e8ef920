// Object Lock on the local stack, end to end: the ingest path locks what it reads and writes (the raw version SES
// stored, every sidecar version) through the same SDK calls as on AWS, and the local S3 server then refuses what
// S3 refuses: deleting a locked or held version, overwriting a version's bytes, shortening retention, bypassing
// governance without the permission, and an Object Lock write without an integrity checksum. The transparency
// log's files are locked by the seal that creates them, and a log file left unlocked is the sweep's, not a
// message's.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiveRawMessage } from '../../cli/local/archive';
import { ensureBucket, type S3Local, startS3Local } from '../../cli/local/services';
import { archiveStorage } from '../../cli/target/archive';
import { createClients, destroyClients } from '../../shared/adapters/clients';
import { MemoryMailIndex } from '../../shared/adapters/memory-index';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import { DeliveryLog } from '../../shared/delivery-log/log';
import { deliveryRecordOf } from '../../shared/delivery-log/record';
import { envelopeKey, rawMailKey, TRANSPARENCY_PREFIX } from '../../shared/index/schema';
import type { ListedVersion } from '../../shared/ports';
import { ArchiveLocker, archiveLocker } from '../../shared/retention/lock-policy';
import { lockingStore } from '../../shared/retention/locking-store';
import { sweepUnlocked } from '../../shared/retention/sweep';
import { deliveryLogSource } from '../../shared/transparency/leaf';
import { checkpointPath, LogOverwriteError } from '../../shared/transparency/log-files';
import { KeyFileSigner } from '../../shared/transparency/note';
import { seal } from '../../shared/transparency/seal';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

const DAY = 24 * 3600 * 1000;
const errorOf = async (work: Promise<unknown>) =>
  work.then(
    () => undefined,
    (error: { name?: string; $metadata?: { httpStatusCode?: number } }) =>
      `${error.$metadata?.httpStatusCode} ${error.name}`,
  );
async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
async function text(body: AsyncIterable<Uint8Array> | undefined): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body ?? []) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

describe('ingest locks what it reads and writes (local stack, governance, 30 days)', () => {
  let services: TestServices;
  const config = exampleConfig({ archive: { lock: { mode: 'governance', retainDays: 30 } } });
  beforeAll(async () => {
    services = await startTestServices();
  }, 60_000);
  afterAll(async () => services?.stop());

  it('locks the raw version SES stored and every version of its sidecar; a delete of either is refused', async () => {
    const locks = new S3ObjectLocks(services.clients.s3);
    const locker = archiveLocker(config, locks);
    const store = lockingStore(services.store, locker);
    const { notification } = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'kept' }),
      {
        recipients: ['alice@example.com'],
      },
    );
    const before = Date.now();
    await archiveReceivedMail(notification, {
      config,
      store,
      index: services.index,
      ...(locker ? { locker } : {}),
      // As an SQS redelivery runs it: the sidecar is written twice (the receipt first, then the deliveries).
      receiptFirst: true,
    });
    const id = notification.mail.messageId;
    const versions = [
      ...(await collect(locks.versions(services.bucket, rawMailKey(id)))),
      ...(await collect(locks.versions(services.bucket, envelopeKey(id)))),
    ];
    // One raw version; both versions of the sidecar.
    expect(versions.map((v) => v.key)).toEqual([rawMailKey(id), envelopeKey(id), envelopeKey(id)]);
    for (const version of versions) {
      const retention = await locks.retention(version);
      expect(retention?.mode, version.key).toBe('GOVERNANCE');
      const until = new Date(retention?.retainUntil ?? 0).getTime();
      expect(until).toBeGreaterThanOrEqual(before + 30 * DAY - 1000);
      expect(until).toBeLessThanOrEqual(Date.now() + 30 * DAY);
      expect(
        await errorOf(
          services.clients.s3.send(
            new DeleteObjectCommand({
              Bucket: version.bucket,
              Key: version.key,
              VersionId: version.versionId,
            }),
          ),
        ),
        version.key,
      ).toBe('403 AccessDenied');
    }
  });

  it('a version that is gone carries no legal hold (an interrupted hold, released after lifecycle removed it)', async () => {
    const locks = new S3ObjectLocks(services.clients.s3);
    const key = 'incoming/gone-version-check';
    const put = await services.clients.s3.send(
      new PutObjectCommand({ Bucket: services.bucket, Key: key, Body: 'x' }),
    );
    const version = { bucket: services.bucket, key, versionId: put.VersionId as string };
    expect(await locks.legalHold(version)).toBe(false);
    await services.clients.s3.send(
      new DeleteObjectCommand({ Bucket: services.bucket, Key: key, VersionId: version.versionId }),
    );
    expect(await locks.legalHold(version)).toBe(false);
  });
});

describe('the seal locks each file of the transparency log it creates (local stack, governance, 30 days)', () => {
  let services: TestServices;
  const config = exampleConfig({ archive: { lock: { mode: 'governance', retainDays: 30 } } });
  beforeAll(async () => {
    services = await startTestServices();
  }, 60_000);
  afterAll(async () => services?.stop());

  it('every tile, entry bundle, checkpoint and seal record version is locked; deleting one or writing another checkpoint is refused', async () => {
    // The local archive as the CLI composes it (cli/target/archive.ts): its transparency store locks.
    const archive = archiveStorage(services.clients, services.bucket, services.tableName, config);
    const locks = new S3ObjectLocks(services.clients.s3);
    for (const subject of ['one', 'two', 'three']) {
      const { notification } = await receiveLikeSes(
        services.store,
        services.bucket,
        makeMessage({ subject }),
        {
          recipients: ['alice@example.com'],
        },
      );
      await archiveReceivedMail(notification, { config, store: archive.store, index: archive.index });
    }
    const rows = [];
    for await (const row of archive.index.allDeliveries()) rows.push(deliveryRecordOf(row));
    await archive.deliveryLog.append('reindex', rows);
    const signer = new KeyFileSigner(
      'example.com/mail-archiver/Test/local',
      generateKeyPairSync('ed25519').privateKey,
    );
    const before = Date.now();
    const report = await seal({
      store: archive.transparency,
      signer,
      source: deliveryLogSource(archive.deliveryLog),
    });
    expect(report.size).toBe(3);

    const versions = await collect(locks.versions(services.bucket, TRANSPARENCY_PREFIX));
    const kinds = new Set(versions.map((v) => v.key.slice(TRANSPARENCY_PREFIX.length).split('/')[0]));
    expect([...kinds].sort()).toEqual(['checkpoints', 'key.pub', 'seals', 'tile']);
    for (const version of versions) {
      const retention = await locks.retention(version);
      expect(retention?.mode, version.key).toBe('GOVERNANCE');
      expect(new Date(retention?.retainUntil ?? 0).getTime(), version.key).toBeGreaterThanOrEqual(
        before + 30 * DAY - 1000,
      );
    }
    const checkpoint = versions.find(
      (v) => v.key === TRANSPARENCY_PREFIX + checkpointPath(3),
    ) as ListedVersion;
    const tile = versions.find((v) => v.key.startsWith(`${TRANSPARENCY_PREFIX}tile/0/`)) as ListedVersion;
    for (const version of [checkpoint, tile]) {
      expect(
        await errorOf(
          services.clients.s3.send(
            new DeleteObjectCommand({
              Bucket: version.bucket,
              Key: version.key,
              VersionId: version.versionId,
            }),
          ),
        ),
        version.key,
      ).toBe('403 AccessDenied');
    }
    await expect(
      archive.transparency.putOnce(checkpointPath(3), Buffer.from('another root'), 'text/plain'),
    ).rejects.toThrow(LogOverwriteError);
    // What was sealed is still there, byte for byte, and the next seal (nothing new) finds the log intact.
    const sealed = await services.clients.s3.send(
      new GetObjectCommand({
        Bucket: checkpoint.bucket,
        Key: checkpoint.key,
        VersionId: checkpoint.versionId,
      }),
    );
    expect(await text(sealed.Body as AsyncIterable<Uint8Array>)).toBe(report.checkpoint);
    expect(
      (await seal({ store: archive.transparency, signer, source: deliveryLogSource(archive.deliveryLog) }))
        .size,
    ).toBe(3);
  });
});

describe('a canary is not locked but tagged, and the sweep leaves it so (local stack)', () => {
  let services: TestServices;
  const config = exampleConfig({ archive: { lock: { mode: 'governance', retainDays: 30 } } });
  beforeAll(async () => {
    services = await startTestServices();
  }, 60_000);
  afterAll(async () => services?.stop());

  async function ingest(recipients: string[], envelopeInLog = false) {
    const locks = new S3ObjectLocks(services.clients.s3);
    const locker = archiveLocker(config, locks) as ArchiveLocker;
    const store = lockingStore(services.store, locker);
    const { notification } = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: `canary ${recipients.join(' ')}` }),
      { recipients },
    );
    // With envelopeInLog as the ingest handler asks: the envelope may stay in the log, but a canary's sidecar
    // is tagged and kept.
    const logBatch = new DeliveryLog(store, services.bucket).batch('ingest');
    await archiveReceivedMail(notification, {
      config,
      store,
      index: services.index,
      locker,
      logBatch,
      envelopeInLog,
    });
    await logBatch.flush();
    const id = notification.mail.messageId;
    const versions = [
      ...(await collect(locks.versions(services.bucket, rawMailKey(id)))),
      ...(await collect(locks.versions(services.bucket, envelopeKey(id)))),
    ];
    const seen = await Promise.all(
      versions.map(async (v) => ({
        key: v.key,
        tags: await locks.tags(v),
        mode: (await locks.retention(v))?.mode,
      })),
    );
    return { id, locks, locker, versions, seen };
  }

  it('tags the raw version and the sidecar version of a message only to the canary address, and locks none', async () => {
    const { id, locker, versions, seen } = await ingest(['canary@example.com'], true);
    const tag = { 'mail-archiver:canary': '1' };
    expect(seen).toEqual([
      { key: rawMailKey(id), tags: tag, mode: undefined },
      { key: envelopeKey(id), tags: tag, mode: undefined },
    ]);
    const row = await services.index.getDelivery(
      'canary@example.com',
      (await collect(services.index.mailboxRows('canary@example.com')))[0]?.messageKey ?? '',
    );
    expect(row?.expiresAt).toBeGreaterThan(Date.now() / 1000 + 13 * 86400);
    // The sweep reads their tags and leaves them; S3 (here the local layer) then lets the lifecycle remove them.
    const sweep = await sweepUnlocked({ locker, bucket: services.bucket });
    expect([sweep.locked, sweep.canaries, sweep.unlocked]).toEqual([0, 2, []]);
    const raw = versions[0] as ListedVersion;
    await services.clients.s3.send(
      new DeleteObjectCommand({ Bucket: raw.bucket, Key: raw.key, VersionId: raw.versionId }),
    );
  });

  it('the local SMTP path stores a canary as SES does, unlocked, so ingest can tag it instead', async () => {
    const storage = archiveStorage(services.clients, services.bucket, services.tableName, config);
    const notification = await receiveRawMessage(storage, {
      raw: makeMessage({ subject: 'canary through the local receive path' }),
      envelopeFrom: 'canary@example.com',
      recipients: ['canary@example.com'],
    });
    await archiveReceivedMail(notification, {
      config,
      store: storage.store,
      index: services.index,
      locker: storage.locker,
    });
    const locks = new S3ObjectLocks(services.clients.s3);
    const [raw] = await collect(locks.versions(services.bucket, rawMailKey(notification.mail.messageId)));
    expect(raw).toBeDefined();
    expect(await locks.retention(raw as ListedVersion)).toBeUndefined();
    expect(await locks.tags(raw as ListedVersion)).toEqual({ 'mail-archiver:canary': '1' });
  });

  it('locks a message to the canary and a real mailbox like any mail, untagged', async () => {
    const { seen } = await ingest(['canary@example.com', 'alice@example.com']);
    expect(seen.map((v) => [v.tags, v.mode])).toEqual([
      [{}, 'GOVERNANCE'],
      [{}, 'GOVERNANCE'],
    ]);
  });
});

describe('the lock sweep', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await startTestServices();
  }, 60_000);
  afterAll(async () => services?.stop());

  it('locks the versions a failed lock step left, reports those it cannot lock, and resumes after the last clean sweep', async () => {
    const locks = new S3ObjectLocks(services.clients.s3);
    const policy = { mode: 'GOVERNANCE' as const, retainDays: 7 };
    // Written without their lock step (a writer that died between the write and the lock, an old import).
    for (const id of ['a', 'b', 'c']) {
      await services.store.write(
        { bucket: services.bucket, key: rawMailKey(`sweep-${id}`) },
        Buffer.from(id),
      );
      await services.store.write(
        { bucket: services.bucket, key: envelopeKey(`sweep-${id}`) },
        Buffer.from('{}'),
      );
    }
    await services.store.write(
      { bucket: services.bucket, key: 'reports/not-locked.json' },
      Buffer.from('{}'),
    );
    // A file of the transparency log whose seal stopped before its lock step: locked like the rest, but its
    // failure is not a message's.
    await services.transparency.putOnce(
      'tile/entries/000.p/1',
      Buffer.from('entry'),
      'application/octet-stream',
    );
    // One message's lock and the log file's fail (S3 refusing them): both are reported, one message is counted,
    // and the cursor does not move.
    const failing = new ArchiveLocker(
      {
        ...locks,
        versions: locks.versions.bind(locks),
        retention: locks.retention.bind(locks),
        legalHold: locks.legalHold.bind(locks),
        setLegalHold: locks.setLegalHold.bind(locks),
        tag: locks.tag.bind(locks),
        tags: locks.tags.bind(locks),
        retain: async (version, retention) => {
          if (version.key === envelopeKey('sweep-b') || version.key.startsWith(TRANSPARENCY_PREFIX))
            throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
          return locks.retain(version, retention);
        },
      },
      policy,
    );
    const first = await sweepUnlocked({ locker: failing, bucket: services.bucket });
    expect(first.locked).toBe(5);
    expect(first.unlocked.map((u) => u.key)).toEqual([
      envelopeKey('sweep-b'),
      'transparency/tile/entries/000.p/1',
    ]);
    expect(first.unlockedMessages).toBe(1);
    expect(first.lockedThrough).toBeUndefined();
    // The next sweep locks it; then one that starts from its cursor examines only what is new.
    const locker = new ArchiveLocker(locks, policy);
    // Two hours on, past the hour a write may still be locking its version.
    const later = new Date(Date.now() + 2 * 3600 * 1000);
    const second = await sweepUnlocked({ locker, bucket: services.bucket, now: () => later });
    expect([second.locked, second.unlockedMessages]).toEqual([2, 0]);
    for (const key of [rawMailKey('sweep-a'), envelopeKey('sweep-b'), 'transparency/tile/entries/000.p/1']) {
      const [version] = await collect(locks.versions(services.bucket, key));
      expect((await locks.retention(version as ListedVersion))?.mode).toBe('GOVERNANCE');
    }
    expect(second.lockedThrough).toBe(later.toISOString());
    const third = await sweepUnlocked({ locker, bucket: services.bucket, since: second.lockedThrough });
    expect([third.examined, third.locked, third.unlockedMessages]).toEqual([0, 0, 0]);
  });
});

describe('the local S3 server refuses what S3 Object Lock refuses', () => {
  const bucket = 'lock-refusals';
  const breakGlass = { accessKeyId: 'BREAKGLASS', secretAccessKey: 'break-glass-secret' };
  let dir: string;
  let s3local: S3Local;
  let s3: S3Client;
  let locks: S3ObjectLocks;
  let store: S3RawMailStore;
  let breakGlassS3: S3Client;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mail-archiver-lock-'));
    s3local = await startS3Local({
      dataDir: join(dir, 's3'),
      governanceBypassKeyIds: [breakGlass.accessKeyId],
    });
    const clients = createClients({ s3: s3local.endpoint, dynamodb: 'http://127.0.0.1:9' });
    s3 = clients.s3;
    locks = new S3ObjectLocks(s3);
    store = new S3RawMailStore(s3);
    breakGlassS3 = createClients({
      s3: s3local.endpoint,
      dynamodb: 'http://127.0.0.1:9',
      credentials: breakGlass,
    }).s3;
    await ensureBucket(s3, bucket);
  }, 60_000);
  afterAll(async () => {
    destroyClients({ s3, dynamodb: { destroy() {} } as never });
    breakGlassS3?.destroy();
    await s3local?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const inFuture = (days: number) => new Date(Date.now() + days * DAY).toISOString();
  const remove = (client: S3Client, key: string, versionId?: string, bypass = false) =>
    client.send(
      new DeleteObjectCommand({
        Bucket: bucket,
        Key: key,
        ...(versionId ? { VersionId: versionId } : {}),
        ...(bypass ? { BypassGovernanceRetention: true } : {}),
      }),
    );
  const getVersion = async (key: string, versionId: string) =>
    text(
      (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }))).Body as never,
    );

  it('an overwrite makes a new version: the locked one keeps its bytes and its lock', async () => {
    const key = 'incoming/overwritten';
    const first = await store.write({ bucket, key }, Buffer.from('first bytes'));
    expect(first.versionId).toBeTruthy();
    await locks.retain(
      { bucket, key, versionId: first.versionId as string },
      { mode: 'COMPLIANCE', retainUntil: inFuture(1) },
    );
    const second = await store.write({ bucket, key }, Buffer.from('second bytes'));
    expect(second.versionId).not.toBe(first.versionId);
    expect(await text(await store.read({ bucket, key }))).toBe('second bytes');
    expect(await getVersion(key, first.versionId as string)).toBe('first bytes');
    expect(await errorOf(remove(s3, key, first.versionId))).toBe('403 AccessDenied');
    // A delete without a version only places a delete marker: the locked bytes are still there.
    await remove(s3, key);
    expect(await errorOf(store.read({ bucket, key }))).toBe('404 NoSuchKey');
    expect(await getVersion(key, first.versionId as string)).toBe('first bytes');
    const listed = await collect(locks.versions(bucket, key));
    expect(listed.map((v: ListedVersion) => [v.deleteMarker, v.isLatest])).toEqual([
      [true, true],
      [false, false],
      [false, false],
    ]);
  });

  it('compliance cannot be shortened or bypassed by anyone; governance only by a principal allowed to bypass', async () => {
    const compliant = await store.write({ bucket, key: 'incoming/compliance' }, Buffer.from('c'));
    const governed = await store.write({ bucket, key: 'incoming/governance' }, Buffer.from('g'));
    const c = { bucket, key: 'incoming/compliance', versionId: compliant.versionId as string };
    const g = { bucket, key: 'incoming/governance', versionId: governed.versionId as string };
    await locks.retain(c, { mode: 'COMPLIANCE', retainUntil: inFuture(10) });
    await locks.retain(g, { mode: 'GOVERNANCE', retainUntil: inFuture(10) });
    // Shortening, or turning compliance into governance: refused.
    expect(await errorOf(locks.retain(c, { mode: 'COMPLIANCE', retainUntil: inFuture(5) }))).toBe(
      '403 AccessDenied',
    );
    expect(await errorOf(locks.retain(c, { mode: 'GOVERNANCE', retainUntil: inFuture(20) }))).toBe(
      '403 AccessDenied',
    );
    expect(await errorOf(locks.retain(g, { mode: 'GOVERNANCE', retainUntil: inFuture(5) }))).toBe(
      '403 AccessDenied',
    );
    // Extending is always allowed.
    await locks.retain(c, { mode: 'COMPLIANCE', retainUntil: inFuture(11) });
    // Bypass asked by a principal without s3:BypassGovernanceRetention: refused.
    expect(await errorOf(remove(s3, g.key, g.versionId, true))).toBe('403 AccessDenied');
    // The break-glass principal cannot bypass compliance, and can bypass governance.
    expect(await errorOf(remove(breakGlassS3, c.key, c.versionId, true))).toBe('403 AccessDenied');
    await remove(breakGlassS3, g.key, g.versionId, true);
    expect(await errorOf(getVersion(g.key, g.versionId))).toBe('404 NoSuchVersion');
  });

  it('a legal hold keeps a version until it is released, whatever its retention', async () => {
    const written = await store.write({ bucket, key: 'envelopes/held.json' }, Buffer.from('{}'));
    const held = { bucket, key: 'envelopes/held.json', versionId: written.versionId as string };
    await locks.setLegalHold(held, true);
    expect(await locks.legalHold(held)).toBe(true);
    expect(await errorOf(remove(s3, held.key, held.versionId))).toBe('403 AccessDenied');
    expect(await errorOf(remove(breakGlassS3, held.key, held.versionId, true))).toBe('403 AccessDenied');
    await locks.setLegalHold(held, false);
    await remove(s3, held.key, held.versionId);
    expect(await collect(locks.versions(bucket, held.key))).toEqual([]);
  });

  it('refuses an Object Lock write without Content-MD5 or a checksum, and a retention in the past', async () => {
    const written = await store.write({ bucket, key: 'incoming/checksum' }, Buffer.from('x'));
    const body = `<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>${inFuture(1)}</RetainUntilDate></Retention>`;
    const url = `${s3local.endpoint}/${bucket}/incoming/checksum?retention&versionId=${written.versionId}`;
    const response = await fetch(url, { method: 'PUT', body });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('<Code>InvalidRequest</Code>');
    const past = new Date(Date.now() - DAY);
    expect(
      await errorOf(
        s3.send(
          new PutObjectRetentionCommand({
            Bucket: bucket,
            Key: 'incoming/checksum',
            VersionId: written.versionId,
            Retention: { Mode: 'GOVERNANCE', RetainUntilDate: past },
          }),
        ),
      ),
    ).toBe('400 InvalidArgument');
  });

  it('a write that carries its retention is locked from its first byte; S3 refuses it without Object Lock or a checksum', async () => {
    const key = 'envelopes/locked-on-write.json';
    const retention = { mode: 'GOVERNANCE' as const, retainUntil: inFuture(2) };
    const written = await store.write({ bucket, key }, Buffer.from('{}'), { retention });
    const version = { bucket, key, versionId: written.versionId as string };
    expect(await locks.retention(version)).toEqual(retention);
    expect(await errorOf(remove(s3, key, version.versionId))).toBe('403 AccessDenied');
    // A bucket created without Object Lock: S3 answers 400 InvalidRequest, and nothing is written.
    await s3.send(new CreateBucketCommand({ Bucket: 'no-object-lock' }));
    expect(
      await errorOf(store.write({ bucket: 'no-object-lock', key }, Buffer.from('{}'), { retention })),
    ).toBe('400 InvalidRequest');
    expect(await errorOf(store.read({ bucket: 'no-object-lock', key }))).toBe('404 NoSuchKey');
    // Lock headers without Content-MD5 or a checksum: refused, as S3 does (PutObject, Content-MD5).
    const response = await fetch(`${s3local.endpoint}/${bucket}/envelopes/unchecked.json`, {
      method: 'PUT',
      body: '{}',
      headers: {
        'x-amz-object-lock-mode': 'GOVERNANCE',
        'x-amz-object-lock-retain-until-date': inFuture(1),
      },
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('<Code>InvalidRequest</Code>');
    // Lock headers S3 refuses (PutObject): each a 400, and no version written.
    const refusals: [string, Record<string, string>][] = [
      ['a date in the past', { mode: 'GOVERNANCE', date: new Date(Date.now() - DAY).toISOString() }],
      ['an unknown mode', { mode: 'BOGUS', date: inFuture(1) }],
      ['a mode without a date', { mode: 'GOVERNANCE' }],
      ['a date without a mode', { date: inFuture(1) }],
      ['a date that does not parse', { mode: 'GOVERNANCE', date: 'next tuesday' }],
    ];
    for (const [why, lock] of refusals) {
      const refused = await fetch(`${s3local.endpoint}/${bucket}/envelopes/refused.json`, {
        method: 'PUT',
        body: '{}',
        headers: {
          'content-md5': createHash('md5').update('{}').digest('base64'),
          ...(lock.mode ? { 'x-amz-object-lock-mode': lock.mode } : {}),
          ...(lock.date ? { 'x-amz-object-lock-retain-until-date': lock.date } : {}),
        },
      });
      expect([refused.status, (await refused.text()).match(/<Code>(\w+)<\/Code>/)?.[1]], why).toEqual([
        400,
        'InvalidArgument',
      ]);
    }
    expect(await collect(locks.versions(bucket, 'envelopes/refused.json'))).toEqual([]);
  });

  it('when S3 refuses the lock (a bucket without Object Lock), ingest fails and the envelope is still in S3, unlocked', async () => {
    const plain = 'versioned-no-object-lock';
    await s3.send(new CreateBucketCommand({ Bucket: plain }));
    await s3.send(
      new PutBucketVersioningCommand({ Bucket: plain, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    const config = exampleConfig({ archive: { lock: { mode: 'governance', retainDays: 30 } } });
    const locker = archiveLocker(config, locks);
    const { notification } = await receiveLikeSes(store, plain, makeMessage({ subject: 'bcc kept' }), {
      recipients: ['alice@example.com', 'hidden@example.com'],
    });
    const failure = await errorOf(
      archiveReceivedMail(notification, {
        config,
        store: lockingStore(store, locker),
        index: new MemoryMailIndex(),
        ...(locker ? { locker } : {}),
      }),
    );
    expect(failure).toBe('400 InvalidRequest');
    const sidecar = await text(
      await store.read({ bucket: plain, key: envelopeKey(notification.mail.messageId) }),
    );
    expect(sidecar).toContain('hidden@example.com');
  });

  it('lists every version across pages (ListObjectVersions, 1,000 per page), as the sweep reads them', async () => {
    const body = Buffer.from('v');
    const queue = Array.from({ length: 1100 }, (_, i) => `incoming/many-${String(i).padStart(4, '0')}`);
    const writer = async () => {
      for (let key = queue.pop(); key !== undefined; key = queue.pop())
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    };
    await Promise.all(Array.from({ length: 8 }, writer));
    const listed = await collect(locks.versions(bucket, 'incoming/many-'));
    expect(listed).toHaveLength(1100);
    expect(new Set(listed.map((v) => v.key)).size).toBe(1100);
  }, 120_000);
});
