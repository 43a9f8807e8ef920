// Listing past 1,000 keys on the local S3 server, through the adapter the AWS path uses (the SDK's
// ListObjectsV2 paginator). s3rver 3.7.1's own continuation tokens need DES, which Node 20 refuses: without the
// correction in cli/local/s3rver-patches.ts the second page answers 500 and reconcile/reindex stop at 1,000 messages.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteBucketCorsCommand,
  DeleteObjectCommand,
  GetBucketCorsCommand,
  ListObjectsV2Command,
  PutBucketCorsCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBucket, type S3Local, startS3Local } from '../../cli/local/services';
import { type AwsClients, createClients, destroyClients } from '../../shared/adapters/clients';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';

describe('listing several thousand objects on the local S3 server', () => {
  const bucket = 'listing-test';
  let dir: string;
  let s3: S3Local;
  let clients: AwsClients;
  let store: S3RawMailStore;
  const keys: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mail-archiver-listing-'));
    s3 = await startS3Local({ dataDir: dir });
    clients = createClients({ s3: s3.endpoint, dynamodb: 'http://127.0.0.1:9' });
    store = new S3RawMailStore(clients.s3);
    await ensureBucket(clients.s3, bucket);
    // 3,250 messages (four pages), with neighbours under other prefixes that must not show up.
    for (let i = 0; i < 3250; i++) keys.push(`incoming/${i.toString(36).padStart(4, '0')}-msg`);
    const body = Buffer.from('Subject: x\r\n\r\nx\r\n');
    const queue = [...keys, 'envelopes/a.json', 'exports/b.tar.gz', 'incoming2/c'];
    const writer = async () => {
      for (let key = queue.pop(); key !== undefined; key = queue.pop())
        await store.write({ bucket, key }, body);
    };
    await Promise.all(Array.from({ length: 16 }, writer));
  }, 300_000);
  afterAll(async () => {
    destroyClients(clients);
    await s3?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists every key of a prefix once, in order, across pages', async () => {
    const listed: string[] = [];
    for await (const object of store.list(bucket, 'incoming/')) listed.push(object.key);
    expect(listed).toHaveLength(3250);
    expect(listed).toEqual([...keys].sort());
  });

  it('answers pages the way S3 does: 1,000 keys, IsTruncated, a token that continues where it stopped', async () => {
    const first = await clients.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'incoming/' }));
    expect(first.KeyCount).toBe(1000);
    expect(first.IsTruncated).toBe(true);
    expect(first.NextContinuationToken).toBeTruthy();
    const second = await clients.s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: 'incoming/',
        ContinuationToken: first.NextContinuationToken,
        MaxKeys: 5,
      }),
    );
    expect(second.ContinuationToken).toBe(first.NextContinuationToken);
    expect(second.Contents?.map((c) => c.Key)).toEqual([...keys].sort().slice(1000, 1005));
    const last = await clients.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: 'incoming/', StartAfter: [...keys].sort()[3248] }),
    );
    expect(last.IsTruncated).toBe(false);
    expect(last.NextContinuationToken).toBeUndefined();
    expect(last.KeyCount).toBe(1);
  });

  // A large folder's entries are kept between pages (cli/local/s3rver-patches.ts listWithoutRereading) only while
  // the folder is unchanged: a key written or deleted after a listing shows in the next one, page by page.
  it('lists a key written, and not a key deleted, after the folder was kept for a listing', async () => {
    // The folder was last changed more than 2 s ago: this listing keeps its entries.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const listAll = async () => {
      const listed: string[] = [];
      for await (const object of store.list(bucket, 'incoming/')) listed.push(object.key);
      return listed;
    };
    expect(await listAll()).toHaveLength(3250);
    await store.write({ bucket, key: 'incoming/zzzz-late' }, Buffer.from('Subject: late\r\n\r\nx\r\n'));
    expect((await listAll()).slice(-2)).toEqual([[...keys].sort().at(-1), 'incoming/zzzz-late']);
    await clients.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'incoming/zzzz-late' }));
    expect(await listAll()).toEqual([...keys].sort());
  });

  // s3rver's bucket settings are kept in memory once read (cli/local/services.ts): a change must still show.
  it('shows a bucket CORS setting put, then deleted, on the next requests', async () => {
    const Bucket = 'settings-test';
    await ensureBucket(clients.s3, Bucket);
    const read = () =>
      clients.s3.send(new GetBucketCorsCommand({ Bucket })).then(
        (r) => r.CORSRules?.map((rule) => rule.AllowedOrigins?.[0]),
        (error: Error) => error.name,
      );
    expect(await read()).toBe('NoSuchCORSConfiguration');
    const rules = (origin: string) => ({
      Bucket,
      CORSConfiguration: { CORSRules: [{ AllowedMethods: ['GET'], AllowedOrigins: [origin] }] },
    });
    await clients.s3.send(new PutBucketCorsCommand(rules('http://one.test')));
    expect(await read()).toEqual(['http://one.test']);
    await clients.s3.send(new PutBucketCorsCommand(rules('http://two.test')));
    expect(await read()).toEqual(['http://two.test']);
    await clients.s3.send(new DeleteBucketCorsCommand({ Bucket }));
    expect(await read()).toBe('NoSuchCORSConfiguration');
  });
});
