// `mail-archiver start` (`npm start`): the whole archiver on this machine until Ctrl-C. Every port is printed;
// all but SMTP's are free ones unless a flag names them.
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { describeDataHome, resolveDataHome } from '../local/data-home';
import { startLocalStack } from '../local/stack';
import { interruption, signalIsNormalStop } from '../process/interrupt';
import { parsePort } from '../process/options';
import { ExitCode, UserError } from '../process/output';
import { out } from '../program';

interface StartOptions {
  smtpPort: number;
  smtpHost: string;
  sinkPort?: number;
  dynamodbPort?: number;
  s3Port?: number;
}

export function registerStart(program: Command, ctx: CliContext): void {
  program
    .command('start')
    .description(
      "run the archiver locally: DynamoDB Local, an S3-compatible server and an SMTP listener in SES's role",
    )
    .option('--smtp-port <port>', 'SMTP port (0: a free one)', parsePort, 2525)
    .option(
      '--smtp-host <host>',
      'SMTP address (no authentication, no TLS: anything but loopback is warned about)',
      '127.0.0.1',
    )
    .option(
      '--sink-port <port>',
      'port of the SMTP sink that stands in for Gmail (default: a free one)',
      parsePort,
    )
    .option('--dynamodb-port <port>', 'DynamoDB Local port (default: a free one)', parsePort)
    .option('--s3-port <port>', 's3rver port (default: a free one)', parsePort)
    .action(async (options: StartOptions) => {
      const output = out();
      const { target, configuration } = ctx.globals();
      if (target === 'aws')
        throw new UserError('start runs the local stack only; the deployed stack runs in AWS already', {
          hint: 'drop --target aws to run locally; deploy to AWS with: npx cdk deploy',
          exitCode: ExitCode.usage,
        });
      signalIsNormalStop();
      const dataHome = resolveDataHome();
      const home = dataHome.path;
      const log = (line: string) => output.info(`${new Date().toISOString()} ${line}`);
      const stack = await startLocalStack(configuration, {
        home,
        smtpPort: options.smtpPort,
        smtpHost: options.smtpHost,
        ...(options.sinkPort !== undefined ? { sinkPort: options.sinkPort } : {}),
        ports: {
          ...(options.dynamodbPort !== undefined ? { dynamodb: options.dynamodbPort } : {}),
          ...(options.s3Port !== undefined ? { s3: options.s3Port } : {}),
        },
        log,
        notice: (line) => output.notice(`mail-archiver: ${line}`),
      });
      const mailbox = Object.keys(configuration.mailboxes)[0] ?? 'alice@example.com';
      output.jsonLine({
        smtp: stack.smtp,
        s3: stack.archive.endpoints.s3,
        dynamodb: stack.archive.endpoints.dynamodb,
        ...(stack.sink ? { sink: stack.sink } : {}),
        data: home,
      });
      output.result(
        [
          'mail-archiver is running locally.',
          `  SMTP (in SES's role)  smtp://${stack.smtp.host}:${stack.smtp.port}  accepts ${Object.keys(configuration.mailboxes).join(', ')}${configuration.journalAddress ? `, ${configuration.journalAddress}` : ''}`,
          `  S3 (s3rver)           ${stack.archive.endpoints.s3}  bucket ${stack.archive.bucket}`,
          `  DynamoDB Local        ${stack.archive.endpoints.dynamodb}  table ${stack.archive.tableName} (listens on every interface; only this data directory's key id sees the tables)`,
          stack.sink
            ? `  forwarded copies      smtp://${stack.sink.host}:${stack.sink.port}, kept in ${stack.sinkDir} (a local SMTP sink stands in for Gmail)`
            : `  forwarded copies      sent to ${configuration.forwarding.smarthost?.host}:${configuration.forwarding.smarthost?.port}`,
          `  data                  ${describeDataHome(dataHome)}`,
          '',
          'Send a first message from another terminal (inside the checkout; or mail-archiver once it is on your PATH):',
          `  npx --no-install mail-archiver send-test ${mailbox}`,
          `  (or: swaks --server ${stack.smtp.host}:${stack.smtp.port} --to ${mailbox})`,
          'then look at it:',
          `  npx --no-install mail-archiver list ${mailbox}`,
          '',
          'Ctrl-C stops everything.',
        ].join('\n'),
      );
      // Until Ctrl-C or SIGTERM, or until a service dies under the stack: then nothing would answer the commands
      // that find the stack file, so the stack stops (its file goes) and says which service ended.
      const died = interruption.aborted
        ? undefined
        : await Promise.race([
            new Promise<undefined>((resolve) =>
              interruption.addEventListener('abort', () => resolve(undefined), { once: true }),
            ),
            stack.died,
          ]);
      output.info('stopping...');
      await stack.stop();
      if (died !== undefined)
        throw new UserError(`${died}: the local stack stopped`, {
          hint: 'start it again with npm start (the archive is kept in the data directory)',
        });
      output.info('stopped.');
    });
}
