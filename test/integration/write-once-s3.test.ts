// The transparency log's S3 store (shared/adapters/s3-write-once-store.ts) against the local S3 server with S3's
// conditional writes (cli/local/conditional-writes.ts): a file is created once with If-None-Match: *, the same
// bytes again are taken as done, other bytes are refused, two writers racing for one key get one winner, and a
// plain put (no condition) still overwrites, as on S3.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBucket, startS3Local } from '../../cli/local/services';
import { createClients, destroyClients } from '../../shared/adapters/clients';
import { S3WriteOnceStore } from '../../shared/adapters/s3-write-once-store';
import { LogOverwriteError } from '../../shared/transparency/log-files';

let dir: string;
let s3: Awaited<ReturnType<typeof startS3Local>>;
let clients: ReturnType<typeof createClients>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'write-once-s3-'));
  s3 = await startS3Local({ dataDir: dir });
  clients = createClients({ s3: s3.endpoint, dynamodb: 'http://127.0.0.1:1' });
  await ensureBucket(clients.s3, 'raw');
});
afterAll(async () => {
  destroyClients(clients);
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('S3WriteOnceStore on the local S3 server', () => {
  it('creates once, takes the same bytes as done, refuses other bytes', async () => {
    const store = new S3WriteOnceStore(clients.s3, 'raw', 'transparency/');
    expect(await store.putOnce('checkpoints/000000000001', Buffer.from('one'), 'text/plain')).toBe('created');
    expect(await store.putOnce('checkpoints/000000000001', Buffer.from('one'), 'text/plain')).toBe('exists');
    await expect(store.putOnce('checkpoints/000000000001', Buffer.from('two'), 'text/plain')).rejects.toThrow(
      LogOverwriteError,
    );
    expect((await store.get('checkpoints/000000000001'))?.toString()).toBe('one');
    expect(await store.get('checkpoints/000000000002')).toBeUndefined();
    await store.putOnce('tile/0/x001/000.p/3', Buffer.from('t'), 'application/octet-stream');
    const listed: string[] = [];
    for await (const path of store.list('')) listed.push(path);
    expect(listed).toEqual(['checkpoints/000000000001', 'tile/0/x001/000.p/3']);
  });

  it('two writers racing for one key: one creates, the other is refused', async () => {
    const store = new S3WriteOnceStore(clients.s3, 'raw', 'transparency/');
    const results = await Promise.allSettled(
      ['a', 'b', 'c', 'd'].map((b) => store.putOnce('race', Buffer.from(b), 'text/plain')),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(
      results.filter((r) => r.status === 'rejected').every((r) => r.reason instanceof LogOverwriteError),
    ).toBe(true);
  });

  it('a put without the condition still replaces (what the bucket policy denies on AWS)', async () => {
    await clients.s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'transparency/race', Body: 'plain' }));
    const store = new S3WriteOnceStore(clients.s3, 'raw', 'transparency/');
    expect((await store.get('race'))?.toString()).toBe('plain');
  });
});
