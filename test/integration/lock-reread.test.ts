// Ingest reading a raw version that is already locked, on the local stack (the local S3 server's Object Lock layer
// answers GetObject with the version's lock headers and refuses a shorter retention, as S3 does): an import writes
// the message locked, ingest asks S3 for nothing more; after retainDays is lowered, importing the same message into
// another mailbox still succeeds and the version keeps its longer retention.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import { type ImportTarget, importMessages } from '../../shared/history/import';
import { RAW_MAIL_PREFIX } from '../../shared/index/schema';
import { archiveLocker } from '../../shared/retention/lock-policy';
import { lockingStore } from '../../shared/retention/locking-store';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';

const DAY = 24 * 3600 * 1000;

describe('ingest never asks S3 for a retention shorter than the one a version has (local stack)', () => {
  let services: TestServices;
  let dir: string;
  /** Every S3 command the archive sends, with its key. */
  const sent: { command: string; key?: string }[] = [];
  beforeAll(async () => {
    services = await startTestServices();
    dir = mkdtempSync(join(tmpdir(), 'lock-reread-'));
    services.clients.s3.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: string };
        sent.push({
          command: String(context.commandName).replace(/Command$/, ''),
          ...(input.Key ? { key: input.Key } : {}),
        });
        return next(args);
      },
      { step: 'initialize', name: 'countRequests' },
    );
  }, 60_000);
  afterAll(async () => {
    await services?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The archive as `import` opens it under `retainDays`: writes locked, ingest's lock step on what it reads. */
  const targetWith = (retainDays: number): ImportTarget => {
    const config = exampleConfig({ archive: { lock: { mode: 'governance', retainDays } } });
    const locker = archiveLocker(config, new S3ObjectLocks(services.clients.s3));
    const store = lockingStore(services.store, locker);
    return {
      store,
      bucket: services.bucket,
      index: services.index,
      async deliver(notification) {
        await archiveReceivedMail(notification, {
          config,
          store,
          index: services.index,
          ...(locker ? { locker } : {}),
        });
      },
    };
  };

  it('an import sends no PutObjectRetention for its raw version; with retainDays lowered, importing it into another mailbox succeeds and the version keeps its retention', async () => {
    const file = join(dir, 'message.eml');
    writeFileSync(file, makeMessage({ subject: 'kept ten years' }));
    const started = Date.now();
    const first = await importMessages(exampleConfig(), targetWith(3650), [file], {
      to: ['alice@example.com'],
    });
    expect(first).toMatchObject({ archived: 1, failed: [] });
    const rawKeys = new Set(sent.filter((s) => s.key?.startsWith(RAW_MAIL_PREFIX)).map((s) => s.key));
    expect(rawKeys.size).toBe(1);
    const [rawKey] = [...rawKeys] as [string];
    const retentionRequests = () =>
      sent.filter((s) => s.command === 'PutObjectRetention' && s.key === rawKey).length;
    // Written locked by the import's PutObject; ingest's read was told so and asked for nothing more.
    expect(retentionRequests()).toBe(0);

    const second = await importMessages(exampleConfig(), targetWith(30), [file], { to: ['bob@example.com'] });
    expect(second.failed).toEqual([]);
    expect(second.mailboxes).toEqual({ 'bob@example.com': { archived: 1, duplicates: 0, failed: 0 } });
    expect(retentionRequests()).toBe(0);

    const locks = new S3ObjectLocks(services.clients.s3);
    const [version] = await (async () => {
      const out = [];
      for await (const v of locks.versions(services.bucket, rawKey)) out.push(v);
      return out;
    })();
    const retention = await locks.retention(version as NonNullable<typeof version>);
    expect(retention?.mode).toBe('GOVERNANCE');
    expect(new Date(retention?.retainUntil as string).getTime()).toBeGreaterThanOrEqual(started + 3650 * DAY);
  });
});
