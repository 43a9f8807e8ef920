// The canary run over the real ingest (in-memory index and store): what SES would do with the canary is played by
// the test's sender, which delivers it whole, stores it without announcing it, or drops it.
import { describe, expect, it } from 'vitest';
import { memoryStore } from '../../../scripts/bench-support';
import { MemoryMailIndex } from '../../../shared/adapters/memory-index';
import { archiveReceivedMail } from '../../../shared/archive/ingest';
import { readObject } from '../../../shared/archive/raw-object';
import { type CanaryRecord, canaryRoundTrip, runCanary } from '../../../shared/health/canary-run';
import { CANARY_RECORD_KEY } from '../../../shared/index/schema';
import type { MailSender } from '../../../shared/ports';
import { exampleConfig } from '../../support/config';
import { receiveLikeSes } from '../../support/ses';

type Path = 'delivered' | 'stored only' | 'dropped' | 'refused';

function world(pingUrl?: string) {
  const config = exampleConfig(pingUrl ? { health: { canary: { pingUrl } } } : {});
  const objects = new Map<string, Buffer>();
  const store = memoryStore(objects);
  const index = new MemoryMailIndex();
  let clock = new Date('2026-12-06T12:00:00.000Z');
  let path: Path = 'delivered';
  const storedAt = new Map<string, string>();
  const sent: { from: string; to: string }[] = [];
  const sender: MailSender = {
    async send({ from, to, raw }) {
      sent.push({ from, to });
      if (path === 'refused') throw new Error('MessageRejected: Email address is not verified.');
      const sesMessageId = `ses-${sent.length}`;
      // SES replaces the Message-ID of what it sends with its own (SES developer guide, "Amazon SES header
      // fields"): the received copy has only the Subject to say which canary it is.
      const received = Buffer.from(
        raw
          .toString('ascii')
          .replace(/^Message-ID: .*$/m, `Message-ID: <${sesMessageId}@email.amazonses.com>`),
        'ascii',
      );
      const at = new Date(clock.getTime() + 5_000);
      if (path !== 'dropped') {
        const { notification } = await receiveLikeSes(store, 'raw', received, {
          recipients: [to],
          timestamp: at,
        });
        storedAt.set(sesMessageId, at.toISOString());
        if (path === 'delivered') await archiveReceivedMail(notification, { config, store, index });
      }
      return { messageId: sesMessageId };
    },
  };
  const pings: string[] = [];
  let pingFails = false;
  const deps = () => ({
    config,
    store,
    bucket: 'raw',
    index,
    sender,
    findStored: async (canary: { sesMessageId?: string }) => storedAt.get(canary.sesMessageId ?? ''),
    ping: async (url: string) => {
      pings.push(url);
      if (pingFails) throw new Error('getaddrinfo ENOTFOUND hc-ping.invalid');
    },
    now: () => clock,
  });
  const run = () => runCanary(deps());
  const roundTrip = (waitMs: number) => canaryRoundTrip(deps(), { waitMs, pollMs: 10 });
  return {
    config,
    index,
    sent,
    pings,
    run,
    roundTrip,
    record: async () =>
      JSON.parse(
        (await readObject(store, { bucket: 'raw', key: CANARY_RECORD_KEY })).toString('utf8'),
      ) as CanaryRecord,
    later: (hours: number) => {
      clock = new Date(clock.getTime() + hours * 3_600_000);
    },
    take: (p: Path) => {
      path = p;
    },
    failPing: () => {
      pingFails = true;
    },
  };
}

describe('canaryRoundTrip (doctor and send-test --canary on the local stack)', () => {
  it('records the round trip it just judged: the health view shows this canary, not the one before', async () => {
    const w = world();
    const first = await w.roundTrip(30_000);
    expect(first.verdict.outcome).toBe('on-time');
    // A fresh archive: doctor said ok, so the view must not say "no round trip judged yet".
    expect((await w.record()).previous).toEqual({ trail: first.trail, verdict: first.verdict });
    w.later(1);
    w.take('stored only');
    const second = await w.roundTrip(100);
    expect(second.verdict.outcome).toBe('not-indexed');
    expect((await w.record()).previous).toEqual({ trail: second.trail, verdict: second.verdict });
    // The next scheduled-style run judges that same canary again, by its trail now: still not indexed.
    w.later(6);
    w.take('delivered');
    expect((await w.run()).judged?.verdict.outcome).toBe('not-indexed');
  });
});

describe('runCanary', () => {
  it('first run: sends from and to the canary address, judges nothing; next run finds it archived on time', async () => {
    const w = world();
    const first = await w.run();
    expect(first.judged).toBeUndefined();
    expect(w.sent).toEqual([{ from: 'canary@example.com', to: 'canary@example.com' }]);
    expect(first.sent).toMatchObject({ sesMessageId: 'ses-1', sentAt: '2026-12-06T12:00:00.000Z' });
    const rows = [];
    for await (const row of w.index.listDeliveries('canary@example.com')) rows.push(row);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.subject).toBe(`mail-archiver canary ${first.sent.id}`);

    w.later(6);
    const second = await w.run();
    expect(second.judged?.verdict).toEqual({ outcome: 'on-time', latencySeconds: 5 });
    expect(second.judged?.alarms).toBe(false);
    expect((await w.record()).previous?.verdict.outcome).toBe('on-time');
  });

  it('stored but never announced: not indexed, with the time S3 stored it', async () => {
    const w = world();
    w.take('stored only');
    await w.run();
    w.later(6);
    const judged = (await w.run()).judged;
    expect(judged?.verdict).toEqual({ outcome: 'not-indexed' });
    expect(judged?.trail.storedAt).toBe('2026-12-06T12:00:05.000Z');
    expect(judged?.alarms).toBe(true);
    expect(judged?.line).toMatch(/not indexed/);
  });

  it('dropped before S3 (MX, receiving, the rule set): not stored', async () => {
    const w = world();
    w.take('dropped');
    await w.run();
    w.later(6);
    expect((await w.run()).judged?.verdict).toEqual({ outcome: 'not-stored' });
  });

  it('refused by SES: the send failure is recorded, the next run reports it as not sent', async () => {
    const w = world();
    w.take('refused');
    const first = await w.run();
    expect(first.sent.sendError).toMatch(/not verified/);
    w.take('delivered');
    w.later(6);
    const second = await w.run();
    expect(second.judged?.verdict).toEqual({
      outcome: 'not-sent',
      reason: 'MessageRejected: Email address is not verified.',
    });
    expect(second.sent.sesMessageId).toBeDefined();
  });

  it('pings after an on-time round trip only; an unreachable ping URL is reported, never thrown', async () => {
    const w = world('https://hc-ping.invalid/abc');
    await w.run();
    expect(w.pings).toEqual([]);
    w.later(6);
    expect((await w.run()).ping).toBe('ok');
    w.failPing();
    w.later(6);
    const failed = await w.run();
    expect(failed.ping).toEqual({ failed: 'getaddrinfo ENOTFOUND hc-ping.invalid' });
    expect(failed.sent.sesMessageId).toBeDefined();
    w.take('dropped');
    w.later(6);
    await w.run();
    w.later(6);
    const broken = await w.run();
    expect(broken.judged?.verdict.outcome).toBe('not-stored');
    expect(broken.ping).toBeUndefined();
    expect(w.pings).toHaveLength(3);
  });
});
