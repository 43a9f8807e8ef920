// The scheduled reconcile after a clean run compares only what changed since (shared/archive/reconcile-scope.ts):
// its reads, counted by SDK middleware on the clients it uses (DynamoDB Local, s3rver), grow with the messages
// that arrived, not with the archive. And what arrived since is still compared: a finding in it is found.

import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import type { HandlerExecutionContext, InitializeHandler } from '@smithy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverThrough } from '../../cli/local/archive';
import { createIngestHandler } from '../../lambdas/ingest/handler';
import {
  createReconcileHandler,
  ReconcileFindingsError,
  type ReconcileHandlerDeps,
} from '../../lambdas/reconcile/handler';
import { continueReconcile, reconcile, startReconcile } from '../../shared/archive/reconcile';
import { type ReconcileRun, readStoredReconcileRun } from '../../shared/archive/reconcile-run';
import { envelopeKey, indexKeys, rawMailKey } from '../../shared/index/schema';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

const config = exampleConfig({
  mailboxes: {
    'alice@example.com': { forwardTo: ['alice@gmail.example'] },
    'bob@example.com': { forwardTo: [] },
    'carol@example.com': { forwardTo: [] },
  },
});
const quiet = { info: () => undefined, warn: () => undefined };
/** Commands that read (what a run pays per request for), by service. */
const READS = /^(S3 (GetObject|HeadObject|ListObjectsV2)|DynamoDB (GetItem|BatchGetItem|Query|Scan))/;
/**
 * The cut-off margin here: the clean run's start less two seconds (s3rver and the test share one clock); the old
 * messages are written a second more before it, since a listing's time counts from the second it is cut to.
 */
const MARGIN_MS = 2000;

