// `mail-archiver start` (`npm start`): the whole archiver on this machine until Ctrl-C.
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { archiverHome, startLocalStack } from '../local-stack';
import { parsePort } from '../options';

export function registerStart(program: Command, ctx: CliContext): void {
  program
    .command('start')
    .description(
      "run the archiver locally: DynamoDB Local, an S3-compatible server and an SMTP listener in SES's role",
    )
    .option('--smtp-port <port>', 'SMTP port', parsePort, 2525)
    .option('--smtp-host <host>', 'SMTP address', '127.0.0.1')
    .action(async (options: { smtpPort: number; smtpHost: string }) => {
      const { configuration } = ctx.globals();
      const home = archiverHome();
      const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
      const stack = await startLocalStack(configuration, {
        home,
        smtpPort: options.smtpPort,
        smtpHost: options.smtpHost,
        log,
      });
      const mailbox = Object.keys(configuration.mailboxes)[0] ?? 'alice@example.com';
      console.log(
        [
          'mail-archiver is running locally.',
          `  SMTP (in SES's role)  smtp://${stack.smtp.host}:${stack.smtp.port}  accepts ${Object.keys(configuration.mailboxes).join(', ')}${configuration.journalAddress ? `, ${configuration.journalAddress}` : ''}`,
          `  S3 (s3rver)           ${stack.archive.endpoints.s3}  bucket ${stack.archive.bucket}`,
          `  DynamoDB Local        ${stack.archive.endpoints.dynamodb}  table ${stack.archive.tableName}`,
          stack.sinkDir
            ? `  forwarded copies      kept in ${stack.sinkDir} (a local SMTP sink stands in for Gmail)`
            : `  forwarded copies      sent to ${configuration.forwarding.smarthost?.host}:${configuration.forwarding.smarthost?.port}`,
          `  data                  ${home}`,
          '',
          'Send a first message from another terminal:',
          `  npx mail-archiver send-test ${mailbox}`,
          `  (or: swaks --server ${stack.smtp.host}:${stack.smtp.port} --to ${mailbox})`,
          'then look at it:',
          `  npx mail-archiver list ${mailbox}`,
          '',
          'Ctrl-C stops everything.',
        ].join('\n'),
      );
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = async () => {
          if (stopping) return;
          stopping = true;
          console.log('stopping...');
          await stack.stop();
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      console.log('stopped.');
    });
}
