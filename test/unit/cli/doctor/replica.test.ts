// doctor's replica check against S3's documented contract (aws-sdk-client-mock: no AWS account here): it writes a
// canary under replica-canary/ and reads the source object's x-amz-replication-status (PENDING, COMPLETED,
// FAILED; absent when no rule replicates the key). Amazon S3 User Guide, "Getting replication status information".
import {
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type ReplicationStatus,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { replicaCheck } from '../../../../cli/doctor/replica';
import { exampleConfig } from '../../../support/config';

const replica = { account: '222222222222', region: 'eu-west-1', sourceAccount: '111111111111' };
const config = exampleConfig({ stackName: 'Archiver', archive: { replica } });
const now = new Date('2026-12-06T12:00:00.000Z');
const NEW_KEY = 'replica-canary/2026-12-06T12:00:00.000Z';
const s3 = mockClient(S3Client);
const client = new S3Client({ region: 'us-east-1' });
const options = { now, waitMs: 30, pollMs: 1 };

/** HeadObject answers `byKey[key]` (the status, or undefined for none). */
function statuses(byKey: Record<string, ReplicationStatus | undefined>) {
  s3.on(HeadObjectCommand).callsFake((input: { Key: string }) => ({
    ...(byKey[input.Key] ? { ReplicationStatus: byKey[input.Key] } : {}),
  }));
}

describe("doctor's replica check", () => {
  beforeEach(() => {
    s3.reset();
    s3.on(PutObjectCommand).resolves({});
    s3.on(ListObjectsV2Command).resolves({});
  });

  it('is absent without a replica, and warns before the first deploy', async () => {
    expect(await replicaCheck(exampleConfig(), client, 'raw', options)).toBeUndefined();
    expect((await replicaCheck(config, client, undefined, options))?.status).toBe('warn');
    expect(s3.calls()).toHaveLength(0);
  });

  it('writes a canary and passes once S3 reports it replicated', async () => {
    statuses({ [NEW_KEY]: 'COMPLETED' });
    const check = await replicaCheck(config, client, 'raw', options);
    expect(check).toMatchObject({ status: 'ok' });
    expect(check?.detail).toContain('archiver-replica-222222222222');
    const put = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(put).toMatchObject({ Bucket: 'raw', Key: NEW_KEY });
  });

  it('fails when S3 could not replicate, or when no rule replicates the canary', async () => {
    statuses({ [NEW_KEY]: 'FAILED' });
    const failed = await replicaCheck(config, client, 'raw', options);
    expect(failed).toMatchObject({ status: 'fail' });
    expect(failed?.fix).toContain('cdk deploy Archiver-Replica');
    statuses({});
    expect(await replicaCheck(config, client, 'raw', options)).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('archive.replica'),
    });
  });

  it('judges a canary still pending by the one an earlier run left', async () => {
    const earlier = 'replica-canary/2026-12-06T09:00:00.000Z';
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: earlier }] });
    statuses({ [NEW_KEY]: 'PENDING', [earlier]: 'COMPLETED' });
    expect(await replicaCheck(config, client, 'raw', options)).toMatchObject({ status: 'ok' });
    statuses({ [NEW_KEY]: 'PENDING', [earlier]: 'PENDING' });
    expect(await replicaCheck(config, client, 'raw', options)).toMatchObject({ status: 'fail' });
    s3.on(ListObjectsV2Command).resolves({});
    statuses({ [NEW_KEY]: 'PENDING' });
    expect(await replicaCheck(config, client, 'raw', options)).toMatchObject({ status: 'warn' });
  });
});