describe('the scheduled reconcile since the last clean run (DynamoDB Local, s3rver)', () => {
  let services: TestServices;
  const counts = new Map<string, number>();
  let counting = false;
  beforeAll(async () => {
    services = await startTestServices();
    const counter =
      (service: string) =>
      <I extends object, O extends object>(
        next: InitializeHandler<I, O>,
        context: HandlerExecutionContext,
      ): InitializeHandler<I, O> =>
      async (args) => {
        if (counting) {
          const name = `${service} ${String(context.commandName).replace(/Command$/, '')}`;
          counts.set(name, (counts.get(name) ?? 0) + 1);
        }
        return next(args);
      };
    const options = { step: 'initialize', name: 'reconcileSinceCounter' } as const;
    services.clients.s3.middlewareStack.add(counter('S3'), options);
    services.clients.dynamodb.middlewareStack.add(counter('DynamoDB'), options);
  });
  afterAll(async () => {
    await services?.stop();
  });

  /** Messages received, ingested and forwarded (the ledger says sent), as the stack does for each. */
  async function arrive(n: number, label: string): Promise<string[]> {
    const deliver = deliverThrough(
      createIngestHandler({ ...services, config, deliveryLog: services.deliveryLog, logger: quiet }),
    );
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const { notification } = await receiveLikeSes(
        services.store,
        services.bucket,
        makeMessage({ subject: `${label} ${i}`, body: `${label} body ${i}\r\n` }),
        { recipients: i % 2 === 0 ? ['alice@example.com', 'bob@example.com'] : ['bob@example.com'] },
      );
      await deliver(notification);
      ids.push(notification.mail.messageId);
      if (i % 2 === 0) {
        const messageKey = await findRow('alice@example.com', notification.mail.messageId);
        if (!messageKey) throw new Error(`alice has no row of ${notification.mail.messageId}`);
        const entry = { mailbox: 'alice@example.com', messageKey, target: 'alice@gmail.example' };
        const now = new Date();
        await services.index.claimForward(entry, now, false);
        await services.index.settleForward(entry, { state: 'sent', sesMessageId: `copy-${label}-${i}` }, now);
      }
    }
    return ids;
  }
  async function findRow(mailbox: string, sesMessageId: string): Promise<string | undefined> {
    for await (const r of services.index.rawObjectRows(mailbox))
      if (r.sesMessageId === sesMessageId) return r.messageKey;
    return undefined;
  }
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const handler = (overrides: Partial<ReconcileHandlerDeps> = {}) =>
    createReconcileHandler({
      ...services,
      config,
      forwards: { enqueue: async () => undefined },
      logger: quiet,
      marginMs: MARGIN_MS,
      ...overrides,
    });
  /**
   * Full walks until one ends clean having repaired nothing (what the tests before left is repaired by the first),
   * so the next run compares what changed since it.
   */
  async function cleanFullWalk(): Promise<ReconcileRun> {
    await handler({ fullEveryMs: 0 })();
    const run = (await handler({ fullEveryMs: 0 })()) as ReconcileRun;
    expect(run).toMatchObject({ ok: true });
    expect(run.since).toBeUndefined();
    expect(run.reindexed).toBeUndefined();
    return run;
  }
  /** One run to its end, with the reads it made. */
  async function countedRun(): Promise<{ run: ReconcileRun; reads: Record<string, number>; total: number }> {
    counts.clear();
    counting = true;
    try {
      const run = (await handler()()) as ReconcileRun;
      const reads = Object.fromEntries([...counts].filter(([name]) => READS.test(name)).sort());
      return { run, reads, total: Object.values(reads).reduce((a, b) => a + b, 0) };
    } finally {
      counting = false;
    }
  }

  // Its 120 arrivals and six runs outlast the default timeout while the whole suite shares the machine, and a
  // test past its timeout goes on writing into what the next one counts: hence its own.
  it('reads as much for k new messages over an archive of 24 as over one of 120, and finds what is wrong in them', async () => {
    const k = 4;
    await arrive(24 - k, 'old');
    // The first run has no clean run before it: a full walk. Those messages are older than its cut-off margin.
    await sleep(MARGIN_MS + 1500);
    const first = await countedRun();
    expect(first.run).toMatchObject({ ok: true, rawMessages: 24 - k });
    expect(first.run.since).toBeUndefined();

    await arrive(k, 'new');
    const small = await countedRun();
    // The archive grows to 120 (compared by the run that follows, since they arrived after the last one), then
    // k more arrive.
    await arrive(120 - 24 - k, 'more');
    await sleep(MARGIN_MS + 1500);
    const grown = await countedRun();
    await arrive(k, 'newer');
    const large = await countedRun();

    // Five times the archive, the same k: the same reads, request for request.
    expect(large.reads).toEqual(small.reads);
    expect(large.total).toBeLessThan(first.total);
    expect(small.run).toMatchObject({ ok: true, rawMessages: 24, since: expect.any(String) });
    expect(small.run.examined).toMatchObject({ objects: k });
    expect(grown.run).toMatchObject({ ok: true, rawMessages: 120 - k });
    expect(grown.run.examined?.objects).toBeGreaterThanOrEqual(120 - 24 - k);
    expect(large.run).toMatchObject({ ok: true, rawMessages: 120, since: expect.any(String) });
    expect(large.run.examined).toMatchObject({ objects: k });

    // A finding among what arrived since is found: a new message's row lost.
    const [lost] = await arrive(1, 'lost');
    const messageKey = (await findRow('bob@example.com', lost as string)) as string;
    await services.clients.dynamodb.send(
      new DeleteItemCommand({
        TableName: services.tableName,
        Key: {
          pk: { S: indexKeys.mailboxPk('bob@example.com') },
          sk: { S: indexKeys.messageSk(messageKey) },
        },
      }),
    );
    const found = await handler()().catch((error: unknown) => error);
    // Reindex repairs it (the run ends ok, having repaired): the next run walks the whole archive again.
    expect(found).not.toBeInstanceOf(ReconcileFindingsError);
    expect(found).toMatchObject({ ok: true, reindexed: 1, since: expect.any(String) });
    const after = await countedRun();
    expect(after.run.since).toBeUndefined();
    expect(after.run).toMatchObject({ ok: true, rawMessages: 121, examined: { objects: 121 } });
  }, 240_000);

  it('compares an old message whose sidecar was written since, and leaves other old ones to the full walk', async () => {
    const [rewritten, untouched] = await arrive(2, 'old again');
    await sleep(MARGIN_MS + 1500);
    const since = new Date(Date.now() - MARGIN_MS).toISOString();
    // An old message's sidecar written again (here: damaged), and another old message's row lost without any
    // write to its sidecar (only by hand).
    await services.store.write(
      { bucket: services.bucket, key: envelopeKey(rewritten as string) },
      Buffer.from('{not json'),
    );
    const lostKey = (await findRow('bob@example.com', untouched as string)) as string;
    await services.clients.dynamodb.send(
      new DeleteItemCommand({
        TableName: services.tableName,
        Key: { pk: { S: indexKeys.mailboxPk('bob@example.com') }, sk: { S: indexKeys.messageSk(lostKey) } },
      }),
    );
    const deps = { ...services, config, deliveryLog: services.deliveryLog };
    let progress = await startReconcile(deps, { since });
    while (progress.phase !== 'done') progress = await continueReconcile(deps, progress);
    expect(progress.report.unreadableEnvelopes.map((u) => u.key)).toEqual([rawMailKey(rewritten as string)]);
    expect(progress.report.examined).toMatchObject({ objects: 1 });
    expect(progress.report.notIndexed).toEqual([]);
    const whole = await reconcile(deps);
    expect(whole.unreadableEnvelopes.map((u) => u.key)).toEqual([rawMailKey(rewritten as string)]);
    expect(whole.notIndexed).toEqual([rawMailKey(untouched as string)]);
  });

  it('walks the whole archive when a mailbox gains a forward target: its old messages never forwarded are found', async () => {
    const deliver = deliverThrough(
      createIngestHandler({ ...services, config, deliveryLog: services.deliveryLog, logger: quiet }),
    );
    for (let i = 0; i < 5; i++) {
      const { notification } = await receiveLikeSes(
        services.store,
        services.bucket,
        makeMessage({ subject: `carol ${i}`, body: `carol body ${i}\r\n` }),
        { recipients: ['carol@example.com'] },
      );
      await deliver(notification);
    }
    await sleep(MARGIN_MS + 1500);
    await cleanFullWalk();
    // The config as deployed next: carol forwards now. Her five messages are older than any cut-off.
    const forwarding = exampleConfig({
      mailboxes: {
        'alice@example.com': { forwardTo: ['alice@gmail.example'] },
        'bob@example.com': { forwardTo: [] },
        'carol@example.com': { forwardTo: ['carol@gmail.example'] },
      },
    });
    const found = await handler({ config: forwarding })().catch((error: unknown) => error);
    expect(found).toBeInstanceOf(ReconcileFindingsError);
    const run = await readStoredReconcileRun(services.store, services.bucket);
    expect(run).toMatchObject({ ok: false, notForwarded: 5, reason: 'the config changed' });
    expect(run?.since).toBeUndefined();
  }, 120_000);

  it('becomes a full walk, holding no list of them, when more sidecars than its limit were written since', async () => {
    await cleanFullWalk();
    await sleep(MARGIN_MS + 1500);
    const since = new Date().toISOString();
    await arrive(3, 'imported');
    // The core, one unit a step: the list of changed ids never holds more than the limit.
    const deps = { ...services, config, deliveryLog: services.deliveryLog };
    const stepped = async (changedLimit: number) => {
      let progress = await startReconcile({ ...deps, changedLimit }, { since, reason: 'test' });
      let longest = 0;
      while (progress.phase !== 'done') {
        progress = await continueReconcile({ ...deps, changedLimit }, progress, { units: 1 });
        longest = Math.max(longest, progress.changedIds?.length ?? 0);
      }
      return { report: progress.report, longest };
    };
    const over = await stepped(2);
    expect(over.longest).toBeLessThanOrEqual(2);
    expect(over.report.since).toBeUndefined();
    expect(over.report.reason).toBe(
      `more than 2 sidecars were written since ${since}: a full walk keeps no list of them`,
    );
    expect(over.report).toMatchObject({ ok: true });
    expect(over.report.examined?.objects).toBe(over.report.rawMessages);
    expect(over.report).toEqual({
      ...(await reconcile(deps)),
      reason: over.report.reason,
      examined: over.report.examined,
    });

    const within = await stepped(3);
    expect(within.report).toMatchObject({ since, reason: 'test', examined: { objects: 3 } });
    expect(within.longest).toBe(3);

    // The scheduled run says so in its record, which counts as the last full walk.
    const run = (await handler({ changedLimit: 2 })()) as ReconcileRun;
    expect(run.since).toBeUndefined();
    expect(run).toMatchObject({
      ok: true,
      lastFullAt: run.startedAt,
      reason: expect.stringMatching(/^more than 2 sidecars were written since /),
    });
    expect(run.examined?.objects).toBe(run.rawMessages);
  }, 120_000);
});
