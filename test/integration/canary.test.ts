// The canary function's handler against DynamoDB Local and s3rver, with the real ingest handler: SES is played
// by a sender that does what SES does with the canary (replaces its Message-ID, stores it under incoming/<SES id>,
// announces it), or stops at some step, as a broken path would. Checked: the verdict, the metrics the alarms
// watch, the log line, and the S3 walk that finds a canary stored but not indexed (over more than 1,000 keys:
// s3rver's listing past the first page is a known trap here).

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context, SQSEvent } from 'aws-lambda';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localCanaryRoundTrip } from '../../cli/doctor/canary';
import { runLocalChecks } from '../../cli/doctor/local-checks';
import { startSmtpListener } from '../../cli/local/smtp-listener';
import type { Archive } from '../../cli/target/archive';
import { healthLines } from '../../cli/target/health';
import { createCanaryHandler } from '../../lambdas/canary/handler';
import { createIngestHandler } from '../../lambdas/ingest/handler';
import { httpPing } from '../../shared/adapters/http-ping';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import { archiveActivity } from '../../shared/health/archive-activity';
import { isThisCanary, storedCanaryFinder } from '../../shared/health/canary-trail';
import {
  CANARY_FAILED_METRIC,
  CANARY_LATENCY_METRIC,
  CANARY_PING_FAILED_METRIC,
  MESSAGES_RECEIVED_METRIC,
  SCHEDULED_RUN_SUCCEEDED_METRIC,
} from '../../shared/metrics';
import type { MailSender } from '../../shared/ports';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

type Path = 'delivered' | 'stored only' | 'dropped' | 'refused';

let services: TestServices;
beforeAll(async () => {
  services = await startTestServices();
}, 60_000);
afterAll(async () => {
  await services?.stop();
});

function canaryWorld(options: { pingUrl?: string } = {}) {
  const config = exampleConfig(options.pingUrl ? { health: { canary: { pingUrl: options.pingUrl } } } : {});
  const ingest = createIngestHandler({
    config,
    store: services.store,
    index: services.index,
    forwards: { enqueue: async () => {} },
    logger: { info: () => {}, warn: () => {} },
  });
  let path: Path = 'delivered';
  let sends = 0;
  const sender: MailSender = {
    async send({ to, raw }) {
      if (path === 'refused') {
        throw Object.assign(new Error('Email address is not verified.'), { name: 'MessageRejected' });
      }
      const sesMessageId = `ses-canary-${Date.now()}-${++sends}`;
      const received = Buffer.from(
        raw
          .toString('ascii')
          .replace(/^Message-ID: .*$/m, `Message-ID: <${sesMessageId}@email.amazonses.com>`),
        'ascii',
      );
      if (path !== 'dropped') {
        const { notification } = await receiveLikeSes(services.store, services.bucket, received, {
          recipients: [to],
        });
        if (path === 'delivered') {
          const event = { Records: [{ messageId: 'm', body: JSON.stringify(notification) }] } as SQSEvent;
          expect((await ingest(event, {} as Context)).batchItemFailures).toEqual([]);
        }
      }
      return { messageId: sesMessageId };
    },
  };
  const metrics: { name: string; value: number }[] = [];
  const lines: { level: string; line: string }[] = [];
  const log = (level: string) => (line: string) => {
    lines.push({ level, line });
  };
  // Ten minutes behind the services' clocks: S3 keeps LastModified to the second, and the run looks from a minute
  // before it sent.
  let clock = Date.now() - 10 * 60_000;
  const handler = createCanaryHandler({
    config,
    store: services.store,
    bucket: services.bucket,
    index: services.index,
    sender,
    findStored: storedCanaryFinder(services.store, services.bucket),
    ping: httpPing({ timeoutMs: 2_000 }),
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    metrics: {
      addMetric: (name: string, _unit: unknown, value: number) => {
        metrics.push({ name, value });
      },
      publishStoredMetrics: () => {},
    } as never,
    now: () => new Date(clock),
  });
  return {
    run: async () => {
      metrics.length = 0;
      lines.length = 0;
      return handler();
    },
    metrics,
    lines,
    take: (p: Path) => {
      path = p;
    },
    later: (minutes: number) => {
      clock += minutes * 60_000;
    },
  };
}

