// The local archive on a shared machine: the data directory is 0700 and nothing in it is readable by others;
// each data directory has its own random key id, so DynamoDB Local (which listens on every interface and checks
// no signature) shows someone without it empty tables, and s3rver refuses requests without it; an archive of
// the old constant key id stays readable; DynamoDB Local allows no web page's origin.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand, ListTablesCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLE, startLocalArchive } from '../../cli/local/archive';
import { ensureIndexTable } from '../../cli/local/index-table';
import { dynamoDbFile, LEGACY_ACCESS_KEY_ID } from '../../cli/local/privacy';
import { startDynamoLocal } from '../../cli/local/services';
import type { Archive } from '../../cli/target/archive';
import { createClients, destroyClients } from '../../shared/adapters/clients';
import { rawMailKey } from '../../shared/index/schema';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';
import { receiveAndArchive } from '../support/receive';

const config = exampleConfig();
let work: string;
let home: string;
let archive: (Archive & { shared: boolean }) | undefined;
let messageId: string;

function walk(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).map((d) => join(d.parentPath, d.name));
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mail-archiver-local-privacy-'));
  home = join(work, 'home');
  archive = await startLocalArchive(config, { home });
  const notification = await receiveAndArchive(
    archive,
    makeMessage({ subject: 'private', to: 'alice@example.com' }),
    { envelopeFrom: 'sender@example.org' },
  );
  messageId = notification.mail.messageId;
});
afterAll(async () => {
  await archive?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('the local archive is private', () => {
  it('the data directory is 0700; no object, database or file in it is open to group or others', () => {
    expect(statSync(home).mode & 0o777).toBe(0o700);
    const paths = walk(home);
    expect(paths.some((p) => p.endsWith(`_us-east-1.db`))).toBe(true);
    expect(paths.some((p) => p.includes(`${join(home, 's3')}/`) && statSync(p).isFile())).toBe(true);
    for (const path of paths) expect(statSync(path).mode & 0o077, path).toBe(0);
  });

  it('has its own random key id, stored 0600, and uses it for the index', () => {
    const file = join(home, 'local-credentials.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const { accessKeyId } = JSON.parse(readFileSync(file, 'utf8'));
    expect(accessKeyId).toMatch(/^LOCAL[A-Z2-7]{20}$/);
    expect(statSync(dynamoDbFile(home, accessKeyId)).isFile()).toBe(true);
    expect(archive?.endpoints.credentials?.accessKeyId).toBe(accessKeyId);
  });

  it('someone without the key id sees empty tables in DynamoDB Local', async () => {
    const endpoints = archive?.endpoints as Archive['endpoints'];
    const ours = await archive?.clients.dynamodb.send(new ListTablesCommand({}));
    expect(ours?.TableNames).toContain(LOCAL_TABLE);
    for (const accessKeyId of [LEGACY_ACCESS_KEY_ID, 'GUESSEDKEY']) {
      const other = createClients({ ...endpoints, credentials: { accessKeyId, secretAccessKey: 'x' } });
      try {
        const theirs = await other.dynamodb.send(new ListTablesCommand({}));
        expect(theirs.TableNames).toEqual([]);
      } finally {
        destroyClients(other);
      }
    }
  });

  it('s3rver refuses unsigned requests and other key ids, and serves its own', async () => {
    const endpoints = archive?.endpoints as Archive['endpoints'];
    const url = `${endpoints.s3}/${archive?.bucket}/${rawMailKey(messageId)}`;
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(403);
    expect(await anonymous.text()).toMatch(/AccessDenied/);
    expect((await fetch(`${endpoints.s3}/`)).status).toBe(403);
    const other = createClients({
      ...endpoints,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    try {
      await expect(
        other.s3.send(new GetObjectCommand({ Bucket: archive?.bucket, Key: rawMailKey(messageId) })),
      ).rejects.toThrow(/Access Denied/);
    } finally {
      destroyClients(other);
    }
    const mine = await archive?.clients.s3.send(
      new GetObjectCommand({ Bucket: archive?.bucket, Key: rawMailKey(messageId) }),
    );
    expect(await mine?.Body?.transformToString()).toMatch(/Subject: private/);
  });

  it("DynamoDB Local's CORS allows no web page's origin", async () => {
    const endpoints = archive?.endpoints as Archive['endpoints'];
    const preflight = await fetch(endpoints.dynamodb, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://evil.example',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type,x-amz-target',
      },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('an archive of an older version', () => {
  it('keeps its index readable: the constant key id database is renamed to the new key id, and the home made 0700', async () => {
    const old = join(work, 'old-home');
    mkdirSync(old, { mode: 0o755 });
    chmodSync(old, 0o755);
    // What an older version left: DynamoDB Local's file under the constant key id, with one row.
    const dynamo = await startDynamoLocal({ dataDir: join(old, 'dynamodb') });
    const legacy = createClients({ s3: 'http://127.0.0.1:9', dynamodb: dynamo.endpoint });
    try {
      await ensureIndexTable(legacy.dynamodb, LOCAL_TABLE);
      await legacy.dynamodb.send(
        new PutItemCommand({ TableName: LOCAL_TABLE, Item: { pk: { S: 'OLD' }, sk: { S: 'ROW' } } }),
      );
    } finally {
      destroyClients(legacy);
      await dynamo.stop();
    }
    expect(statSync(dynamoDbFile(old, LEGACY_ACCESS_KEY_ID)).isFile()).toBe(true);

    const reopened = await startLocalArchive(config, { home: old });
    try {
      const { accessKeyId } = JSON.parse(readFileSync(join(old, 'local-credentials.json'), 'utf8'));
      expect(statSync(dynamoDbFile(old, accessKeyId)).isFile()).toBe(true);
      expect(() => statSync(dynamoDbFile(old, LEGACY_ACCESS_KEY_ID))).toThrow();
      const row = await reopened.clients.dynamodb.send(
        new GetItemCommand({ TableName: LOCAL_TABLE, Key: { pk: { S: 'OLD' }, sk: { S: 'ROW' } } }),
      );
      expect(row.Item?.pk?.S).toBe('OLD');
      expect(statSync(old).mode & 0o777).toBe(0o700);
    } finally {
      await reopened.close();
    }
  }, 180_000); // DynamoDB Local started twice: 42-50 s alone at load 30
});
