// A reconcile that stops at a small budget and goes on from its checkpoint, many times over, reports exactly what
// one run to the end reports (against DynamoDB Local and s3rver): every kind of finding, found across the stops.
import { CreateTableCommand, DeleteItemCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverThrough } from '../../cli/local/archive';
import { ensureIndexTable } from '../../cli/local/index-table';
import { createIngestHandler } from '../../lambdas/ingest/handler';
import { createReconcileHandler, ReconcileFindingsError } from '../../lambdas/reconcile/handler';
import { readObject } from '../../shared/archive/raw-object';
import {
  continueReconcile,
  type ReconcileProgress,
  reconcile,
  reindex,
  startReconcile,
} from '../../shared/archive/reconcile';
import type { ReconcileRun } from '../../shared/archive/reconcile-run';
import {
  envelopeKey,
  indexKeys,
  indexTableDefinition,
  RECONCILE_PROGRESS_KEY,
  RECONCILE_REPORT_KEY,
  rawMailKey,
} from '../../shared/index/schema';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

const config = exampleConfig({
  mailboxes: {
    'alice@example.com': { forwardTo: ['alice@gmail.example'] },
    'bob@example.com': { forwardTo: [] },
  },
});
const quiet = { info: () => undefined, warn: () => undefined };

describe('reconcile in several invocations (DynamoDB Local, s3rver)', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await startTestServices();
  });
  afterAll(async () => {
    await services?.stop();
  });

  it('stops at its budget, goes on from a JSON checkpoint, and ends with the report of one long run', async () => {
    const deps = { ...services, config, deliveryLog: services.deliveryLog };
    const handler = createIngestHandler({
      ...services,
      config,
      deliveryLog: services.deliveryLog,
      logger: quiet,
    });
    const deliver = deliverThrough(handler);
    const ids: string[] = [];
    const keys: string[] = [];
    for (let i = 0; i < 24; i++) {
      const recipients = i % 3 === 0 ? ['bob@example.com'] : ['alice@example.com', 'bob@example.com'];
      const { notification } = await receiveLikeSes(
        services.store,
        services.bucket,
        makeMessage({ subject: `message ${i}`, body: `body ${i}\r\n` }),
        { recipients },
      );
      await deliver(notification);
      ids.push(notification.mail.messageId);
    }
    // Forwarded or not: the ledger says so for most of alice's mail; one failed, the rest never recorded.
    const now = new Date();
    for await (const row of services.index.listDeliveries('alice@example.com')) keys.push(row.messageKey);
    keys.sort();
    for (const [n, messageKey] of keys.entries()) {
      const entry = { mailbox: 'alice@example.com', messageKey, target: 'alice@gmail.example' };
      if (n % 4 === 3) continue;
      await services.index.claimForward(entry, now, false);
      if (n === 0)
        await services.index.settleForward(
          entry,
          { state: 'failed', error: 'refused', permanent: false },
          now,
        );
      else await services.index.settleForward(entry, { state: 'sent', sesMessageId: `copy-${n}` }, now);
    }
    // The damage reconcile has to find: a lost raw object, a lost row, a damaged sidecar, an object nothing
    // announced, and a row the delivery log lacks.
    const { clients, bucket, tableName } = services;
    await clients.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: rawMailKey(ids[5] as string) }));
    let lostRow: { messageKey: string } | undefined;
    for await (const row of services.index.listDeliveries('bob@example.com', { limit: 1 })) lostRow = row;
    if (!lostRow) throw new Error('bob has no rows');
    await clients.dynamodb.send(
      new DeleteItemCommand({
        TableName: tableName,
        Key: {
          pk: { S: indexKeys.mailboxPk('bob@example.com') },
          sk: { S: indexKeys.messageSk(lostRow.messageKey) },
        },
      }),
    );
    await services.store.write({ bucket, key: envelopeKey(ids[9] as string) }, Buffer.from('{not json'));
    await receiveLikeSes(services.store, services.bucket, makeMessage({ subject: 'never announced' }), {
      recipients: ['alice@example.com'],
    });
    const unlogged = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'no log' }),
      {
        recipients: ['bob@example.com'],
      },
    );
    const { deliveryLog: _log, ...withoutLog } = services;
    await deliverThrough(createIngestHandler({ ...withoutLog, config, logger: quiet }))(
      unlogged.notification,
    );

    const whole = await reconcile(deps);
    expect(whole.ok).toBe(false);
    expect(whole.rawMessages).toBe(25);
    // Message 5 was delivered to both mailboxes: both rows lost their object.
    expect(whole.rawMissing.map((r) => `${r.mailbox} ${r.key}`).sort()).toEqual(
      ['alice@example.com', 'bob@example.com'].map((m) => `${m} ${rawMailKey(ids[5] as string)}`),
    );
    expect(whole.notIndexed).toHaveLength(2);
    expect(whole.unreadableEnvelopes.map((r) => r.envelope)).toEqual([envelopeKey(ids[9] as string)]);
    expect(whole.forwardsUnsettled).toHaveLength(1);
    expect(whole.notForwarded.length).toBeGreaterThan(0);
    expect(whole.notLogged.map((r) => r.messageKey)).toHaveLength(1);

    let progress: ReconcileProgress = await startReconcile(deps);
    while (progress.phase !== 'done') {
      // Each step starts from what a new invocation would read back from S3.
      progress = JSON.parse(JSON.stringify(await continueReconcile(deps, progress, { units: 4 })));
    }
    expect(progress.steps).toBeGreaterThan(15);
    expect(progress.report).toEqual(whole);

    // Reindex repairs from the same walk; a second reconcile then finds only what reindex cannot bring back.
    const repaired = await reindex(deps, async () => ['alice@example.com']);
    expect(repaired.failed).toEqual([]);
    expect(repaired.restored).toBe(2);
    expect(repaired.repairedEnvelopes).toHaveLength(1);
    expect(repaired.logged).toBe(1);
    const after = await reconcile(deps);
    expect(after.notIndexed).toEqual([]);
    expect(after.unreadableEnvelopes).toEqual([]);
    expect(after.notLogged).toEqual([]);
    expect(after.rawMissing).toEqual(whole.rawMissing);
  });

  it('the scheduled function goes on with a run across invocations, one at a time, and reports it whole', async () => {
    const handlerDeps = {
      ...services,
      config,
      forwards: { enqueue: async () => undefined },
      logger: quiet,
    };
    const kept = async () =>
      JSON.parse(
        (await readObject(services.store, { bucket: services.bucket, key: RECONCILE_REPORT_KEY })).toString(),
      ) as ReconcileRun;
    const comparable = ({
      at: _at,
      startedAt: _s,
      steps: _n,
      lastCleanAt: _c,
      lastFullAt: _f,
      reason: _r,
      ...rest
    }: ReconcileRun) => rest;
    // One call without a Lambda context: the whole run at once (the archive still misses two raw objects).
    await expect(createReconcileHandler(handlerDeps)()).rejects.toThrow(ReconcileFindingsError);
    const once = await kept();
    expect(once.steps).toBe(1);

    // Invocations with almost no time left: each compares one unit and hands the run to the next tick.
    const tick = createReconcileHandler({ ...handlerDeps, reserveMs: 0 });
    let invocations = 0;
    for (;;) {
      invocations += 1;
      const context = { getRemainingTimeInMillis: () => 1, awsRequestId: `req-${invocations}` };
      const result = await tick(undefined, context).catch((error: unknown) => error);
      if (result instanceof ReconcileFindingsError) break;
      expect(result).toMatchObject({ continuing: {} });
      if (invocations > 500) throw new Error('the run never ended');
    }
    const stepped = await kept();
    expect(invocations).toBeGreaterThan(20);
    expect(stepped.steps).toBe(invocations);
    expect(comparable(stepped)).toEqual(comparable(once));

    // A tick while another invocation holds the run leaves it alone; a run not yet due does not start.
    const held = { progress: { phase: 'objects' }, heldBy: 'other', heldUntil: Date.now() + 60_000 };
    await services.store.write(
      { bucket: services.bucket, key: RECONCILE_PROGRESS_KEY },
      Buffer.from(JSON.stringify(held)),
    );
    expect(await tick(undefined, { getRemainingTimeInMillis: () => 60_000 })).toEqual({
      skipped: 'held by another invocation',
    });
    await services.store.write({ bucket: services.bucket, key: RECONCILE_PROGRESS_KEY }, Buffer.from('null'));
    const daily = createReconcileHandler({ ...handlerDeps, everyMs: 24 * 3600_000 });
    expect(await daily(undefined, { getRemainingTimeInMillis: () => 60_000 })).toEqual({
      skipped: 'not due',
    });
  });

  it('gives a local table made before the byRawObject index that index (DynamoDB Local backfills it)', async () => {
    const { dynamodb } = services.clients;
    const TableName = 'index-before-byRawObject';
    await dynamodb.send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      }),
    );
    await ensureIndexTable(dynamodb, TableName);
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName }));
    expect((Table?.GlobalSecondaryIndexes ?? []).map((g) => [g.IndexName, g.IndexStatus]).sort()).toEqual(
      indexTableDefinition.globalSecondaryIndexes.map((g) => [g.indexName, 'ACTIVE']).sort(),
    );
  });
});
