// The correction of s3rver in cli/local/s3rver-patches.ts that makes a data directory's server private: it answers
// only requests signed with the directory's own key id.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBucket, type S3Local, startS3Local } from '../../cli/local/services';
import { type AwsClients, createClients, destroyClients } from '../../shared/adapters/clients';

const bucket = 'patches-test';
const credentials = { accessKeyId: 'LOCALPATCHTEST1', secretAccessKey: 'not-checked-by-s3rver' };
let dir: string;
let s3: S3Local;
let clients: AwsClients;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mail-archiver-s3rver-patches-'));
  s3 = await startS3Local({ dataDir: dir, credentials });
  clients = createClients({ s3: s3.endpoint, dynamodb: 'http://127.0.0.1:9', credentials });
  await ensureBucket(clients.s3, bucket);
}, 60_000);
afterAll(async () => {
  destroyClients(clients);
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function get(client: AwsClients, key: string): Promise<string> {
  const { Body } = await client.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await Body?.transformToString()) ?? '';
}

describe('the local S3 server', () => {
  it('answers 403 to an unsigned request and to another key id, and serves its own', async () => {
    const key = 'incoming/private';
    await clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    const anonymous = await fetch(`${s3.endpoint}/${bucket}/${key}`);
    expect(anonymous.status).toBe(403);
    expect(await anonymous.text()).toMatch(/AccessDenied/);
    const other = createClients({
      s3: s3.endpoint,
      dynamodb: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'SOMEONEELSE', secretAccessKey: 'x' },
    });
    try {
      await expect(get(other, key)).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    } finally {
      destroyClients(other);
    }
    expect(await get(clients, key)).toBe('x');
  });
});
