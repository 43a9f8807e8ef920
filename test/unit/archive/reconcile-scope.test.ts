// What a scheduled reconcile run compares: the changes since the last run that ended clean having found nothing,
// or the whole archive (no record, an older layout, findings left or repaired, a full walk due); and the record
// names which it was and keeps when the last full walk started.
import { describe, expect, it } from 'vitest';
import {
  describeRunKind,
  parseReconcileRun,
  type ReconcileRun,
  reconcileRunOf,
} from '../../../shared/archive/reconcile-run';
import { CUT_OFF_MARGIN_MS, reconcileScope } from '../../../shared/archive/reconcile-scope';
import { changedSince, comparisonConfigPrint } from '../../../shared/archive/reconcile-walk';
import { exampleConfig } from '../../support/config';
import { reconcileReport } from '../../support/reconcile';

const DAY = 86_400_000;
const start = '2026-03-10T00:00:00.000Z';
const continued = { startedAt: start, steps: 1 };
const print = comparisonConfigPrint(exampleConfig());
/** A clean full walk that started at `start` and ended ten minutes later. */
const cleanFull = reconcileRunOf(
  { ...reconcileReport(true), configPrint: print },
  new Date('2026-03-10T00:10:00Z'),
  undefined,
  undefined,
  undefined,
  continued,
);
const sixHoursOn = new Date(Date.parse(start) + 6 * 3600_000);

