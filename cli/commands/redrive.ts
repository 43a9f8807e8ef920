// `mail-archiver redrive`: parked forwards, failures and abandoned claims sent again (shared/forwarding/redrive.ts
// says which); on AWS through the forward queue, locally right here.
import { join } from 'node:path';
import type { Command } from 'commander';
import type { ArchiverConfig } from '../../shared/config';
import { ledgerRedrives, uniqueRequests } from '../../shared/forwarding/redrive';
import { redriveOnAws } from '../aws-target';
import type { CliContext } from '../context';
import { ParkedForwards } from '../local-forwarding';
import { archiverHome, type LocalArchive } from '../local-stack';

export function registerRedrive(program: Command, ctx: CliContext): void {
  program
    .command('redrive')
    .description('send failed and parked forwards again (including those of a worker that died mid-send)')
    .action(async () => {
      const { target, configuration } = ctx.globals();
      const report =
        target === 'aws'
          ? await redriveOnAws(configuration)
          : await ctx.withArchive(async (archive) => redriveLocally(archive, configuration), {
              forwarding: true,
            });
      console.log(`redriven ${report.requests}: ${report.sent} sent, ${report.failed} still failing`);
      for (const failure of report.failures) console.log(`  failing: ${failure}`);
      if (report.failed > 0) process.exitCode = 1;
    });
}

async function redriveLocally(archive: LocalArchive, config: ArchiverConfig) {
  const forwarding = archive.forwarding;
  if (!forwarding) throw new Error('forwarding is not set up for this archive');
  const parking = new ParkedForwards(join(archiverHome(), 'forward-dead-letters'));
  const parked = parking.list();
  const fromParking = parked.map((p) => p.request);
  const requests = uniqueRequests([
    ...fromParking,
    ...(await ledgerRedrives(archive.index, Object.keys(config.mailboxes), new Date(), fromParking)),
  ]);
  for (const p of parked) parking.remove(p.file);
  let sent = 0;
  const failures: string[] = [];
  for (const request of requests) {
    // Handled like a queue delivery, with the redrive flag; what fails again is parked again.
    await forwarding.queue.process({ ...request, redrive: true });
    for await (const entry of archive.index.listForwards(request.mailbox)) {
      if (entry.messageKey !== request.messageKey) continue;
      if (entry.state === 'sent') sent += 1;
      else if (entry.state === 'failed') failures.push(`${entry.target} ${entry.messageKey}: ${entry.error}`);
    }
  }
  return { requests: requests.length, sent, failed: failures.length, failures };
}
