// `mail-archiver reconcile`: the raw store, the index and the forwarding ledger compared. After an index loss
// the ledger is gone too: it says what that state means and offers the command that accepts it.
import type { Command } from 'commander';
import { acceptUnforwarded, reconcile } from '../../shared/archive/reconcile';
import { CONTROL_CHARACTER } from '../../shared/mail/display-text';
import { sweepUnlocked } from '../../shared/retention/sweep';
import type { CliContext } from '../context';
import { archiverHome } from '../local/running-stack';
import { out } from '../program';
import { recordReconcileRun } from '../target/reconcile-record';

export function registerReconcile(program: Command, ctx: CliContext): void {
  program
    .command('reconcile')
    .description(
      'compare the raw store, the index and the forwarding ledger; report anything missing from one',
    )
    .option(
      '--accept-unforwarded',
      'record every message reported "never forwarded" as accepted (after an index loss took the ledger with it)',
    )
    .action(async (options: { acceptUnforwarded?: boolean }) => {
      const output = out();
      const { report, accepted, sweep } = await ctx.withArchive(async (archive, config) => {
        const deps = {
          config,
          store: archive.store,
          index: archive.index,
          bucket: archive.bucket,
          deliveryLog: archive.deliveryLog,
        };
        // Versions a failed lock step left unlocked are locked first (shared/retention/sweep.ts).
        const sweep = archive.locker
          ? await sweepUnlocked({ locker: archive.locker, bucket: archive.bucket })
          : undefined;
        const first = await reconcile(deps);
        if (!options.acceptUnforwarded || first.notForwarded.length === 0)
          return { report: first, accepted: 0, sweep };
        const accepted = await acceptUnforwarded(deps, first.notForwarded);
        return { report: await reconcile(deps), accepted, sweep };
      });
      output.jsonLine({ ...report, accepted, ...(sweep ? { lockSweep: sweep } : {}) });
      if (sweep) {
        output.result(
          `object lock: ${sweep.examined} versions examined, ${sweep.locked} locked by this sweep, ${sweep.canaries} canaries left unlocked to expire, ${sweep.unlockedMessages} messages left with an unlocked version`,
        );
        for (const u of sweep.unlocked.slice(0, 20))
          output.result(`  not locked: ${u.key} ${u.versionId}: ${u.reason}`);
      }
      if (accepted > 0)
        output.result(`accepted ${accepted} forwards as they are (recorded as skipped in the ledger)`);
      output.result(
        `raw messages ${report.rawMessages}, index rows ${report.indexRows}, ledger entries ${report.ledgerEntries}: ${report.ok ? (report.badLogLines > 0 ? 'consistent, but see the delivery log below' : 'consistent') : 'NOT consistent'}`,
      );
      for (const key of report.notIndexed)
        output.result(`  not indexed: ${key} (run: mail-archiver reindex)`);
      for (const r of report.unreadableEnvelopes)
        output.result(
          `  envelope sidecar unreadable: ${r.reason.startsWith(r.envelope) ? r.reason : `${r.envelope}: ${r.reason}`} (run: mail-archiver reindex, which keeps it aside and rebuilds it)`,
        );
      for (const r of report.unrecorded)
        output.result(
          `  row neither its sidecar nor the delivery log records: ${r.mailbox} ${r.messageKey} (run: mail-archiver reindex)`,
        );
      for (const r of report.rawMissing)
        output.result(`  raw message missing: ${r.key} (${r.mailbox} ${r.messageKey})`);
      for (const f of report.notForwarded)
        output.result(`  never forwarded: ${f.mailbox} ${f.messageKey} -> ${f.target}`);
      for (const r of report.notLogged)
        output.result(
          `  not in the delivery log: ${r.mailbox} ${r.folder} UID ${r.uid} (${r.messageKey}) (run: mail-archiver reindex)`,
        );
      if (report.badLogLines > 0) {
        output.result(
          `  ${report.badLogLines} ${report.badLogLines === 1 ? 'line' : 'lines'} of the delivery log ${report.badLogLines === 1 ? 'is not a record' : 'are not records'} this version reads: written by a newer mail-archiver (upgrade), or damaged. Reindex logs again every row still in the index; a line that was the only record of a delivery whose row is gone too cannot be rebuilt: read that line in its object (docs/delivery-log.md)`,
        );
        const named = report.badLogLinesAt ?? [];
        if (named.length < report.badLogLines)
          output.result(`    the first ${named.length} of ${report.badLogLines}:`);
        for (const bad of named)
          output.result(
            `    ${bad.key} line ${bad.line}: ${bad.reason.replace(CONTROL_CHARACTER, '\uFFFD')}`,
          );
      }
      for (const f of report.forwardsUnsettled) {
        output.result(
          `  forward ${f.state}: ${f.mailbox} ${f.messageKey} -> ${f.target} (run: mail-archiver redrive)`,
        );
      }
      if (report.notForwarded.length > 0) {
        const lost = report.ledgerEntries === 0;
        output.result(
          [
            '',
            `${report.notForwarded.length} forwards have no entry in the forwarding ledger.`,
            lost
              ? 'The ledger is empty: if the index was lost (and rebuilt with reindex), the ledger went with it, and'
              : 'Either forwarding never ran for them, or their entries were lost (an index restored or rebuilt), and',
            'nothing in the archive can tell whether those copies reached their targets. Most probably did.',
            'A target added to the config after these messages arrived has no entry for them either: forwarding',
            'sends only what arrives after a target is added, so those never went there (docs/forwarding.md).',
            'To accept that state (recorded as skipped; nothing is sent, and reconcile is consistent again):',
            '  mail-archiver reconcile --accept-unforwarded',
          ].join('\n'),
        );
      }
      recordReconcileRun(archiverHome(), ctx.globals().target, report, new Date(), sweep);
      if (!report.ok || (sweep?.unlockedMessages ?? 0) > 0) process.exitCode = 1;
    });
}
