// The reconcile section of `npm run bench`: peak RSS of one reconcile over a simulated archive
// (scripts/bench/synthetic-archive.ts) of 5,000, 50,000 and 200,000 messages, each in a fresh process, beside the
// reconcile before issue 30 (scripts/bench/reconcile-before.ts) over the same archive.
// BENCH_RECONCILE_SIZES (default 5000,50000,200000) sets the sizes.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { BenchRow } from './bench/row';

interface Measured {
  peakMb: number;
  seconds: number;
  ok: boolean;
}

const ROOT = resolve(import.meta.dirname, '..');
const child = (which: 'after' | 'before', count: number): Measured =>
  JSON.parse(
    execFileSync(
      process.execPath,
      ['--import', 'tsx', '--expose-gc', 'scripts/bench/reconcile-child.ts', which, String(count)],
      {
        cwd: ROOT,
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      },
    ),
  ) as Measured;

export async function reconcileBench(): Promise<{
  rows: BenchRow[];
  notes: string[];
}> {
  const sizes = (process.env.BENCH_RECONCILE_SIZES ?? '5000,50000,200000').split(',').map(Number);
  const rows = [];
  const peaks = new Map<number, Measured>();
  for (const n of sizes) {
    const after = child('after', n);
    const before = child('before', n);
    peaks.set(n, after);
    if (!after.ok || !before.ok) throw new Error(`the simulated archive of ${n} did not reconcile clean`);
    rows.push({
      metric: `reconcile peak RSS, ${n.toLocaleString('en')} simulated messages`,
      value: after.peakMb,
      unit: 'MB',
      baseline: { name: 'reconcile before issue 30', value: before.peakMb },
      ...(n >= 200_000 ? { target: 'inside 1,024 MB', met: after.peakMb < 1024 } : {}),
    });
    rows.push({
      metric: `reconcile time, ${n.toLocaleString('en')} simulated messages`,
      value: after.seconds,
      unit: 's',
      baseline: { name: 'reconcile before issue 30', value: before.seconds },
    });
  }
  const small = peaks.get(5000);
  const large = peaks.get(50_000);
  if (small && large) {
    rows.push({
      metric: 'reconcile peak RSS at 50,000 over 5,000 messages',
      value: large.peakMb / small.peakMb,
      unit: 'x',
      target: 'within 1.5x',
      met: large.peakMb / small.peakMb <= 1.5,
    });
  }
  return {
    rows,
    notes: [
      'Reconcile memory: simulated archives (every object, sidecar, row, ledger entry and log record computed from the message number when read, never held), so the peak is what reconcile keeps; a third of the messages in two mailboxes, the first mailbox forwarding with a ledger entry per message, the log 1,000 records an object. The requests are in-process, so the times measure CPU, not S3 or DynamoDB.',
    ],
  };
}
