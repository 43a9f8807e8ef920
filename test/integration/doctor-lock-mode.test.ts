// doctor's "lock mode" check on a bucket created without S3 Object Lock (a deployment from before the bucket was
// created with it): nothing in it can be locked, whatever archive.lock.mode says. The check says so and what to
// do (docs/object-lock.md, "A bucket from before Object Lock"), instead of a generic line about permissions.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockModeCheck, noObjectLockFix } from '../../cli/doctor/lock-mode';
import { LOCAL_BUCKET } from '../../cli/local/archive';
import type { StackFile } from '../../cli/local/running-stack';
import { ensureBucket, type S3Local, startS3Local } from '../../cli/local/services';
import { createS3Client } from '../../shared/adapters/clients';
import { exampleConfig } from '../support/config';

const credentials = { accessKeyId: 'doctor-lock-test', secretAccessKey: 'doctor-lock-secret' };
let dir: string;
let s3local: S3Local;
let stack: StackFile;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'doctor-lock-'));
  s3local = await startS3Local({ dataDir: join(dir, 's3'), credentials });
  stack = {
    smarthost: { host: '127.0.0.1', port: 0 },
    pid: process.pid,
    startedAt: new Date().toISOString(),
    endpoints: { s3: s3local.endpoint, dynamodb: 'http://127.0.0.1:9', credentials },
    smtp: { host: '127.0.0.1', port: 0 },
    bucket: LOCAL_BUCKET,
    tableName: 'mail-archive',
  } as StackFile;
  const s3 = createS3Client({ s3: s3local.endpoint, credentials });
  // As an older deployment made it: versioning only, no Object Lock, mail already in it.
  await s3.send(new CreateBucketCommand({ Bucket: LOCAL_BUCKET }));
  await s3.send(
    new PutObjectCommand({ Bucket: LOCAL_BUCKET, Key: 'incoming/old', Body: 'From: a\r\n\r\nx' }),
  );
  s3.destroy();
}, 60_000);

afterAll(async () => {
  await s3local?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('doctor on a bucket without Object Lock', () => {
  it('fails naming the bucket, and says what to do: not a line about permissions', async () => {
    const check = await lockModeCheck(exampleConfig(), { local: stack });
    expect(check.status).toBe('fail');
    expect(check.detail).toBe(
      `the raw-mail bucket ${LOCAL_BUCKET} has no S3 Object Lock (it was created without it): no version in it can be locked, whatever archive.lock.mode says`,
    );
    expect(check.fix).toBe(noObjectLockFix(LOCAL_BUCKET, 'local'));
    expect(check.fix).toMatch(/restart `npm start`/);
  });

  it('on AWS, names the S3 call that enables it in place, the sweep, and that this version must not be deployed over the stack (review-30 4)', () => {
    const fix = noObjectLockFix('archive-raw-mail', 'aws');
    expect(fix).toContain(
      'aws s3api put-object-lock-configuration --bucket archive-raw-mail --object-lock-configuration ObjectLockEnabled=Enabled',
    );
    expect(fix).toContain('mail-archiver reconcile --target aws');
    expect(fix).toContain('cdk diff');
    expect(fix).toContain('Do not deploy this version over this stack');
    expect(fix).not.toMatch(/deploy only when/i);
    expect(fix).toContain('docs/object-lock.md');
  });

  it('is ok again once the bucket has Object Lock (as npm start gives it)', async () => {
    const s3 = createS3Client({ s3: s3local.endpoint, credentials });
    await ensureBucket(s3, LOCAL_BUCKET);
    s3.destroy();
    const check = await lockModeCheck(exampleConfig(), { local: stack });
    expect(check.status, check.detail).toBe('ok');
  });
});
