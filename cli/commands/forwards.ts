// `mail-archiver forwards`: the forwarding ledger of a mailbox, newest change first.
import { type Command, Option } from 'commander';
import type { ForwardEntry, ForwardState } from '../../shared/forwarding/ledger';
import type { CliContext } from '../context';
import { assertKnownMailbox } from '../mailboxes';
import { normaliseMailbox } from '../options';
import { printJsonLines, printTable } from '../output';
import { out } from '../program';

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
      const entries = await ctx.withArchive(async (archive, config) => {
        await assertKnownMailbox(normaliseMailbox(mailbox), config, archive.index);
        const out: ForwardEntry[] = [];
        for await (const entry of archive.index.listForwards(normaliseMailbox(mailbox), options.state))
          out.push(entry);
        return out.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
      });
      if (out().json) {
        printJsonLines(entries);
        return;
      }
      if (entries.length === 0) {
        console.log(`no forwards for ${mailbox}${options.state ? ` in state ${options.state}` : ''}`);
        return;
      }
      printTable(
        ['UPDATED', 'STATE', 'TARGET', 'MESSAGE', 'DETAIL'],
        entries.map((e) => [
          e.updatedAt.replace('T', ' ').slice(0, 19),
          e.state,
          e.target,
          e.messageKey.slice(0, 16),
          e.reason ?? e.error ?? e.feedback ?? e.sesMessageId ?? '',
        ]),
      );
    });
}
