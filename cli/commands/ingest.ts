// `mail-archiver ingest`: history import of .eml files, maildirs and mbox files through the SES path.
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { type ImportReport, importMessages } from '../import';
import { totalBytes } from '../message-sources';
import { progressBar } from '../output';

export function registerIngest(program: Command, ctx: CliContext): void {
  program
    .command('ingest')
    .description(
      'archive .eml files, directories of them, maildirs and mbox files through the same path as SES mail',
    )
    .argument('<path...>', 'files or directories')
    .option(
      '--to <address...>',
      'envelope recipients (default: the configured mailboxes the message is addressed to)',
    )
    .action(async (paths: string[], options: { to?: string[] }) => {
      const report = await ctx.withArchive(async (archive, config) => {
        const total = await totalBytes(paths);
        const bar = await progressBar(total, 'importing');
        let done = 0;
        const result = await importMessages(config, archive, paths, {
          to: options.to,
          onProgress: (bytes, r) => {
            done += bytes;
            bar?.update(done, {
              counts: `${r.archived} new, ${r.duplicates} present, ${r.failed.length} failed`,
            });
          },
        });
        bar?.stop();
        return result;
      });
      printReport(report);
      if (report.failed.length > 0) process.exitCode = 1;
    });
}

function printReport(report: ImportReport) {
  console.log(
    `archived ${report.archived}, already present ${report.duplicates}, failed ${report.failed.length}`,
  );
  for (const failure of report.failed) console.log(`  failed: ${failure.origin}: ${failure.reason}`);
}
