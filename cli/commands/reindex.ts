// `mail-archiver reindex`: missing index rows rebuilt from the raw store alone.
import type { Command } from 'commander';
import { reindex } from '../../shared/archive/reconcile';
import { rawMessageRecipients } from '../../shared/receiving/header-recipients';
import type { CliContext } from '../context';
import { out } from '../program';

export function registerReindex(program: Command, ctx: CliContext): void {
  program
    .command('reindex')
    .description(
      'rebuild missing index rows from the raw store alone (UIDs restored from the envelope sidecars and the delivery log)',
    )
    .action(async () => {
      const report = await ctx.withArchive(
        (archive, config) =>
          reindex(
            {
              config,
              store: archive.store,
              index: archive.index,
              bucket: archive.bucket,
              deliveryLog: archive.deliveryLog,
              // Messages whose ingest never finished were never forwarded: reindex queues them.
              ...(archive.forwarding ? { forwards: archive.forwarding.queue } : {}),
            },
            (raw) => rawMessageRecipients(config, raw),
          ),
        { forwarding: true },
      );
      out().jsonLine(report);
      out().result(
        `examined ${report.examined} raw messages: restored ${report.restored} (${report.withoutEnvelope} with no envelope, neither a sidecar nor a delivery-log record: given new UIDs), ${report.recorded} rows recorded in their sidecars, ${report.contentMarked} given content markers, ${report.logged} rows written to the delivery log again, failed ${report.failed.length}`,
      );
      for (const r of report.repairedEnvelopes)
        out().result(`  damaged envelope sidecar ${r.envelope} rebuilt (its bytes kept as ${r.keptAs})`);
      for (const key of report.unrouted)
        out().result(
          `  filed under unrouted (no envelope sidecar, no mailbox in its headers): ${key} (mail-archiver list unrouted)`,
        );
      for (const f of report.failed) out().result(`  failed: ${f.key}: ${f.reason}`);
      if (report.failed.length > 0) process.exitCode = 1;
    });
}
