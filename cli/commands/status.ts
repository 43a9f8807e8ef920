// `mail-archiver status`: what runs, where the data is, and the messages per mailbox and folder.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { describeDataHome, resolveDataHome } from '../local/data-home';
import { readRunningStack } from '../local/running-stack';
import { describeError, rootCause } from '../process/describe-error';
import { formatTable, humanBytes, UserError } from '../process/output';
import { out } from '../program';
import { awsHealth, healthLines, localHealth } from '../target/health';

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('what is running, where the data is, and message counts per mailbox and folder')
    .action(async () => {
      const output = out();
      const { target, configuration } = ctx.globals();
      const dataHome = resolveDataHome();
      const home = dataHome.path;
      const running = target === 'local' ? readRunningStack(home) : undefined;
      const dataBytes = target === 'local' ? directorySize(home) : undefined;
      if (target === 'local') {
        output.result(
          running
            ? `local stack: running (pid ${running.pid}, since ${running.startedAt})\n  SMTP      smtp://${running.smtp?.host}:${running.smtp?.port}\n  S3        ${running.endpoints.s3}\n  DynamoDB  ${running.endpoints.dynamodb}${running.smarthost ? `\n  forwards  smtp://${running.smarthost.host}:${running.smarthost.port}` : ''}`
            : 'local stack: not running (npm start runs it); services started for this command',
        );
        output.result(`data: ${describeDataHome(dataHome)}, ${humanBytes(dataBytes ?? 0)}`);
      } else {
        output.result(`target: AWS stack ${configuration.stackName}`);
      }
      const countFolders = () =>
        ctx.withArchive(async (archive, config) => {
          const mailboxes = new Set([...Object.keys(config.mailboxes), ...(await archive.index.mailboxes())]);
          const rows: { mailbox: string; folder?: string; messages: number; uidValidity?: number }[] = [];
          for (const mailbox of [...mailboxes].sort()) {
            const states = await archive.index.folders(mailbox);
            if (states.length === 0) rows.push({ mailbox, messages: 0 });
            for (const state of states.sort((a, b) => a.folder.localeCompare(b.folder))) {
              const count = await archive.index.countDeliveries(mailbox, state.folder);
              rows.push({ mailbox, folder: state.folder, messages: count, uidValidity: state.uidValidity });
            }
          }
          const health = target === 'aws' ? await awsHealth(config, archive, home) : localHealth(home);
          return { folders: rows, health };
        });
      let counted: Awaited<ReturnType<typeof countFolders>>;
      try {
        counted = await countFolders();
      } catch (error) {
        if (target !== 'local' || !running || error instanceof UserError) throw error;
        // The running stack's index does not answer (its DynamoDB Local died, say): exactly when messages pile
        // up in the dead letters, so what waits on disk is still shown before the failure is named.
        const health = localHealth(home);
        output.jsonLine({ target, folders: null, health, error: describeError(error) });
        output.result('');
        for (const line of healthLines(health)) output.result(line);
        throw new UserError(`the index cannot be read: ${rootCause(error)}`, {
          hint: `the running stack's DynamoDB Local (${running.endpoints.dynamodb}) or S3 (${running.endpoints.s3}) does not answer: mail-archiver doctor checks both; stop npm start and start it again (dead letters wait for mail-archiver redrive)`,
          cause: error,
        });
      }
      const { folders, health } = counted;
      output.jsonLine({
        target,
        ...(target === 'local'
          ? {
              localStack: running
                ? {
                    pid: running.pid,
                    startedAt: running.startedAt,
                    smtp: running.smtp,
                    endpoints: running.endpoints,
                  }
                : null,
              data: { path: home, source: dataHome.source, bytes: dataBytes },
            }
          : { stackName: configuration.stackName }),
        folders,
        health,
      });
      output.result('');
      for (const line of healthLines(health)) output.result(line);
      output.result('');
      for (const line of formatTable(
        ['MAILBOX', 'FOLDER', 'MESSAGES', 'UIDVALIDITY'],
        folders.map((f) => [
          f.mailbox,
          f.folder ?? '-',
          String(f.messages),
          f.uidValidity === undefined ? '-' : String(f.uidValidity),
        ]),
      ))
        output.result(line);
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