const metric = (metrics: { name: string; value: number }[], name: string) =>
  metrics.find((m) => m.name === name)?.value;

describe('the canary handler over the local services', () => {
  it('a canary SES delivered is found in the index by its Subject (SES replaced its Message-ID): on time, no alarm', async () => {
    const w = canaryWorld();
    const first = await w.run();
    expect(first.judged).toBeUndefined();
    expect(metric(w.metrics, CANARY_FAILED_METRIC)).toBe(0);
    expect(metric(w.metrics, SCHEDULED_RUN_SUCCEEDED_METRIC)).toBe(1);
    w.later(1);
    const second = await w.run();
    expect(second.judged?.verdict.outcome).toBe('on-time');
    expect(metric(w.metrics, CANARY_FAILED_METRIC)).toBe(0);
    expect(metric(w.metrics, CANARY_LATENCY_METRIC)).toBeGreaterThanOrEqual(0);
    expect(w.lines.find((l) => l.level === 'info' && /archived after/.test(l.line))).toBeDefined();
  });

  it('a stopped ingest: the canary is stored, not indexed, found by walking incoming/; CanaryFailed is 1', async () => {
    const w = canaryWorld();
    await w.run();
    w.take('stored only');
    w.later(1);
    await w.run();
    w.take('delivered');
    w.later(120);
    const judged = (await w.run()).judged;
    expect(judged?.verdict).toEqual({ outcome: 'not-indexed' });
    expect(judged?.trail.storedAt).toBeDefined();
    expect(metric(w.metrics, CANARY_FAILED_METRIC)).toBe(1);
    expect(metric(w.metrics, SCHEDULED_RUN_SUCCEEDED_METRIC)).toBe(1);
    expect(w.lines.find((l) => l.level === 'error')?.line).toMatch(/stored in S3 at .*, but not indexed/);
  });

  it('dropped before S3: not stored; refused by SES: CanaryFailed at once, not sent on the next run', async () => {
    const w = canaryWorld();
    await w.run();
    w.take('dropped');
    w.later(1);
    await w.run();
    w.later(120);
    w.take('refused');
    const refused = await w.run();
    expect(refused.judged?.verdict).toEqual({ outcome: 'not-stored' });
    expect(refused.sent.sendError).toMatch(/not verified/);
    expect(metric(w.metrics, CANARY_FAILED_METRIC)).toBe(1);
    w.take('delivered');
    w.later(360);
    expect((await w.run()).judged?.verdict.outcome).toBe('not-sent');
  });
});

