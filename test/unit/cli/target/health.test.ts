// `status` and `doctor` locally: dead letters, parked forwards, unindexed objects and the last clean reconcile,
// read from the data directory as the stack and the commands leave them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runLocalChecks } from '../../../../cli/doctor/local-checks';
import { localIngestDeadLetters } from '../../../../cli/local/dead-letters';
import { ParkedForwards } from '../../../../cli/local/forwarding';
import { healthLines, localHealth } from '../../../../cli/target/health';
import { recordReconcileRun } from '../../../../cli/target/reconcile-record';
import { buildReceivedNotification } from '../../../../shared/receiving/ses-notification';
import { exampleConfig } from '../../../support/config';
import { reconcileReport } from '../../../support/reconcile';

describe('local archive health', () => {
  const homes: string[] = [];
  afterEach(() => {
    for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
  });
  const newHome = () => {
    const home = mkdtempSync(join(tmpdir(), 'mail-archiver-health-'));
    homes.push(home);
    return home;
  };

  it('is all zero and "never run" on a new data directory', () => {
    const health = localHealth(newHome());
    expect(health).toEqual({ ingestDeadLetters: 0, parkedForwards: 0 });
    expect(healthLines(health).at(-1)).toMatch(/never run/);
  });

  it('counts what waits for redrive and says when reconcile last ran clean', async () => {
    const home = newHome();
    const notification = buildReceivedNotification({
      messageId: 'abc',
      timestamp: new Date('2026-01-01T00:00:00Z'),
      source: '',
      recipients: ['alice@example.com'],
      bucket: 'b',
      objectKey: 'incoming/abc',
    });
    localIngestDeadLetters(home).park(notification, 'ProvisionedThroughputExceededException: throttled');
    await new ParkedForwards(join(home, 'forward-dead-letters')).park(
      { mailbox: 'alice@example.com', messageKey: 'k' },
      'MessageRejected',
    );
    recordReconcileRun(home, 'local', reconcileReport(true), new Date('2026-01-02T00:00:00Z'));
    recordReconcileRun(home, 'local', reconcileReport(false, 2), new Date('2026-01-03T00:00:00Z'));
    const health = localHealth(home);
    expect(health).toEqual({
      ingestDeadLetters: 1,
      parkedForwards: 1,
      notIndexed: 2,
      lastReconcileAt: '2026-01-03T00:00:00.000Z',
      lastReconcileOk: false,
      lastCleanReconcileAt: '2026-01-02T00:00:00.000Z',
      lastReconcileKind: 'full walk',
    });
    expect(healthLines(health).join('\n')).toMatch(
      /NOT clean at 2026-01-03\S* \(full walk\), last clean 2026-01-02/,
    );
    const checks = await runLocalChecks({
      config: exampleConfig(),
      running: undefined,
      lastReconcile: undefined,
      deadLetters: { ingest: health.ingestDeadLetters, parkedForwards: health.parkedForwards },
    });
    expect(checks.filter((c) => c.status === 'fail').map((c) => c.name)).toEqual([
      'dead letters ingest',
      'parked forwards',
    ]);
  });
});
