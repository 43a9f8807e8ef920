// `mail-archiver reconcile`: the raw store, the index and the forwarding ledger compared.
import type { Command } from 'commander';
import { reconcile } from '../../shared/reconcile';
import type { CliContext } from '../context';

export function registerReconcile(program: Command, ctx: CliContext): void {
  program
    .command('reconcile')
    .description(
      'compare the raw store, the index and the forwarding ledger; report anything missing from one',
    )
    .option('--json', 'the report as JSON')
    .action(async (options: { json?: boolean }) => {
      const report = await ctx.withArchive((archive, config) =>
        reconcile({ config, store: archive.store, index: archive.index, bucket: archive.bucket }),
      );
      if (options.json) {
        process.stdout.write(`${JSON.stringify(report)}\n`);
      } else {
        console.log(
          `raw messages ${report.rawMessages}, index rows ${report.indexRows}, ledger entries ${report.ledgerEntries}: ${report.ok ? 'consistent' : 'NOT consistent'}`,
        );
        for (const key of report.notIndexed)
          console.log(`  not indexed: ${key} (run: mail-archiver reindex)`);
        for (const r of report.rawMissing)
          console.log(`  raw message missing: ${r.key} (${r.mailbox} ${r.messageKey})`);
        for (const f of report.notForwarded)
          console.log(`  never forwarded: ${f.mailbox} ${f.messageKey} -> ${f.target}`);
        for (const f of report.forwardsUnsettled) {
          console.log(
            `  forward ${f.state}: ${f.mailbox} ${f.messageKey} -> ${f.target} (run: mail-archiver redrive)`,
          );
        }
      }
      if (!report.ok) process.exitCode = 1;
    });
}
