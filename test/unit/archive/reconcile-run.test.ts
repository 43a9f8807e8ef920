// The one record of a reconcile run: built from a report, kept clean-since across a run that found differences,
// read back validated (a damaged record names its field), and the later of the scheduled and the CLI's record.
import { describe, expect, it } from 'vitest';
import { latestReconcileRun, parseReconcileRun, reconcileRunOf } from '../../../shared/archive/reconcile-run';
import type { ReindexReport } from '../../../shared/archive/reindex';
import { JsonShapeError } from '../../../shared/json';
import { reconcileReport } from '../../support/reconcile';

describe('reconcile run record', () => {
  it('keeps when the archive was last clean across a run that was not', () => {
    const clean = reconcileRunOf(reconcileReport(true), new Date('2026-01-01T00:00:00Z'), undefined);
    const dirty = reconcileRunOf(reconcileReport(false, 3), new Date('2026-01-02T00:00:00Z'), clean);
    expect(dirty).toMatchObject({
      at: '2026-01-02T00:00:00.000Z',
      ok: false,
      lastCleanAt: '2026-01-01T00:00:00.000Z',
      notIndexed: 3,
    });
    expect(reconcileRunOf(reconcileReport(false), new Date(), undefined)).not.toHaveProperty('lastCleanAt');
    expect(parseReconcileRun(JSON.stringify(dirty), 'record')).toEqual(dirty);
  });

  it('counts what a clean reindex repaired as resolved, and keeps the scheduled run start and steps', () => {
    const reindexed = (failed: number): ReindexReport => ({
      examined: 3,
      restored: 3,
      withoutEnvelope: 0,
      recorded: 0,
      contentMarked: 0,
      unrouted: [],
      repairedEnvelopes: [],
      logged: 0,
      failed: Array.from({ length: failed }, (_, i) => ({ key: `incoming/m${i}`, reason: 'unreadable' })),
    });
    const at = new Date('2026-01-02T00:00:00Z');
    const continued = { startedAt: '2026-01-01T23:00:00.000Z', steps: 4 };
    const repaired = reconcileRunOf(
      reconcileReport(false, 3),
      at,
      undefined,
      reindexed(0),
      undefined,
      continued,
    );
    expect(repaired).toMatchObject({
      ok: true,
      lastCleanAt: at.toISOString(),
      notIndexed: 0,
      reindexed: 3,
      ...continued,
    });
    const failed = reconcileRunOf(reconcileReport(false, 3), at, undefined, reindexed(1));
    expect(failed).toMatchObject({ ok: false, notIndexed: 3, reindexFailed: 1 });
    expect(failed).not.toHaveProperty('steps');
    const missing = {
      ...reconcileReport(false),
      rawMissing: [{ mailbox: 'a@example.com', messageKey: 'k', key: 'incoming/gone' }],
    };
    expect(reconcileRunOf(missing, at, undefined, reindexed(0))).toMatchObject({ ok: false, rawMissing: 1 });
  });

  it('reads a damaged record as an error naming the field', () => {
    const good = reconcileRunOf(reconcileReport(true), new Date('2026-01-01T00:00:00Z'), undefined);
    expect(() => parseReconcileRun('{"at":', 'r.json')).toThrow(/r\.json is not JSON/);
    expect(() => parseReconcileRun(JSON.stringify({ ...good, ok: 'yes' }), 'r.json')).toThrow(JsonShapeError);
    expect(() => parseReconcileRun(JSON.stringify({ ...good, notIndexed: -1 }), 'r.json')).toThrow(
      /notIndexed/,
    );
    expect(() => parseReconcileRun(JSON.stringify({ ...good, at: 'yesterday' }), 'r.json')).toThrow(/at:/);
  });

  it('picks the later of two records', () => {
    const a = reconcileRunOf(reconcileReport(true), new Date('2026-01-01T00:00:00Z'), undefined);
    const b = reconcileRunOf(reconcileReport(false), new Date('2026-01-03T00:00:00Z'), undefined);
    expect(latestReconcileRun(a, b)).toBe(b);
    expect(latestReconcileRun(b, a)).toBe(b);
    expect(latestReconcileRun(undefined, a)).toBe(a);
    expect(latestReconcileRun(undefined, undefined)).toBeUndefined();
  });
});
