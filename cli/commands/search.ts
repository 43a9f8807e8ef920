// `mail-archiver search`: mail across mailboxes, found by the index (DynamoDB queries, not a client-side scan).
import type { Command } from 'commander';
import { DynamoDeliverySearch } from '../../shared/adapters/dynamo-search';
import type { SearchQuery } from '../../shared/index/search';
import type { CliContext } from '../context';
import {
  checkDateRange,
  collect,
  normaliseMailbox,
  parseDate,
  parsePositive,
  refuseOppositeFlags,
} from '../process/options';
import { formatTable, humanBytes, indexReadDetail, tableTime } from '../process/output';
import { out as output } from '../program';
import { knownMailbox } from '../target/mailboxes';

interface SearchOptions {
  mailbox?: string[];
  from?: string;
  to?: string;
  subject?: string;
  since?: Date;
  until?: Date;
  attachment?: boolean;
  messageId?: string;
  limit?: number;
}

export function registerSearch(program: Command, ctx: CliContext): void {
  const command = program
    .command('search')
    .description(
      'find messages across mailboxes by sender, recipient, subject, date, attachment or Message-ID',
    )
    .option('--mailbox <address>', 'only this mailbox (repeat for several; default: all)', collect)
    .option(
      '--from <text>',
      'this sender (a whole address, also as copied from a header: "Alice <alice@bank.example>"; read through the sender index), or a part of the address: alice, @bank.example (reads every message of the mailboxes searched); case-insensitive',
    )
    .option('--to <text>', 'a To/Cc address or envelope recipient contains this (case-insensitive)')
    .option('--subject <text>', 'Subject contains this (case-insensitive)')
    .option('--since <date>', 'received on or after this date', parseDate)
    .option('--until <date>', 'received before this date', parseDate)
    .option('--attachment', 'only messages with an attachment')
    .option('--no-attachment', 'only messages without one')
    .option('--message-id <id>', 'this Message-ID (with or without <>)')
    .option('--limit <n>', 'at most this many, newest first', parsePositive);
  refuseOppositeFlags(command);
  command.action(async (options: SearchOptions) => {
    checkDateRange(options);
    const out = output();
    const query: SearchQuery = {
      ...(options.mailbox ? { mailboxes: options.mailbox.map(normaliseMailbox) } : {}),
      ...(options.from !== undefined ? { from: options.from } : {}),
      ...(options.to !== undefined ? { to: options.to } : {}),
      ...(options.subject !== undefined ? { subject: options.subject } : {}),
      ...(options.since ? { since: options.since } : {}),
      ...(options.until ? { until: options.until } : {}),
      ...(options.attachment !== undefined ? { hasAttachment: options.attachment } : {}),
      ...(options.messageId !== undefined ? { messageId: options.messageId } : {}),
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
    };
    const result = await ctx.withArchive(async (archive, config) => {
      // A typo'd --mailbox is an error, as in list and export, not "no messages match".
      // A mailbox in either spelling of its domain is searched under the spelling the archive names it.
      const only: string[] = [];
      for (const mailbox of query.mailboxes ?? [])
        only.push(await knownMailbox(mailbox, config, archive.index));
      const mailboxes = [
        ...new Set([...Object.keys(config.mailboxes), ...(await archive.index.mailboxes())]),
      ];
      return new DynamoDeliverySearch(archive.clients.dynamodb, archive.tableName).search(
        query.mailboxes ? { ...query, mailboxes: only } : query,
        mailboxes.sort(),
      );
    });
    if (result.fallback !== undefined)
      out.detail(`the sender index was not read: ${result.fallback}; each mailbox's rows were read instead`);
    out.detail(
      indexReadDetail(result.examined, result.rows.length, result.plan === 'sender' ? 'sender' : 'rows'),
    );
    if (out.json) {
      for (const row of result.rows) out.jsonLine(row);
      return;
    }
    if (result.rows.length === 0) {
      out.result('no messages match');
      return;
    }
    for (const line of formatTable(
      ['RECEIVED', 'MAILBOX', 'FOLDER', 'UID', 'FROM', 'SUBJECT', 'SIZE'],
      result.rows.map((r) => [
        tableTime(r.receivedAt),
        r.mailbox,
        r.folder,
        String(r.uid),
        r.fromAddress ?? r.from[0] ?? '',
        r.subject ?? '(no subject)',
        humanBytes(r.size),
      ]),
    ))
      out.result(line);
  });
}
