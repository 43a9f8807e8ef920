// `mail-archiver import` (alias `ingest`, its first name): history import of .eml files, maildirs and mbox files
// through the SES path. "Ingest" names the SES pipeline (lambdas/ingest); the command that imports history is `import`.
import { accessSync, constants } from 'node:fs';
import type { Command } from 'commander';
import {
  checkImportOptions,
  DEFAULT_IMPORT_CONCURRENCY,
  emptyImportReport,
  ImportRecipientError,
  type ImportReport,
  importMessages,
} from '../../shared/history/import';
import { ImportLog } from '../../shared/history/import-log';
import { planImport } from '../../shared/history/plan';
import { NOT_MAIL } from '../../shared/history/source-items';
import { totalBytes } from '../../shared/history/sources';
import type { SesReceivedNotification } from '../../shared/receiving/ses-notification';
import type { CliContext } from '../context';
import {
  addCleanup,
  handleInterruptionGracefully,
  INTERRUPT_GRACE_MS,
  interruption,
} from '../process/interrupt';
import { collect, parsePositive } from '../process/options';
import { fileProblem, formatTable, UserError } from '../process/output';
import { progressBar } from '../process/progress-bar';
import { out } from '../program';

interface IngestOptions {
  to?: string[];
  mailbox?: string;
  concurrency?: number;
  dryRun?: boolean;
}

