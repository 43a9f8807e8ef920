// How status and doctor find the replicas this machine keeps (shared/replica/registry.ts), doctor's age check over
// real progress files, and the read-only policy doctor --target aws prints, evaluated by an IAM policy simulator.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { replicaPolicyForStack, syncReplicaChecks } from '../../../cli/doctor/sync-replicas';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { LOG_START } from '../../../shared/delivery-log/layout';
import { DeliveryLog } from '../../../shared/delivery-log/log';
import type { DeliveryRecord } from '../../../shared/delivery-log/record';
import {
  forgetReplica,
  listReplicas,
  recordReplica,
  replicaBehind,
  replicaListPath,
} from '../../../shared/replica/registry';
import {
  newProgress,
  type ReplicaProgress,
  readProgress,
  replicaPaths,
  writeProgress,
} from '../../../shared/replica/state';

let root: string;
let home: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mail-archiver-registry-'));
  home = join(root, 'home');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const NOW = new Date('2026-12-06T12:00:00Z');

async function replicaSyncedAt(name: string, endedAt?: string): Promise<string> {
  const dir = join(root, name);
  mkdirSync(replicaPaths(dir).state, { recursive: true });
  const progress = newProgress({ target: 'local', bucket: 'raw' }, null);
  if (endedAt) {
    const run = { startedAt: endedAt, endedAt, ok: true, added: 1, problems: 0 };
    progress.lastSuccess = run;
    progress.lastRun = run;
  }
  await writeProgress(replicaPaths(dir).progress, { ...progress, cursor: LOG_START });
  return dir;
}

describe('the list of replicas in the archiver home', () => {
  it('records each directory once, absolute, per target', async () => {
    expect(await listReplicas(home, 'local')).toEqual([]);
    await recordReplica(home, 'local', join(root, 'a'));
    await recordReplica(home, 'local', join(root, 'b'));
    await recordReplica(home, 'local', join(root, 'a'));
    await recordReplica(home, 'aws', join(root, 'c'));
    expect(await listReplicas(home, 'local')).toEqual([join(root, 'a'), join(root, 'b')]);
    expect(await listReplicas(home, 'aws')).toEqual([join(root, 'c')]);
  });

  it('names a damaged list, and the next sync writes a new one', async () => {
    mkdirSync(home, { recursive: true });
    writeFileSync(replicaListPath(home, 'local'), '{"v":1,"replicas":[3]');
    await expect(listReplicas(home, 'local')).rejects.toThrow(/replicas\.local\.json is damaged/);
    const [check] = await syncReplicaChecks(home, 'local', NOW);
    expect(check).toMatchObject({ name: 'sync replicas', status: 'warn' });
    await recordReplica(home, 'local', join(root, 'a'));
    expect(await listReplicas(home, 'local')).toEqual([join(root, 'a')]);
  });
});

describe('how far behind the log a replica is (status)', () => {
  it("counts the log objects that hold mail of the replica's mailboxes: a --mailbox replica is not behind on others' mail", async () => {
    let clock = Date.parse('2026-12-06T10:00:00Z');
    const log = new DeliveryLog(new FileRawMailStore(join(root, 's3')), 'raw', {
      now: () => {
        clock += 60_000;
        return new Date(clock);
      },
    });
    const record = (mailbox: string, uid: number): DeliveryRecord => ({
      v: 1,
      mailbox,
      folder: 'INBOX',
      uidValidity: 1700000000,
      uid,
      flags: [],
      keywords: [],
      objectKey: `incoming/m${uid}`,
      sha256: '0'.repeat(64),
      size: 10,
      storage: 'as-is',
      receivedAt: '2026-12-06T10:00:00.000Z',
      file: `1765015200.k${uid}.mail-archiver,S=10,W=10`,
      messageKey: `k${uid}`,
    });
    await log.append('ingest', [record('alice@example.com', 1)]);
    await log.append('ingest', [record('bob@example.com', 1)]);
    await log.append('ingest', [record('alice@example.com', 2), record('bob@example.com', 2)]);
    await log.append('ingest', [record('alice@example.com', 3)]);
    const all = newProgress({ target: 'local', bucket: 'raw' }, null);
    expect(await replicaBehind(all, log)).toEqual({ logObjects: 4, oldestAt: '2026-12-06T10:01:00.000Z' });
    const bob = newProgress({ target: 'local', bucket: 'raw' }, ['bob@example.com']);
    expect(await replicaBehind(bob, log)).toEqual({ logObjects: 2, oldestAt: '2026-12-06T10:02:00.000Z' });
    const carol = newProgress({ target: 'local', bucket: 'raw' }, ['carol@example.com']);
    expect(await replicaBehind(carol, log)).toEqual({ logObjects: 0 });
  });
});

