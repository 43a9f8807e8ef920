// `mail-archiver ingest`: history import of .eml files, maildirs and mbox files through the SES path.
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { checkImportOptions, DEFAULT_IMPORT_CONCURRENCY, type ImportReport, importMessages } from '../import';
import { totalBytes } from '../message-sources';
import { parsePositive } from '../options';

interface IngestOptions {
  to?: string[];
  mailbox?: string;
  concurrency?: number;
}

export function registerIngest(program: Command, ctx: CliContext): void {
  program
    .command('ingest')
    .description(
      'archive .eml files, directories of them, maildirs and mbox files through the same path as SES mail',
    )
    .argument('<path...>', 'files or directories')
    .option(
      '--to <address...>',
      'envelope recipients, checked as SMTP checks them (default: the configured mailboxes the message is addressed to)',
    )
    .option(
      '--mailbox <address>',
      'the archive mailbox these files belong to (a Takeout): its sent mail goes to its Sent folder',
    )
    .option(
      '--concurrency <n>',
      `messages imported at once (default ${DEFAULT_IMPORT_CONCURRENCY})`,
      parsePositive,
    )
    .action(async (paths: string[], options: IngestOptions) => {
      const report = await ctx.withArchive(async (archive, config) => {
        checkImportOptions(config, options);
        const total = await totalBytes(paths);
        const bar = await importProgressBar(total);
        const stop = new AbortController();
        const onSigint = () => {
          process.stderr.write(
            '\ninterrupted: finishing the messages in flight; run the same command again to resume\n',
          );
          stop.abort();
        };
        process.once('SIGINT', onSigint);
        let done = 0;
        let messages = 0;
        const started = Date.now();
        try {
          return await importMessages(config, archive, paths, {
            ...(options.to ? { to: options.to } : {}),
            ...(options.mailbox ? { mailbox: options.mailbox } : {}),
            ...(options.concurrency ? { concurrency: options.concurrency } : {}),
            signal: stop.signal,
            onProgress: (bytes, r) => {
              done += bytes;
              messages = r.archived + r.duplicates + r.failed.length;
              const seconds = Math.max((Date.now() - started) / 1000, 0.001);
              bar?.update(done, {
                rate: (messages / seconds).toFixed(0),
                counts: `${r.archived} new, ${r.duplicates} present, ${r.failed.length} failed, ${r.skipped.length} skipped`,
              });
            },
          });
        } finally {
          process.removeListener('SIGINT', onSigint);
          bar?.stop();
          if (stop.signal.aborted) process.exitCode = 130;
        }
      });
      printReport(report);
      if (report.failed.length > 0) process.exitCode = process.exitCode || 1;
    });
}

/** Progress of an import by input bytes, with messages per second and the time left. */
async function importProgressBar(total: number) {
  if (!process.stderr.isTTY || process.env.CI) return undefined;
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: 'importing [{bar}] {percentage}% | {rate} msg/s | ETA {eta_formatted} | {counts}',
      hideCursor: true,
      etaBuffer: 200,
    },
    Presets.shades_classic,
  );
  bar.start(Math.max(total, 1), 0, { rate: '0', counts: '' });
  return bar;
}

function printReport(report: ImportReport) {
  const mailboxes = Object.entries(report.mailboxes).sort(([a], [b]) => (a < b ? -1 : 1));
  console.log(
    `archived ${report.archived}, already present ${report.duplicates}, failed ${report.failed.length}, skipped ${report.skipped.length} (not mail)`,
  );
  if (mailboxes.length > 1)
    for (const [mailbox, c] of mailboxes)
      console.log(
        `  ${mailbox}: archived ${c.archived}, already present ${c.duplicates}, failed ${c.failed}`,
      );
  const sources = Object.entries(report.receivedTimeSources).map(([source, n]) => `${source} ${n}`);
  if (sources.length) console.log(`  received time from: ${sources.join(', ')}`);
  for (const failure of report.failed) console.log(`  failed: ${failure.origin}: ${failure.reason}`);
  for (const skip of report.skipped) console.log(`  skipped: ${skip.origin}: ${skip.reason}`);
}
