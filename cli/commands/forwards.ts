// `mail-archiver forwards`: the forwarding ledger of a mailbox, newest change first.
import { type Command, Option } from 'commander';
import type { ForwardEntry, ForwardState } from '../../shared/forwarding/ledger';
import type { DeliveryRow } from '../../shared/index/schema';
import type { CliContext } from '../context';
import { normaliseMailbox } from '../process/options';
import { printJsonLines, printTable, tableTime } from '../process/output';
import { out } from '../program';
import { knownMailbox } from '../target/mailboxes';

export function registerForwards(program: Command, ctx: CliContext): void {
  program
    .command('forwards')
    .description('the forwarding ledger of a mailbox: one line per (message, target) with its state')
    .argument('<mailbox>', 'mailbox address')
    .addOption(
      new Option('--state <state>', 'only this state').choices([
        'pending',
        'sending',
        'sent',
        'skipped',
        'failed',
        'bounced',
        'complained',
      ]),
    )
    .action(async (mailbox: string, options: { state?: ForwardState }) => {
      let name = normaliseMailbox(mailbox);
      const entries = await ctx.withArchive(async (archive, config) => {
        name = await knownMailbox(name, config, archive.index);
        const out: (ForwardEntry & { subject?: string; from?: string })[] = [];
        // Which mail went where: each entry with the subject and sender of its message (from the index).
        const rows = new Map<string, DeliveryRow | undefined>();
        for await (const entry of archive.index.listForwards(name, options.state)) {
          if (!rows.has(entry.messageKey)) {
            rows.set(entry.messageKey, await archive.index.getDelivery(entry.mailbox, entry.messageKey));
          }
          const row = rows.get(entry.messageKey);
          out.push({
            ...entry,
            ...(row?.subject !== undefined ? { subject: row.subject } : {}),
            ...(row?.from[0] ? { from: row.from[0] } : {}),
          });
        }
        return out.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
      });
      if (out().json) {
        printJsonLines(entries);
        return;
      }
      if (entries.length === 0) {
        console.log(`no forwards for ${name}${options.state ? ` in state ${options.state}` : ''}`);
        return;
      }
      // The detail is why a forward was refused, failed or skipped: read whole (the last column, never cut), an
      // SMTP reply's lines joined into one, as a user reads it; --json gives each field as stored.
      printTable(
        ['UPDATED', 'STATE', 'TARGET', 'FROM', 'SUBJECT', 'DETAIL'],
        entries.map((e) => [
          tableTime(e.updatedAt),
          e.state,
          e.target,
          e.from ?? '',
          e.subject ?? '(no subject)',
          (
            e.reason ??
            e.error ??
            e.feedback ??
            (e.gmailMessageId ? `gmail ${e.gmailMessageId}` : undefined) ??
            [e.sesMessageId, ...(e.changes ?? [])].filter(Boolean).join('; ')
          ).replace(/\s*[\r\n]+\s*/g, ' '),
        ]),
        { wholeLast: true },
      );
    });
}