describe('the ping after an on-time round trip (health.canary.pingUrl)', () => {
  it('an unreachable ping URL is logged and counted (CanaryPingFailed), and never fails the canary or its heartbeat', async () => {
    // A port that was listening and is closed now: the connection is refused.
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((done) => closed.close(() => done()));
    const w = canaryWorld({ pingUrl: `http://127.0.0.1:${port}/ping/abc` });
    await w.run();
    w.later(1);
    const second = await w.run();
    expect(second.judged?.verdict.outcome).toBe('on-time');
    expect(second.ping).toEqual({ failed: expect.stringMatching(/ping 127\.0\.0\.1:\d+: .*ECONNREFUSED/) });
    expect(second.sent.sesMessageId).toBeDefined();
    expect(metric(w.metrics, CANARY_PING_FAILED_METRIC)).toBe(1);
    expect(metric(w.metrics, CANARY_FAILED_METRIC)).toBe(0);
    expect(metric(w.metrics, SCHEDULED_RUN_SUCCEEDED_METRIC)).toBe(1);
    expect(w.lines).toContainEqual({
      level: 'warn',
      line: expect.stringMatching(/^the ping after the canary round trip failed: ping 127\.0\.0\.1/),
    });
  }, 60_000);

  it('a reachable ping URL is called once per on-time round trip', async () => {
    const hits: string[] = [];
    const server = createHttpServer((request, response) => {
      hits.push(request.url ?? '');
      response.end('OK');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const { port } = server.address() as AddressInfo;
      const w = canaryWorld({ pingUrl: `http://127.0.0.1:${port}/ping/abc` });
      // The first run judges what an earlier test left in the shared bucket: only the second run's ping counts.
      await w.run();
      hits.length = 0;
      w.later(1);
      expect((await w.run()).ping).toBe('ok');
      expect(hits).toEqual(['/ping/abc']);
      expect(metric(w.metrics, CANARY_PING_FAILED_METRIC)).toBeUndefined();
    } finally {
      await new Promise<void>((done) => server.close(() => done()));
    }
  }, 60_000);
});

describe('storedCanaryFinder over s3rver', () => {
  it('finds the canary among more than 1,000 objects, by SES Message-ID or Subject, only since the time asked', async () => {
    const since = new Date(Date.now() - 60_000);
    const limit = pLimit(16);
    await Promise.all(
      Array.from({ length: 1_010 }, (_, i) =>
        limit(() =>
          services.store.write(
            { bucket: services.bucket, key: `incoming/filler-${String(i).padStart(5, '0')}` },
            makeMessage({ subject: `filler ${i}` }),
          ),
        ),
      ),
    );
    // A key that sorts after every filler: found only on the listing's second page.
    await services.store.write(
      { bucket: services.bucket, key: 'incoming/zz-canary' },
      makeMessage({ subject: 'mail-archiver canary canary-x-1', messageId: '<zz-ses@email.amazonses.com>' }),
    );
    const find = storedCanaryFinder(services.store, services.bucket);
    const bySubject = { messageId: '<canary-x-1@example.com>', id: 'canary-x-1' };
    expect(await find(bySubject, since)).toBeDefined();
    const bySesId = { messageId: '<other@example.com>', id: 'canary-other', sesMessageId: 'zz-ses' };
    expect(await find(bySesId, since)).toBeDefined();
    expect(await find({ messageId: '<nope@example.com>', id: 'canary-nope' }, since)).toBeUndefined();
    expect(await find(bySubject, new Date(Date.now() + 60_000))).toBeUndefined();
  }, 120_000);

  it('one rule for which message is the canary', () => {
    const canary = { messageId: '<canary-a@example.com>', id: 'canary-a', sesMessageId: '0100abc' };
    expect(isThisCanary(canary, { messageId: '<canary-a@example.com>' })).toBe(true);
    expect(isThisCanary(canary, { messageId: '<0100abc@email.amazonses.com>' })).toBe(true);
    expect(isThisCanary(canary, { subject: 'mail-archiver canary canary-a' })).toBe(true);
    expect(isThisCanary(canary, { messageId: '<0100abcd@email.amazonses.com>', subject: 'hello' })).toBe(
      false,
    );
    expect(
      isThisCanary({ messageId: '<x@y>', id: 'canary-b' }, { messageId: '<@email.amazonses.com>' }),
    ).toBe(false);
  });
});

describe('the health view: the last message received and the canary, from the index and the canary record', () => {
  it('status shows the last round trip and when mail last arrived (canaries aside)', async () => {
    const config = exampleConfig();
    const before = await archiveActivity({ config, ...services });
    const w = canaryWorld();
    await w.run();
    w.later(1);
    await w.run();
    const activity = await archiveActivity({ config, ...services });
    expect(activity.canary).toMatchObject({
      state: 'ok',
      lastRoundTrip: { outcome: 'on-time', failed: false },
    });
    // Canaries are not "mail received": only the other mailboxes' rows count.
    expect(activity.lastReceivedAt).toBe(before.lastReceivedAt);
    const { notification } = await receiveLikeSes(services.store, services.bucket, makeMessage({}), {
      recipients: ['alice@example.com'],
    });
    await archiveReceivedMail(notification, { config, store: services.store, index: services.index });
    const after = await archiveActivity({ config, ...services });
    expect(after.lastReceivedAt).toBe(notification.mail.timestamp);
    const lines = healthLines({ ingestDeadLetters: 0, parkedForwards: 0, ...after }).join('\n');
    expect(lines).toMatch(/last received: +\d{4}-/);
    expect(lines).toMatch(/canary: +last round trip on-time after \d+\.\d s/);
    expect(
      (
        await archiveActivity({
          config: exampleConfig({ health: { canary: { enabled: false } } }),
          ...services,
        })
      ).canary,
    ).toEqual({ state: 'off' });
  });

  it('a damaged canary record is reported by status and replaced by the next run', async () => {
    const config = exampleConfig();
    await services.store.write(
      { bucket: services.bucket, key: 'reports/canary.json' },
      Buffer.from('{"half": '),
      { contentType: 'application/json' },
    );
    expect((await archiveActivity({ config, ...services })).canary).toMatchObject({
      state: 'unreadable',
      reason: expect.stringMatching(/not JSON/),
    });
    const run = await canaryWorld().run();
    expect(run.replacedRecord).toMatch(/not JSON/);
    expect((await archiveActivity({ config, ...services })).canary).toMatchObject({ state: 'ok' });
  });
});

describe('doctor on the local stack: a canary round trip through the SMTP listener', () => {
  it('ok while ingest works; "stored in S3, but not indexed" once ingest has stopped', async () => {
    const config = exampleConfig();
    const deadLetterDir = mkdtempSync(join(tmpdir(), 'mail-archiver-canary-dl-'));
    let stopped = false;
    const archive = {
      ...services,
      deliver: async (notification: Parameters<Archive['deliver']>[0]) => {
        if (stopped) throw new Error('ingest stopped');
        await archiveReceivedMail(notification, { config, store: services.store, index: services.index });
      },
    } as unknown as Archive;
    const listener = await startSmtpListener(config, archive, { port: 0, deadLetterDir });
    const doctor = () =>
      runLocalChecks({
        config,
        running: undefined,
        lastReconcile: undefined,
        canary: () => localCanaryRoundTrip(config, services, listener, 2_000),
      });
    try {
      expect((await doctor()).find((c) => c.name === 'canary')).toMatchObject({
        status: 'ok',
        detail: expect.stringMatching(
          /^a canary to canary@example\.com was stored in S3 and indexed, archived after \d+\.\d s/,
        ),
      });
      stopped = true;
      const broken = (await doctor()).find((c) => c.name === 'canary');
      expect(broken).toMatchObject({
        status: 'fail',
        detail: expect.stringMatching(/stored in S3 at .*, but not indexed within/),
        fix: expect.stringMatching(/redrive/),
      });
      expect(readdirSync(deadLetterDir)).toHaveLength(1);
    } finally {
      await listener.stop();
      rmSync(deadLetterDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('the silence count', () => {
  it("ingest counts the messages it archived for a mailbox other than the canary's", async () => {
    const config = exampleConfig();
    const published: { name: string; value: number }[] = [];
    const ingest = createIngestHandler({
      config,
      store: services.store,
      index: services.index,
      forwards: { enqueue: async () => {} },
      logger: { info: () => {}, warn: () => {} },
      metrics: {
        addMetric: (name: string, _unit: unknown, value: number) => {
          published.push({ name, value });
        },
        publishStoredMetrics: () => {},
      } as never,
    });
    const records = [];
    for (const to of ['canary@example.com', 'alice@example.com', 'bob@example.com']) {
      const { notification } = await receiveLikeSes(services.store, services.bucket, makeMessage({}), {
        recipients: [to],
      });
      records.push({ messageId: to, body: JSON.stringify(notification) });
    }
    await ingest({ Records: records } as SQSEvent, {} as Context);
    expect(published).toEqual([{ name: MESSAGES_RECEIVED_METRIC, value: 2 }]);
    published.length = 0;
    await ingest({ Records: records.slice(0, 1) } as SQSEvent, {} as Context);
    expect(published).toEqual([]);
  });
});
