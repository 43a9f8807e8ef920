// `mail-archiver list`: the archived messages of a mailbox, newest first.
import type { Command } from 'commander';
import type { DeliveryRow } from '../../shared/index/schema';
import type { IndexReads } from '../../shared/ports';
import { UNROUTED_MAILBOX } from '../../shared/receiving/routing';
import type { CliContext } from '../context';
import { checkDateRange, normaliseMailbox, parseDate, parsePositive } from '../process/options';
import {
  ExitCode,
  humanBytes,
  indexReadDetail,
  printJsonLines,
  printTable,
  tableTime,
  UserError,
} from '../process/output';
import { out } from '../program';
import { knownFolder, knownMailbox } from '../target/mailboxes';

interface ListOptions {
  folder?: string;
  from?: string;
  subject?: string;
  since?: Date;
  until?: Date;
  limit?: number;
}

export function registerList(program: Command, ctx: CliContext): void {
  program
    .command('list')
    .description('list archived messages of a mailbox, newest first')
    .argument('<mailbox>', `mailbox address (or "${UNROUTED_MAILBOX}")`)
    .option('--folder <folder>', 'only this folder (INBOX in any case, Sent, Junk)')
    .option('--from <text>', 'From contains this text (case-insensitive)')
    .option('--subject <text>', 'Subject contains this text (case-insensitive)')
    .option('--since <date>', 'received on or after this date', parseDate)
    .option('--until <date>', 'received before this date', parseDate)
    .option('--limit <n>', 'at most this many rows', parsePositive)
    .action(async (mailbox: string, options: ListOptions) => {
      if (mailbox.trim() === '')
        throw new UserError('a mailbox address is needed', { exitCode: ExitCode.usage });
      checkDateRange(options);
      const reads: IndexReads = { read: 0, returned: 0 };
      const { name, rows } = await ctx.withArchive(async (archive, config) => {
        const name = await knownMailbox(normaliseMailbox(mailbox), config, archive.index);
        const folder =
          options.folder === undefined ? undefined : await knownFolder(name, options.folder, archive.index);
        const out: DeliveryRow[] = [];
        const contains = (value: string | undefined, text: string | undefined) =>
          text === undefined || (value ?? '').toLowerCase().includes(text.toLowerCase());
        // The index stops at --limit itself when every row it yields is kept (no check below can drop one); the
        // date window is the index's key condition, so rows outside it are never read.
        const everyRowKept = !options.from && !options.subject;
        for await (const row of archive.index.listDeliveries(name, {
          folder,
          ...(options.since ? { since: options.since } : {}),
          ...(options.until ? { until: options.until } : {}),
          ...(everyRowKept && options.limit !== undefined ? { limit: options.limit } : {}),
          reads,
        })) {
          if (!contains(row.from.join(', '), options.from) || !contains(row.subject, options.subject))
            continue;
          out.push(row);
          if (options.limit !== undefined && out.length >= options.limit) break;
        }
        return { name, rows: out };
      });
      out().detail(indexReadDetail(reads.read, rows.length));
      if (out().json) {
        printJsonLines(rows);
        return;
      }
      if (rows.length === 0) {
        console.log(`no messages in ${name}${options.folder ? ` ${options.folder}` : ''} match`);
        return;
      }
      printTable(
        ['RECEIVED', 'FOLDER', 'UID', 'FROM', 'SUBJECT', 'SIZE'],
        rows.map((r) => [
          tableTime(r.receivedAt),
          r.folder,
          String(r.uid),
          r.from[0] ?? '',
          r.subject ?? '(no subject)',
          humanBytes(r.size),
        ]),
      );
    });
}
