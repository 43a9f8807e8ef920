// Legal holds end to end on the local stack: `placeHold` holds every version of the raw message and the sidecar of
// each matching message (mailbox, received window, sender) and records who, when, why and how many in the index;
// the local S3 server then refuses to delete a held version; releasing one of two overlapping holds keeps what
// the other still covers; the last release frees them. The versions a hold placed are recorded in parts of the
// index: a hold too large for one DynamoDB item reads back whole.
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoHoldLog } from '../../shared/adapters/dynamo-hold-log';
import { IndexTable } from '../../shared/adapters/dynamo-table';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import { envelopeKey, rawMailKey } from '../../shared/index/schema';
import { HoldNotFoundError, placeHold, releaseHold } from '../../shared/retention/holds';
import { lockModeVerdict, sampleLockedVersions } from '../../shared/retention/lock-mode-check';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

let services: TestServices;
const ids: Record<string, string> = {};

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

beforeAll(async () => {
  services = await startTestServices();
  const config = exampleConfig({ archive: { lock: { mode: 'off' } } });
  const mail: [string, string, string][] = [
    ['january-mallory', 'mallory@evil.example.net', '2026-01-15T10:00:00Z'],
    ['february-mallory', 'mallory@evil.example.net', '2026-02-15T10:00:00Z'],
    ['february-ann', 'ann@sender.example.org', '2026-02-20T10:00:00Z'],
  ];
  for (const [name, from, at] of mail) {
    const { notification } = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: name, from }),
      { recipients: ['alice@example.com'], timestamp: new Date(at), from },
    );
    await archiveReceivedMail(notification, { config, store: services.store, index: services.index });
    ids[name] = notification.mail.messageId;
  }
}, 120_000);
afterAll(async () => services?.stop());

describe('legal holds', () => {
  const deps = () => ({
    index: services.index,
    holds: new DynamoHoldLog(new IndexTable(services.clients.dynamodb, services.tableName)),
    locks: new S3ObjectLocks(services.clients.s3),
    bucket: services.bucket,
  });
  const heldKeys = async () => {
    const held: string[] = [];
    for (const name of Object.keys(ids)) {
      for (const key of [rawMailKey(ids[name] as string), envelopeKey(ids[name] as string)]) {
        const versions = (await collect(deps().locks.versions(services.bucket, key))).filter(
          (v) => v.key === key,
        );
        const flags = await Promise.all(versions.map((v) => deps().locks.legalHold(v)));
        if (flags.length > 0 && flags.every(Boolean)) held.push(`${name} ${key.split('/')[0]}`);
        else if (flags.some(Boolean)) held.push(`${name} ${key.split('/')[0]} PARTLY`);
      }
    }
    return held.sort();
  };

  it('holds, refuses deletes, records, and releases only what no other hold covers', async () => {
    const february = await placeHold(
      deps(),
      { mailbox: 'alice@example.com', since: '2026-02-01T00:00:00.000Z', until: '2026-03-01T00:00:00.000Z' },
      'case 42: February',
      'lawyer@example.com',
    );
    expect([february.messages, february.state, february.by]).toEqual([2, 'active', 'lawyer@example.com']);
    // Each message has one raw version and one sidecar version (written once, with the deliveries).
    expect(february.versions).toBe(4);
    const mallory = await placeHold(
      deps(),
      { mailbox: 'alice@example.com', from: 'mallory@evil.example.net' },
      'case 43: everything from mallory',
      'lawyer@example.com',
    );
    expect(mallory.messages).toBe(2);
    expect(await heldKeys()).toEqual([
      'february-ann envelopes',
      'february-ann incoming',
      'february-mallory envelopes',
      'february-mallory incoming',
      'january-mallory envelopes',
      'january-mallory incoming',
    ]);
    // A held version cannot be deleted.
    const [version] = await collect(
      deps().locks.versions(services.bucket, rawMailKey(ids['february-ann'] as string)),
    );
    await expect(
      services.clients.s3.send(
        new DeleteObjectCommand({
          Bucket: services.bucket,
          Key: version?.key,
          VersionId: version?.versionId,
        }),
      ),
    ).rejects.toThrow(/Access Denied/);
    // The index records both.
    const listed = await deps().holds.listHolds();
    expect(listed.map((h) => [h.reason, h.messages, h.state]).sort()).toEqual([
      ['case 42: February', 2, 'active'],
      ['case 43: everything from mallory', 2, 'active'],
    ]);
    // Releasing February keeps February's mallory message held (the other hold covers it).
    const released = await releaseHold(deps(), february.holdId, 'lawyer@example.com');
    expect([released.state, released.releasedVersions]).toEqual(['released', 2]);
    expect(await heldKeys()).toEqual([
      'february-mallory envelopes',
      'february-mallory incoming',
      'january-mallory envelopes',
      'january-mallory incoming',
    ]);
    await expect(releaseHold(deps(), february.holdId, 'x')).rejects.toThrow(HoldNotFoundError);
    await releaseHold(deps(), mallory.holdId, 'lawyer@example.com');
    expect(await heldKeys()).toEqual([]);
  });

  it('doctor refuses a config that turns a compliance archive to governance or off, naming why', async () => {
    const locks = deps().locks;
    const now = new Date();
    expect(
      lockModeVerdict(exampleConfig(), await sampleLockedVersions(locks, services.bucket, now)).status,
    ).toBe('ok');
    const key = rawMailKey(ids['january-mallory'] as string);
    const [version] = (await collect(locks.versions(services.bucket, key))).filter((v) => v.key === key);
    if (!version) throw new Error('no version');
    await locks.retain(version, {
      mode: 'COMPLIANCE',
      retainUntil: new Date(now.getTime() + 86_400_000).toISOString(),
    });
    const sample = await sampleLockedVersions(locks, services.bucket, now);
    expect(sample.compliance?.key).toBe(key);
    for (const mode of ['governance', 'off'] as const) {
      const verdict = lockModeVerdict(exampleConfig({ archive: { lock: { mode } } }), sample);
      expect(verdict.status).toBe('fail');
      expect(verdict.detail).toMatch(/already locks in compliance mode.*cannot be undone/);
      expect(verdict.fix).toMatch(/archive\.lock\.mode back to "compliance"/);
    }
    expect(
      lockModeVerdict(exampleConfig({ archive: { lock: { mode: 'compliance', retainDays: 1 } } }), sample)
        .status,
    ).toBe('ok');
  });

  it('records the versions of a hold too large for one DynamoDB item in parts, and reads them back whole', async () => {
    const holds = deps().holds;
    const versions = Array.from({ length: 6000 }, (_, i) => ({
      key: rawMailKey(`${String(i).padStart(8, '0')}${'x'.repeat(56)}`),
      versionId: `v${i}-${'y'.repeat(20)}`,
    }));
    const parts = await holds.putHeldVersions('20261207T000000-aaaaaa', services.bucket, versions);
    expect(parts).toBeGreaterThan(1);
    expect(await holds.heldVersions('20261207T000000-aaaaaa', parts)).toEqual(
      versions.map((v) => ({ bucket: services.bucket, ...v })),
    );
    await expect(holds.heldVersions('20261207T000000-aaaaaa', parts + 1)).rejects.toThrow(
      /part .* is missing/,
    );
    // The parts are in a partition of their own: the list of holds does not see them.
    expect((await holds.listHolds()).map((h) => h.holdId)).not.toContain('20261207T000000-aaaaaa');
  });
});