describe("doctor's sync replica check", () => {
  it('is ok within a day, warns after a day, before any success, and for a directory that is gone', async () => {
    const fresh = await replicaSyncedAt('fresh', '2026-12-06T09:00:00Z');
    const stale = await replicaSyncedAt('stale', '2026-12-05T11:59:00Z');
    const never = await replicaSyncedAt('never');
    const gone = join(root, 'gone');
    for (const dir of [fresh, stale, never, gone]) await recordReplica(home, 'local', dir);
    const checks = await syncReplicaChecks(home, 'local', NOW);
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      [`sync replica ${fresh}`, 'ok'],
      [`sync replica ${stale}`, 'warn'],
      [`sync replica ${never}`, 'warn'],
      [`sync replica ${gone}`, 'warn'],
    ]);
    expect(checks[0]?.detail).toBe('last successful sync 2026-12-06T09:00:00Z (3 h ago)');
    expect(checks[1]?.detail).toMatch(/\(24 h ago\)/);
    expect(checks[1]?.fix).toMatch(/sync --install-timer/);
    expect(checks[2]?.detail).toBe('no sync has succeeded yet');
    expect(checks[3]?.detail).toBe(
      `not found at ${gone} (moved or removed? \`mail-archiver sync NEWDIR\` registers it again)`,
    );
    expect(checks[3]?.fix).toContain(
      `mail-archiver sync --forget ${gone} stops listing it (nothing is deleted)`,
    );
  });

  it('warns while a log object the replica read holds a line that does not parse, naming it', async () => {
    const dir = await replicaSyncedAt('fresh', '2026-12-06T09:00:00Z');
    const progress = await readProgress(replicaPaths(dir).progress);
    const key = 'delivery-log/2026-12-06/090000.000Z-ingest-bad.jsonl';
    await writeProgress(replicaPaths(dir).progress, { ...(progress as ReplicaProgress), unparsed: [key] });
    await recordReplica(home, 'local', dir);
    const [check] = await syncReplicaChecks(home, 'local', NOW);
    expect(check).toMatchObject({ status: 'warn' });
    expect(check?.detail).toContain(`1 delivery-log object holds a line that sync cannot parse`);
    expect(check?.detail).toContain(key);
  });

  it('forgets a replica: the list loses it, its directory is untouched', async () => {
    const kept = await replicaSyncedAt('kept', '2026-12-06T09:00:00Z');
    const dropped = await replicaSyncedAt('dropped', '2026-12-06T09:00:00Z');
    for (const dir of [kept, dropped]) await recordReplica(home, 'local', dir);
    expect(await forgetReplica(home, 'local', dropped)).toBe(true);
    expect(await forgetReplica(home, 'local', dropped)).toBe(false);
    expect(await listReplicas(home, 'local')).toEqual([kept]);
    expect(await readProgress(replicaPaths(dropped).progress)).toBeDefined();
  });

  it('says nothing when this machine keeps no replica', async () => {
    expect(await syncReplicaChecks(home, 'aws', NOW)).toEqual([]);
  });
});

describe('the read-only policy doctor --target aws prints', () => {
  const policy = replicaPolicyForStack('MailArchiver', 'eu-west-1', { RawMailBucketName: 'raw-bucket' });
  const allowed = async (action: string, resource: string, context: Record<string, string> = {}) => {
    const r = await runSimulation(
      {
        request: {
          principal: 'arn:aws:iam::111122223333:user/replica',
          action,
          resource: { resource, accountId: '111122223333' },
          contextVariables: { 'aws:SecureTransport': 'true', ...context },
        },
        identityPolicies: [{ name: 'replica', policy: policy as never }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      },
      {},
    );
    return r.resultType === 'error' ? `error: ${r.errors.message}` : r.overallResult;
  };

  it('lets the replica list the logs, read the logs and the mail, and find the stack; nothing else', async () => {
    expect(
      await allowed('s3:ListBucket', 'arn:aws:s3:::raw-bucket', { 's3:prefix': 'delivery-log/2026-12-06/' }),
    ).toBe('Allowed');
    expect(await allowed('s3:GetObject', 'arn:aws:s3:::raw-bucket/incoming/abc')).toBe('Allowed');
    // The transparency log the replica copies and witnesses: listed (its checkpoints) and read, never written.
    expect(
      await allowed('s3:ListBucket', 'arn:aws:s3:::raw-bucket', { 's3:prefix': 'transparency/checkpoints/' }),
    ).toBe('Allowed');
    expect(await allowed('s3:GetObject', 'arn:aws:s3:::raw-bucket/transparency/tile/entries/000')).toBe(
      'Allowed',
    );
    // A first sync takes the log's cursor from the latest seal record.
    expect(
      await allowed('s3:ListBucket', 'arn:aws:s3:::raw-bucket', { 's3:prefix': 'transparency/seals/' }),
    ).toBe('Allowed');
    expect(
      await allowed(
        's3:GetObject',
        'arn:aws:s3:::raw-bucket/transparency/seals/000000006000/2026-12-06T03:00:00.000Z.json',
      ),
    ).toBe('Allowed');
    expect(
      await allowed('s3:PutObject', 'arn:aws:s3:::raw-bucket/transparency/checkpoints/000000000001'),
    ).not.toBe('Allowed');
    expect(
      await allowed(
        'cloudformation:DescribeStacks',
        'arn:aws:cloudformation:eu-west-1:111122223333:stack/MailArchiver/0b5e',
      ),
    ).toBe('Allowed');
    expect(await allowed('s3:ListBucket', 'arn:aws:s3:::raw-bucket', { 's3:prefix': 'incoming/' })).not.toBe(
      'Allowed',
    );
    expect(await allowed('s3:DeleteObject', 'arn:aws:s3:::raw-bucket/incoming/abc')).not.toBe('Allowed');
    expect(await allowed('s3:PutObject', 'arn:aws:s3:::raw-bucket/delivery-log/x.jsonl')).not.toBe('Allowed');
    expect(
      await allowed(
        'cloudformation:DescribeStacks',
        'arn:aws:cloudformation:eu-west-1:111122223333:stack/OtherStack/0b5e',
      ),
    ).not.toBe('Allowed');
  });
});
