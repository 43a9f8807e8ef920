// `mail-archiver replica backfill [--status]`: copies into the replica in a second account (archive.replica) the
// versions live replication never copied: those written before the replication rules existed, and those whose
// replication failed. An S3 Batch Replication job does it (shared/retention/backfill.ts); AWS only: the local
// stack has no second account.
import type { Command } from 'commander';
import type { BackfillJobState } from '../../shared/retention/backfill';
import type { CliContext } from '../context';
import { UserError } from '../process/output';
import { out } from '../program';

function describeJob(job: BackfillJobState): string {
  const progress =
    job.versions === undefined
      ? 'S3 is still listing the versions to replicate'
      : `${job.replicated} of ${job.versions} versions replicated, ${job.failed} failed`;
  const reasons = job.failureReasons.length > 0 ? `; S3 says: ${job.failureReasons.join('; ')}` : '';
  return `job ${job.jobId} ${job.status}${job.createdAt ? ` (started ${job.createdAt})` : ''}: ${progress}${reasons}; completion report: ${job.report}`;
}

export function registerReplica(program: Command, ctx: CliContext): void {
  const replica = program
    .command('replica')
    .description('the copy of the archive in a second AWS account (archive.replica; --target aws)');
  replica
    .command('backfill')
    .description(
      'replicate the versions live replication never copied (written before its rules, or failed) with an S3 Batch Replication job',
    )
    .option('--status', 'show the newest backfill job and its progress instead of starting one')
    .action(async (options: { status?: boolean }) => {
      const { target, configuration } = ctx.globals();
      if (target !== 'aws')
        throw new UserError(
          'replica backfill works on the deployed stack only: the local stack has no replica in a second account',
          { hint: 'run it with --target aws once the stack is deployed with archive.replica set' },
        );
      const { backfillStatus, startBackfill } = await import('../target/backfill');
      const output = out();
      if (options.status) {
        const job = await backfillStatus(configuration);
        output.jsonLine(job ?? null);
        output.result(job ? describeJob(job) : 'no backfill job was ever started for this stack');
        return;
      }
      const { started, job } = await startBackfill(configuration);
      output.jsonLine({ started, ...job });
      output.result(
        started
          ? `started ${describeJob(job)}\nfollow it with: mail-archiver replica backfill --status --target aws`
          : `a backfill is already running, not starting another: ${describeJob(job)}`,
      );
    });
}