export function registerImport(program: Command, ctx: CliContext): void {
  program
    .command('import')
    .alias('ingest')
    .description(
      'archive .eml files, directories of them, maildirs and mbox files through the same path as SES mail',
    )
    .argument('<path...>', 'files or directories')
    .option(
      '--to <address>',
      'an envelope recipient, checked as SMTP checks it; repeat for several (default: the configured mailboxes the message is addressed to)',
      collect,
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
    .option('--dry-run', 'say what would be archived where; archive nothing')
    .action(async (paths: string[], options: IngestOptions) => {
      const output = out();
      checkPaths(paths);
      if (options.dryRun) {
        const { configuration } = ctx.globals();
        checkRecipients(configuration, options);
        const plan = await planImport(configuration, paths, options);
        output.jsonLine(plan);
        output.result(
          `would archive ${plan.messages} messages (dry run: nothing stored; messages already archived are counted too)`,
        );
        const rows = Object.entries(plan.placements)
          .sort(([a], [b]) => a.localeCompare(b))
          .flatMap(([mailbox, folders]) =>
            Object.entries(folders).map(([folder, n]) => [mailbox, folder, String(n)]),
          );
        if (rows.length > 0)
          for (const line of formatTable(['MAILBOX', 'FOLDER', 'MESSAGES'], rows)) output.result(`  ${line}`);
        output.result(`  would skip as not mail ${countAndFirstFew(plan.skipped)}`);
        for (const line of skipReasonLines(plan.skipped, 'would skip')) output.result(line);
        for (const f of plan.failed) output.result(`  would fail: ${f.origin}: ${f.reason}`);
        printNotices(plan.notices);
        if (plan.failed.length > 0) process.exitCode = 1;
        return;
      }
      // What the import has done so far (importMessages updates it as messages finish): the summary when a second
      // Ctrl-C, or the grace period running out, stops the messages in flight before they finish.
      let soFar: ImportReport | undefined;
      let stillInFlight = true;
      let summarised = false;
      handleInterruptionGracefully(() => {
        if (summarised) return;
        summarised = true;
        printReport({ ...emptyImportReport(), ...soFar, interrupted: true }, stillInFlight);
      });
      const onInterrupt = () =>
        process.stderr.write(
          `\ninterrupted: finishing the messages in flight (at most ${INTERRUPT_GRACE_MS / 1000} s; Ctrl-C again stops them now)...\n`,
        );
      interruption.addEventListener('abort', onInterrupt, { once: true });
      const report = await ctx.withArchive(async (archive, config) => {
        checkRecipients(config, options);
        const total = await totalBytes(paths);
        const bar = await progressBar(
          output,
          'importing [{bar}] {percentage}% | {rate} msg/s | ETA {eta_formatted} | {counts}',
          { etaBuffer: 200 },
        );
        bar?.update(0, total, { rate: '0', counts: '' });
        let done = 0;
        let messages = 0;
        const started = Date.now();
        // One delivery log object per batch of messages (locally; on AWS the ingest Lambda logs what it indexes).
        const logBatch = archive.deliveryLog.batch('import');
        const log = new ImportLog(archive.deliveryLog, logBatch, archive.index);
        // Cut short, the messages that finished still get their delivery log records (best effort: the next run
        // logs those it finds present and unlogged; reconcile reports them, and reindex writes them).
        const flushOnExit = addCleanup(() => logBatch.flush());
        const deliver = async (notification: SesReceivedNotification) => {
          await archive.deliver(notification, { logBatch });
          await log.flushIfDue();
        };
        try {
          // On AWS the Lambda's log object is part of its invocation (SQS delivers again what it did not log).
          const local = ctx.globals().target === 'local';
          soFar = await importMessages(config, { ...archive, deliver, ...(local ? { log } : {}) }, paths, {
            ...(options.to ? { to: options.to } : {}),
            ...(options.mailbox ? { mailbox: options.mailbox } : {}),
            ...(options.concurrency ? { concurrency: options.concurrency } : {}),
            signal: interruption,
            onProgress: (bytes, r) => {
              soFar = r;
              done += bytes;
              messages = r.archived + r.duplicates + r.failed.length;
              const seconds = Math.max((Date.now() - started) / 1000, 0.001);
              bar?.update(done, total, {
                rate: (messages / seconds).toFixed(0),
                counts: `${r.archived} new, ${r.duplicates} present, ${r.failed.length} failed, ${r.skipped.length} skipped`,
              });
              output.detail(
                `${r.archived} archived, ${r.duplicates} already present, ${r.failed.length} failed`,
              );
            },
          });
          stillInFlight = false;
          return soFar;
        } finally {
          interruption.removeEventListener('abort', onInterrupt);
          bar?.stop();
          flushOnExit();
          await logBatch.flush();
        }
      });
      if (summarised) return;
      summarised = true;
      printReport(report);
      if (report.failed.length > 0) process.exitCode = 1;
    });
}

/** How many skipped inputs and notices the summary names; `--json` lists them all. */
const NAMED = 5;

/** `3 (a, b, c)` or `12 (a, b, c, d, e and 7 more: --json lists them all)`; `0` for none. */
export function countAndFirstFew(items: readonly { origin: string }[]): string {
  if (items.length === 0) return '0';
  const named = items.slice(0, NAMED).map((i) => i.origin);
  const more = items.length - named.length;
  return `${items.length} (${named.join(', ')}${more > 0 ? ` and ${more} more: --json lists them all` : ''})`;
}

/**
 * The skipped inputs whose reason is more than "not a mail message" (a canary: every recipient is the canary
 * address), one line each with that reason, the first few, then a count; the summary line only counts and names.
 */
export function skipReasonLines(
  items: readonly { origin: string; reason: string }[],
  verb: 'skipped' | 'would skip' = 'skipped',
): string[] {
  const reasoned = items.filter((item) => item.reason !== NOT_MAIL);
  const lines = reasoned.slice(0, NAMED).map((item) => `  ${verb}: ${item.origin}: ${item.reason}`);
  if (reasoned.length > NAMED)
    lines.push(`  and ${reasoned.length - NAMED} more like these: --json lists them all`);
  return lines;
}

/**
 * The summary: counts, then per mailbox, then failures and notices. `stoppedInFlight`: a second Ctrl-C or the end
 * of the grace period stopped messages before they finished (not counted; the next run archives them, none twice).
 */
function printReport(report: ImportReport, stoppedInFlight = false) {
  const output = out();
  output.jsonLine(stoppedInFlight ? { ...report, stoppedInFlight: true } : report);
  const skipped = `skipped as not mail ${countAndFirstFew(report.skipped)}`;
  if (report.interrupted) {
    output.result(
      `interrupted: ${report.archived} archived, ${report.duplicates} already present, ${report.failed.length} failed, ${skipped}${stoppedInFlight ? '; the messages in flight were stopped before they finished' : ''}; run the same command again to resume`,
    );
  } else {
    output.result(
      `archived ${report.archived}, already present ${report.duplicates}, failed ${report.failed.length}, ${skipped}`,
    );
  }
  const mailboxes = Object.entries(report.mailboxes).sort(([a], [b]) => (a < b ? -1 : 1));
  if (mailboxes.length > 1)
    for (const [mailbox, c] of mailboxes)
      output.result(
        `  ${mailbox}: archived ${c.archived}, already present ${c.duplicates}, failed ${c.failed}`,
      );
  const sources = Object.entries(report.receivedTimeSources).map(([source, n]) => `${source} ${n}`);
  if (sources.length) output.info(`  received time from: ${sources.join(', ')}`);
  for (const failure of report.failed) output.result(`  failed: ${failure.origin}: ${failure.reason}`);
  for (const line of skipReasonLines(report.skipped)) output.result(line);
  printNotices(report.notices);
}

/** mbox `From ` lines not taken as separators: nothing lost, said so the user can look (the first few, then a count). */
function printNotices(notices: readonly { origin: string; reason: string }[]) {
  const output = out();
  for (const notice of notices.slice(0, NAMED)) output.result(`  note: ${notice.origin}: ${notice.reason}`);
  if (notices.length > NAMED)
    output.result(`  and ${notices.length - NAMED} more notes like these: --json lists them all`);
}

/** A refused `--to` or `--mailbox` is the user's to fix: said in one line, like SMTP's reply, without a trace. */
function checkRecipients(...args: Parameters<typeof checkImportOptions>): void {
  try {
    checkImportOptions(...args);
  } catch (error) {
    if (error instanceof ImportRecipientError) throw new UserError(error.message, { cause: error });
    throw error;
  }
}

/**
 * A path that does not exist or cannot be read is a typo, said before anything starts or is stored (a file
 * inside a directory that cannot be read is reported with the import, as a failed message).
 */
function checkPaths(paths: string[]): void {
  for (const path of paths) {
    try {
      accessSync(path, constants.R_OK);
    } catch (error) {
      const reason = fileProblem(error);
      throw new UserError(`${path}: ${reason}; nothing was imported`, { cause: error });
    }
  }
}