describe('reconcile scope', () => {
  it('compares what changed since the last clean run started, less the margin', () => {
    expect(cleanFull).toMatchObject({ layout: 2, lastFullAt: start });
    expect(reconcileScope(cleanFull, sixHoursOn, print)).toEqual({
      since: new Date(Date.parse(start) - CUT_OFF_MARGIN_MS).toISOString(),
      reason: `changes since the run of ${start}`,
    });
    expect(CUT_OFF_MARGIN_MS).toBe(DAY);
  });

  it('walks the whole archive without a record, after findings left or repaired, on an older record, weekly', () => {
    expect(reconcileScope(undefined, sixHoursOn, print).since).toBeUndefined();
    const findings = reconcileRunOf(
      reconcileReport(false, 2),
      sixHoursOn,
      cleanFull,
      undefined,
      undefined,
      continued,
    );
    expect(reconcileScope(findings, sixHoursOn, print)).toEqual({ reason: 'the last run left findings' });
    const repaired = reconcileRunOf(
      reconcileReport(false, 1),
      sixHoursOn,
      cleanFull,
      {
        examined: 1,
        restored: 1,
        withoutEnvelope: 0,
        recorded: 0,
        contentMarked: 0,
        unrouted: [],
        repairedEnvelopes: [],
        logged: 0,
        failed: [],
      },
      undefined,
      continued,
    );
    expect(repaired.ok).toBe(true);
    expect(reconcileScope(repaired, sixHoursOn, print)).toEqual({ reason: 'the last run repaired findings' });
    // A record written before runs since a cut-off existed still reads, and makes the next run a full one.
    const { layout: _l, lastFullAt: _f, ...older } = cleanFull;
    const read: ReconcileRun = parseReconcileRun(JSON.stringify(older), 'reports/reconcile.json');
    expect(reconcileScope(read, sixHoursOn, print)).toEqual({
      reason: 'the last record is from an older layout',
    });
    // A record of this layout written before runs kept their config print.
    const { configPrint: _p, ...unprinted } = cleanFull;
    expect(reconcileScope(unprinted, sixHoursOn, print)).toEqual({
      reason: 'the last record does not say what config it compared with',
    });
    expect(reconcileScope(cleanFull, new Date(Date.parse(start) + 7 * DAY), print)).toEqual({
      reason: 'a full walk is due',
    });
    expect(
      reconcileScope(cleanFull, new Date(Date.parse(start) + 2 * DAY), print, 2 * DAY).since,
    ).toBeUndefined();
    expect(
      reconcileScope(cleanFull, new Date(Date.parse(start) + 2 * DAY), print, 3 * DAY).since,
    ).toBeDefined();
  });

  it('walks the whole archive when what the comparison reads of the config changed', () => {
    const forwarding = exampleConfig({
      mailboxes: {
        'alice@example.com': { forwardTo: ['alice.example@gmail.com'] },
        'bob@example.com': { forwardTo: ['bob@elsewhere.example'] },
      },
    });
    expect(reconcileScope(cleanFull, sixHoursOn, comparisonConfigPrint(forwarding))).toEqual({
      reason: 'the config changed',
    });
    expect(parseReconcileRun(JSON.stringify(cleanFull), 'record').configPrint).toBe(print);
  });

  it('prints the mailboxes, their targets and the canary, in any order, and nothing else of the config', () => {
    const base = {
      mailboxes: {
        'alice@example.com': { forwardTo: ['a1@elsewhere.example', 'a2@elsewhere.example'] },
        'bob@example.com': { forwardTo: [] },
      },
    };
    const printOf = (overrides: Record<string, unknown>) =>
      comparisonConfigPrint(exampleConfig({ ...base, ...overrides }));
    const same = printOf({});
    expect(same).toMatch(/^[0-9a-f]{16}$/);
    // What the comparison reads: each changes the print.
    const changes = [
      { mailboxes: { ...base.mailboxes, 'carol@example.com': { forwardTo: [] } } },
      { mailboxes: { ...base.mailboxes, 'bob@example.com': { forwardTo: ['b@elsewhere.example'] } } },
      { mailboxes: { ...base.mailboxes, 'alice@example.com': { forwardTo: ['a1@elsewhere.example'] } } },
      { health: { canary: { address: 'probe@example.com' } } },
      { health: { canary: { keepDays: 3 } } },
    ];
    const prints = changes.map(printOf);
    expect(new Set([same, ...prints]).size).toBe(changes.length + 1);
    // What it does not read: the same print.
    expect(
      printOf({
        mailboxes: {
          'bob@example.com': { forwardTo: [] },
          'alice@example.com': { forwardTo: ['a2@elsewhere.example', 'a1@elsewhere.example'] },
        },
      }),
    ).toBe(same);
    expect(printOf({ journalAddress: 'journal@journal.example.com' })).toBe(same);
    expect(printOf({ forwarding: { forwardSpam: true } })).toBe(same);
    expect(printOf({ plusAddressing: false })).toBe(same);
    expect(printOf({ unknownRecipients: { action: 'catchAll', mailbox: 'bob@example.com' } })).toBe(same);
  });

  it('carries the last full walk across runs since a cut-off, and names the kind of run', () => {
    const since = reconcileScope(cleanFull, sixHoursOn, print).since as string;
    const report = { ...reconcileReport(true), since, examined: { objects: 3, logObjects: 2, rows: 4 } };
    const next = reconcileRunOf(report, sixHoursOn, cleanFull, undefined, undefined, {
      startedAt: sixHoursOn.toISOString(),
      steps: 1,
    });
    expect(next).toMatchObject({
      since,
      lastFullAt: start,
      examined: { objects: 3, logObjects: 2, rows: 4 },
    });
    expect(describeRunKind(next)).toBe(`changes since ${since}, 3 objects, 2 log objects, 4 rows examined`);
    expect(describeRunKind(cleanFull)).toBe('full walk');
    expect(describeRunKind({})).toBe('full walk');
    expect(parseReconcileRun(JSON.stringify(next), 'record')).toEqual(next);
  });

  it('counts what was written at or after the cut-off as changed, and what the store gives no time for', () => {
    expect(changedSince('2026-03-09T00:00:00.000Z', '2026-03-09T00:00:00.000Z')).toBe(true);
    // A listing's time is cut to the second: within the second before the cut-off it may be after it.
    expect(changedSince('2026-03-08T23:59:59.000Z', '2026-03-08T23:59:59.500Z')).toBe(true);
    expect(changedSince('2026-03-08T23:59:58.999Z', '2026-03-09T00:00:00.000Z')).toBe(false);
    expect(changedSince('2026-03-08T23:59:59.000Z', '2026-03-09T00:00:00.000Z')).toBe(false);
    expect(changedSince(undefined, '2026-03-09T00:00:00.000Z')).toBe(true);
  });
});
