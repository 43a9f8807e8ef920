// `mail-archiver hold add|list|release`: S3 Object Lock legal holds on the messages of a mailbox (shared/retention/
// holds.ts), recorded in the index. Works on the local stack and with --target aws (the operator's credentials
// need s3:PutObjectLegalHold and s3:ListBucketVersions on the raw-mail bucket: no role of the stack holds them).
import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { DynamoHoldLog } from '../../shared/adapters/dynamo-hold-log';
import { IndexTable } from '../../shared/adapters/dynamo-table';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import {
  describeCriteria,
  type HoldCriteria,
  HoldNotFoundError,
  type HoldRecord,
  InvalidHoldError,
  placeHold,
  releaseHold,
} from '../../shared/retention/holds';
import type { CliContext } from '../context';
import { normaliseMailbox, parseDate } from '../process/options';
import { printJsonLines, printTable, UserError } from '../process/output';
import { out } from '../program';
import type { Archive } from '../target/archive';
import { knownMailbox } from '../target/mailboxes';

/** Who is acting, as this machine knows it (recorded with each hold). */
const operator = () => `${userInfo().username}@${hostname()}`;

const holdDeps = (archive: Archive) => ({
  index: archive.index,
  holds: new DynamoHoldLog(new IndexTable(archive.clients.dynamodb, archive.tableName)),
  locks: new S3ObjectLocks(archive.clients.s3),
  bucket: archive.bucket,
  deliveryLog: archive.deliveryLog,
});

/** A hold's state as `hold list` shows it: an active hold whose `hold add` never finished says so. */
const stateOf = (record: HoldRecord) =>
  record.state === 'active' && record.placing ? 'incomplete' : record.state;

function summary(record: HoldRecord): string {
  return `${record.holdId} ${stateOf(record)}: ${describeCriteria(record.criteria)}: ${record.messages} messages, ${record.versions} versions held, by ${record.by} at ${record.placedAt}: ${record.reason}`;
}

/** The core's refusals are the user's mistakes: one line, no stack trace. */
async function asUserError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof HoldNotFoundError || error instanceof InvalidHoldError)
      throw new UserError(error.message, { cause: error });
    throw error;
  }
}

export function registerHold(program: Command, ctx: CliContext): void {
  const hold = program
    .command('hold')
    .description(
      'legal holds: keep every version of matching messages until released, whatever their retention',
    );
  hold
    .command('add')
    .description(
      'place a legal hold on every version of the matching messages: raw, sidecar and the log objects of their envelope',
    )
    .requiredOption('--mailbox <address>', 'the mailbox whose messages are held')
    .option('--since <date>', 'received at or after this date (ISO 8601; a day is midnight UTC)', parseDate)
    .option('--until <date>', 'received before this date', parseDate)
    .option('--from <address>', 'only messages from this sender')
    .requiredOption('--reason <text>', 'why (recorded with the hold)')
    .action(
      async (options: { mailbox: string; since?: Date; until?: Date; from?: string; reason: string }) => {
        const criteria: HoldCriteria = {
          mailbox: normaliseMailbox(options.mailbox),
          ...(options.since ? { since: options.since.toISOString() } : {}),
          ...(options.until ? { until: options.until.toISOString() } : {}),
          ...(options.from ? { from: options.from.toLowerCase() } : {}),
        };
        const record = await ctx.withArchive(async (archive, config) => {
          const mailbox = await knownMailbox(criteria.mailbox, config, archive.index);
          return asUserError(() =>
            placeHold(holdDeps(archive), { ...criteria, mailbox }, options.reason, operator()),
          );
        });
        out().jsonLine(record);
        out().result(`placed ${summary(record)}`);
      },
    );
  hold
    .command('list')
    .description(
      'every hold: active, released, or incomplete (hold add was interrupted: release it, or place it again)',
    )
    .action(async () => {
      const holds = await ctx.withArchive((archive) => holdDeps(archive).holds.listHolds());
      if (out().json) {
        printJsonLines(holds);
        return;
      }
      if (holds.length === 0) {
        out().result('no holds');
        return;
      }
      printTable(
        [
          'id',
          'state',
          'mailbox',
          'since',
          'until',
          'from',
          'messages',
          'versions',
          'by',
          'placed',
          'reason',
        ],
        holds.map((h) => [
          h.holdId,
          stateOf(h),
          h.criteria.mailbox,
          h.criteria.since ?? '',
          h.criteria.until ?? '',
          h.criteria.from ?? '',
          String(h.messages),
          String(h.versions),
          h.by,
          h.placedAt,
          h.reason,
        ]),
      );
    });
  hold
    .command('release')
    .description('release a hold: clears the legal holds it placed that no other active hold placed')
    .argument('<id>', 'the hold id (hold list)')
    .action(async (id: string) => {
      const record = await ctx.withArchive((archive) =>
        asUserError(() => releaseHold(holdDeps(archive), id, operator())),
      );
      out().jsonLine(record);
      out().result(
        `released ${record.holdId}: ${record.releasedVersions} versions no longer held (versions other active holds placed stay held)`,
      );
    });
}
