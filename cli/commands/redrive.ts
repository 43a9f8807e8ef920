// `mail-archiver redrive`: parked forwards, failures and abandoned claims sent again (shared/forwarding/redrive.ts
// says which); on AWS through the queues, locally right here (cli/target/operations.ts).
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { out } from '../program';

export function registerRedrive(program: Command, ctx: CliContext): void {
  program
    .command('redrive')
    .description(
      'index again the stored messages that failed ingest (the ingest dead letters), and send failed and parked forwards again (including those of a worker that died mid-send)',
    )
    .option('--dry-run', 'list what would be sent again; send nothing')
    .action(async (options: { dryRun?: boolean }) => {
      const output = out();
      const operations = await ctx.operations();
      if (options.dryRun) {
        const plan = await operations.redrivePlan();
        output.jsonLine(plan);
        const parkedCount = typeof plan.parked === 'number' ? plan.parked : plan.parked.length;
        output.result(
          `would redrive ${parkedCount + plan.ledger.length}: ${parkedCount} parked${typeof plan.parked === 'number' ? ' in the forward dead-letter queue' : ''}, ${plan.ledger.length} failed or abandoned in the ledger (dry run: nothing sent)`,
        );
        if (typeof plan.parked !== 'number')
          for (const p of plan.parked) output.result(`  parked: ${p.mailbox} ${p.messageKey}`);
        for (const u of plan.unreadable) output.result(`  unreadable, left as it is: ${u.file}: ${u.reason}`);
        for (const r of plan.ledger) output.result(`  ledger: ${r.mailbox} ${r.messageKey}`);
        return;
      }
      const { ingest, ingestFailures, forwards } = await operations.redrive();
      output.result(`ingest dead letters: ${ingest}`);
      for (const failure of ingestFailures) output.result(`  failing: ${failure}`);
      output.jsonLine(forwards);
      output.result(`redriven ${forwards.requests}: ${forwards.sent} sent, ${forwards.failed} still failing`);
      for (const failure of forwards.failures) output.result(`  failing: ${failure}`);
      if (ingestFailures.length > 0 || forwards.failed > 0) process.exitCode = 1;
    });
}
