// `mail-archiver sync DIR`: the replica on the user's own disk (shared/replica/), kept current from the archive's
// delivery log, locally or from the deployed stack (read-only: `doctor --target aws` prints the policy). Thin:
// options, the progress bar, the report and its exit status, the watch loop, the ping.
import type { Command } from 'commander';
import { LockHeldError } from '../../shared/adapters/pid-lock';
import { errorMessage } from '../../shared/errors';
import { ReplicaConflictError, ReplicaDirectoryError } from '../../shared/replica/errors';
import { type SyncReport, syncReplica } from '../../shared/replica/sync';
import type { CliContext } from '../context';
import { interruption } from '../process/interrupt';
import { normaliseMailbox, parseInterval, parsePositive } from '../process/options';
import { ExitCode, humanBytes, progressBar, UserError } from '../process/output';
import { out } from '../program';

interface SyncOptions {
  mailbox: string[];
  once?: boolean;
  watch?: number;
  concurrency: number;
  ping?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerSync(program: Command, ctx: CliContext): void {
  program
    .command('sync')
    .description(
      'keep a replica of the archive in DIR: one Dovecot-servable maildir per mailbox, the same files export writes',
    )
    .argument(
      '<dir>',
      'the replica directory (created when missing; an existing one must be empty or a replica)',
    )
    .option('--mailbox <address>', 'only this mailbox (repeat for more; default: every mailbox)', collect, [])
    .option('--once', 'one sync, then exit (the default)')
    .option('--watch <interval>', 'sync again every interval (90s, 15m, 1h) until stopped', parseInterval)
    .option('--concurrency <n>', 'objects downloaded at a time', parsePositive, 8)
    .option('--ping <url>', 'after each successful sync, GET this URL (a healthchecks.io check, for example)')
    .action(async (dir: string, options: SyncOptions) => {
      if (options.once && options.watch)
        throw new UserError('--once and --watch exclude each other', { exitCode: ExitCode.usage });
      const { target } = ctx.globals();
      const mailboxes = options.mailbox.map(normaliseMailbox);
      await ctx.withArchive(async (archive) => {
        const source = { log: archive.deliveryLog, store: archive.store, target };
        for (;;) {
          const report = await runOnce(source, dir, mailboxes, options);
          if (!options.watch || interruption.aborted) {
            if (!report.ok) process.exitCode = ExitCode.failed;
            return;
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, options.watch);
            interruption.addEventListener(
              'abort',
              () => {
                clearTimeout(timer);
                resolve();
              },
              { once: true },
            );
          });
          if (interruption.aborted) return;
        }
      });
    });
}

async function runOnce(
  source: Parameters<typeof syncReplica>[0],
  dir: string,
  mailboxes: string[],
  options: SyncOptions,
): Promise<SyncReport> {
  const output = out();
  const bar = await progressBar(1, 'syncing');
  const started = Date.now();
  let report: SyncReport;
  try {
    report = await syncReplica(source, {
      dir,
      mailboxes,
      concurrency: options.concurrency,
      onProgress: ({ done, seen, bytes }) => {
        if (!bar) return;
        const seconds = (Date.now() - started) / 1000;
        const rate = done / Math.max(seconds, 0.001);
        const left = rate > 0 ? Math.round((seen - done) / rate) : 0;
        bar.setTotal(Math.max(seen, 1));
        bar.update(done, {
          counts: `${done}/${seen} messages, ${humanBytes(bytes)}, ${rate.toFixed(0)}/s, ${left} s left`,
        });
      },
      onProblem: (problem) => output.warn(problem.message),
    });
  } catch (error) {
    bar?.stop();
    throw asUserError(error, dir);
  }
  bar?.stop();
  output.jsonLine(report);
  const seconds = ((Date.parse(report.endedAt) - Date.parse(report.startedAt)) / 1000).toFixed(1);
  output.result(
    `${report.ok ? 'synced' : 'synced with problems'} ${dir}: ${report.added} new message${report.added === 1 ? '' : 's'} (${humanBytes(report.bytes)}) in ${seconds} s${report.present ? `, ${report.present} already there` : ''}${report.problems.length ? `, ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} (above)` : ''}${report.pending ? `, ${report.pending} to try again` : ''}`,
  );
  if (report.tookOverFrom)
    output.info(`  (took over the lock of process ${report.tookOverFrom.pid}, which is gone)`);
  if (report.ok && options.ping) await ping(options.ping);
  return report;
}

/** GET `url` (the healthchecks convention: a ping after each successful run); a failure is a warning only. */
async function ping(url: string): Promise<void> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) out().warn(`--ping ${url} answered ${response.status}`);
  } catch (error) {
    out().warn(`--ping ${url} failed: ${errorMessage(error)}`);
  }
}

function asUserError(error: unknown, dir: string): unknown {
  if (error instanceof ReplicaDirectoryError || error instanceof ReplicaConflictError)
    return new UserError(error.message, { cause: error });
  if (error instanceof LockHeldError)
    return new UserError(
      `another sync (process ${error.holder.pid} on ${error.holder.host}) is running over ${dir}`,
      {
        cause: error,
        hint: 'wait for it to end; a lock left by a process that is gone is taken over by itself',
      },
    );
  if ((error as { code?: string }).code === 'ENOSPC')
    return new UserError(
      `the disk holding ${dir} is full: nothing was recorded as done; free space and sync again`,
      {
        cause: error,
      },
    );
  return error;
}
