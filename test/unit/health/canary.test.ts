import { describe, expect, it } from 'vitest';
import { type CanaryTrail, canaryAlarms, describeCanary, judgeCanary } from '../../../shared/health/canary';

const window = { windowSeconds: 3600 };
const sent: CanaryTrail = {
  id: 'canary-20261206T120000Z-3f2a',
  sentAt: '2026-12-06T12:00:00.000Z',
  sesMessageId: '0100018c-sent',
};
const at = (iso: string) => new Date(iso);

describe('judgeCanary', () => {
  it('on time: indexed within the window, latency from sent to indexed', () => {
    const trail = { ...sent, storedAt: '2026-12-06T12:00:04.000Z', indexedAt: '2026-12-06T12:00:07.500Z' };
    const verdict = judgeCanary(trail, window, at('2026-12-06T18:00:00Z'));
    expect(verdict).toEqual({ outcome: 'on-time', latencySeconds: 7.5 });
    expect(canaryAlarms(verdict)).toBe(false);
    expect(describeCanary(trail, verdict, window)).toContain('archived after 0.1 min');
  });

  it('late: indexed, but after the window', () => {
    const trail = { ...sent, storedAt: '2026-12-06T13:10:00.000Z', indexedAt: '2026-12-06T13:10:02.000Z' };
    const verdict = judgeCanary(trail, window, at('2026-12-06T18:00:00Z'));
    expect(verdict).toEqual({ outcome: 'late', latencySeconds: 4202 });
    expect(canaryAlarms(verdict)).toBe(true);
    expect(describeCanary(trail, verdict, window)).toMatch(/after 70 min \(the window is 60 min\)/);
  });

  it('exactly at the window is on time', () => {
    const trail = { ...sent, indexedAt: '2026-12-06T13:00:00.000Z' };
    expect(judgeCanary(trail, window, at('2026-12-06T18:00:00Z')).outcome).toBe('on-time');
  });

  it('sent, not stored: once the window closed, the break is before S3 (MX, receiving, rule set)', () => {
    const verdict = judgeCanary(sent, window, at('2026-12-06T13:00:01Z'));
    expect(verdict).toEqual({ outcome: 'not-stored' });
    expect(canaryAlarms(verdict)).toBe(true);
    const line = describeCanary(sent, verdict, window);
    expect(line).toContain('MX records');
    expect(line).toContain('receipt rule set');
  });

  it('stored, not indexed: the break is between S3 and the index (notification, ingest)', () => {
    const trail = { ...sent, storedAt: '2026-12-06T12:00:03.000Z' };
    const verdict = judgeCanary(trail, window, at('2026-12-06T18:00:00Z'));
    expect(verdict).toEqual({ outcome: 'not-indexed' });
    expect(canaryAlarms(verdict)).toBe(true);
    expect(describeCanary(trail, verdict, window)).toMatch(
      /stored in S3 at 2026-12-06T12:00:03.000Z.*ingest/,
    );
  });

  it('not archived yet but within the window: pending, no alarm, whatever the trail shows so far', () => {
    for (const trail of [sent, { ...sent, storedAt: '2026-12-06T12:00:03.000Z' }]) {
      const verdict = judgeCanary(trail, window, at('2026-12-06T12:59:59Z'));
      expect(verdict).toEqual({ outcome: 'pending' });
      expect(canaryAlarms(verdict)).toBe(false);
    }
  });

  it('not sent: SES refused it; the reason is kept and it alarms at once', () => {
    const trail: CanaryTrail = {
      id: sent.id,
      sentAt: sent.sentAt,
      sendError: 'MessageRejected: Email address is not verified.',
    };
    const verdict = judgeCanary(trail, window, at('2026-12-06T12:00:01Z'));
    expect(verdict).toEqual({
      outcome: 'not-sent',
      reason: 'MessageRejected: Email address is not verified.',
    });
    expect(canaryAlarms(verdict)).toBe(true);
    expect(describeCanary(trail, verdict, window)).toContain('sandbox');
  });

  it('a clock behind SES (indexed before sent) counts as no latency, not a negative one', () => {
    const trail = { ...sent, indexedAt: '2026-12-06T11:59:58.000Z' };
    expect(judgeCanary(trail, window, at('2026-12-06T18:00:00Z'))).toEqual({
      outcome: 'on-time',
      latencySeconds: 0,
    });
  });

  it('a time that is not ISO 8601 is refused, naming the field', () => {
    expect(() => judgeCanary({ ...sent, storedAt: 'yesterday' }, window, new Date())).toThrow(
      /storedAt is not a time: yesterday/,
    );
  });
});
