// `mail-archiver status`: what runs, where the data is, and the messages per mailbox and folder.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { archiverHome, readRunningStack } from '../local-stack';
import { humanBytes, printTable } from '../output';

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('what is running, where the data is, and message counts per mailbox and folder')
    .action(async () => {
      const { target, configuration } = ctx.globals();
      const home = archiverHome();
      if (target === 'local') {
        const running = readRunningStack(home);
        console.log(
          running
            ? `local stack: running (pid ${running.pid}, since ${running.startedAt})\n  SMTP      smtp://${running.smtp?.host}:${running.smtp?.port}\n  S3        ${running.endpoints.s3}\n  DynamoDB  ${running.endpoints.dynamodb}`
            : 'local stack: not running (npm start runs it); services started for this command',
        );
        console.log(`data: ${home} (${humanBytes(directorySize(home))})`);
      } else {
        console.log(`target: AWS stack ${configuration.stackName}`);
      }
      await ctx.withArchive(async (archive, config) => {
        const mailboxes = new Set([...Object.keys(config.mailboxes), ...(await archive.index.mailboxes())]);
        const rows: string[][] = [];
        for (const mailbox of [...mailboxes].sort()) {
          const folders = await archive.index.folders(mailbox);
          if (folders.length === 0) rows.push([mailbox, '-', '0', '-']);
          for (const folder of folders.sort((a, b) => a.folder.localeCompare(b.folder))) {
            let count = 0;
            for await (const _ of archive.index.folderDeliveries(mailbox, folder.folder)) count += 1;
            rows.push([mailbox, folder.folder, String(count), String(folder.uidValidity)]);
          }
        }
        console.log('');
        printTable(['MAILBOX', 'FOLDER', 'MESSAGES', 'UIDVALIDITY'], rows);
      });
    });
}

/** Bytes under a directory, 0 when it does not exist yet. */
function directorySize(dir: string): number {
  let total = 0;
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      total += entry.isDirectory() ? directorySize(path) : statSync(path).size;
    }
  } catch {
    // not created yet
  }
  return total;
}
