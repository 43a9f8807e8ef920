// `mail-archiver redrive`: parked forwards, failures and abandoned claims sent again (shared/forwarding/redrive.ts
// says which); on AWS through the forward queue, locally right here.
import { join } from 'node:path';
import type { Command } from 'commander';
import type { ArchiverConfig } from '../../shared/config';
import type { ForwardEntry, ForwardRequest } from '../../shared/forwarding/ledger';
import { ledgerRedrives, uniqueRequests } from '../../shared/forwarding/redrive';
import type { CliContext } from '../context';
import { ParkedForwards } from '../local/forwarding';
import { archiverHome } from '../local/running-stack';
import { out } from '../program';
import type { Archive } from '../target/archive';
import { forwardDeadLetterCount, redriveOnAws } from '../target/aws';
import { localIngestDeadLetters, redriveIngestLocally, redriveIngestOnAws } from '../target/ingest-redrive';

export function registerRedrive(program: Command, ctx: CliContext): void {
  program
    .command('redrive')
    .description(
      'index again the stored messages that failed ingest (the ingest dead letters), and send failed and parked forwards again (including those of a worker that died mid-send)',
    )
    .option('--dry-run', 'list what would be sent again; send nothing')
    .action(async (options: { dryRun?: boolean }) => {
      const output = out();
      const { target, configuration } = ctx.globals();
      if (options.dryRun) {
        const plan = await ctx.withArchive(async (archive) => {
          const parked =
            target === 'aws'
              ? await forwardDeadLetterCount(configuration)
              : new ParkedForwards(join(archiverHome(), 'forward-dead-letters')).list().map((p) => p.request);
          const ledger = await ledgerRedrives(
            archive.index,
            Object.keys(configuration.mailboxes),
            new Date(),
            [],
          );
          const unreadable =
            target === 'aws'
              ? []
              : [
                  ...localIngestDeadLetters(archiverHome()).unreadable(),
                  ...new ParkedForwards(join(archiverHome(), 'forward-dead-letters')).unreadable(),
                ];
          return { parked, ledger, unreadable };
        });
        output.jsonLine(plan);
        const parkedCount = typeof plan.parked === 'number' ? plan.parked : plan.parked.length;
        output.result(
          `would redrive ${parkedCount + plan.ledger.length}: ${parkedCount} parked${target === 'aws' ? ' in the forward dead-letter queue' : ''}, ${plan.ledger.length} failed or abandoned in the ledger (dry run: nothing sent)`,
        );
        if (typeof plan.parked !== 'number')
          for (const p of plan.parked) output.result(`  parked: ${p.mailbox} ${p.messageKey}`);
        for (const u of plan.unreadable) output.result(`  unreadable, left as it is: ${u.file}: ${u.reason}`);
        for (const r of plan.ledger) output.result(`  ledger: ${r.mailbox} ${r.messageKey}`);
        return;
      }
      if (target === 'aws') {
        const ingest = await redriveIngestOnAws(configuration);
        output.result(`ingest dead letters: ${ingest.moving} moving back to the ingest queue`);
      }
      const report =
        target === 'aws'
          ? await redriveOnAws(configuration)
          : await ctx.withArchive(
              async (archive) => {
                // First the messages stored but never indexed: their forwards are queued as they are archived.
                const ingest = await redriveIngestLocally(archive, archiverHome());
                output.result(
                  `ingest dead letters: ${ingest.redriven} archived, ${ingest.failed.length} still failing`,
                );
                for (const f of ingest.failed) output.result(`  failing: ${f.id}: ${f.reason}`);
                if (ingest.failed.length > 0) process.exitCode = 1;
                return redriveLocally(archive, configuration);
              },
              { forwarding: true },
            );
      output.jsonLine(report);
      output.result(`redriven ${report.requests}: ${report.sent} sent, ${report.failed} still failing`);
      for (const failure of report.failures) output.result(`  failing: ${failure}`);
      if (report.failed > 0) process.exitCode = 1;
    });
}

async function redriveLocally(archive: Archive, config: ArchiverConfig) {
  const forwarding = archive.forwarding;
  if (!forwarding) throw new Error('forwarding is not set up for this archive');
  const parking = new ParkedForwards(join(archiverHome(), 'forward-dead-letters'));
  const folder = parking.read();
  const parked = folder.parked;
  // Not a parked forward: left where it is, and said.
  const unreadable = folder.unreadable.map((u) => `${u.file}: ${u.reason}`);
  const fromParking = parked.map((p) => p.request);
  const requests = uniqueRequests([
    ...fromParking,
    ...(await ledgerRedrives(archive.index, Object.keys(config.mailboxes), new Date(), fromParking)),
  ]);
  for (const p of parked) parking.remove(p.file);
  let sent = 0;
  const failures: string[] = [...unreadable];
  const entriesOf = async (request: ForwardRequest) => {
    const entries: ForwardEntry[] = [];
    for await (const entry of archive.index.listForwards(request.mailbox)) {
      if (entry.messageKey === request.messageKey) entries.push(entry);
    }
    return entries;
  };
  for (const request of requests) {
    // Only the copies this run sent count as sent: a message's other targets may have been sent long ago.
    const sentBefore = new Set(
      (await entriesOf(request)).filter((e) => e.state === 'sent').map((e) => e.target),
    );
    // Handled like a queue delivery, with the redrive flag; what fails again is parked again.
    await forwarding.queue.process({ ...request, redrive: true });
    for (const entry of await entriesOf(request)) {
      if (entry.state === 'sent' && !sentBefore.has(entry.target)) sent += 1;
      else if (entry.state === 'failed') failures.push(`${entry.target} ${entry.messageKey}: ${entry.error}`);
    }
  }
  return { requests: requests.length, sent, failed: failures.length, failures };
}
