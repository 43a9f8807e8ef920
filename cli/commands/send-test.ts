// `mail-archiver send-test`: one message over SMTP to the running local stack.
import type { Command } from 'commander';
import { archiverHome, readRunningStack } from '../local/running-stack';
import { UserError } from '../process/output';

export function registerSendTest(program: Command): void {
  program
    .command('send-test')
    .description('send a test message to the running local stack over SMTP')
    .argument('<to>', 'recipient address')
    .option('--subject <subject>', 'subject', 'Hello from mail-archiver')
    .action(async (to: string, options: { subject: string }) => {
      const running = readRunningStack(archiverHome());
      if (!running?.smtp)
        throw new UserError('no local stack is running over this data directory', {
          hint: 'start it with "npm start" (in the checkout), or point MAIL_ARCHIVER_HOME at the data directory of the running one',
        });
      const { createTransport } = await import('nodemailer');
      const transport = createTransport({
        host: running.smtp.host,
        port: running.smtp.port,
        secure: false,
        ignoreTLS: true,
      });
      const info = await transport.sendMail({
        from: 'Test Sender <sender@example.net>',
        to,
        subject: options.subject,
        text: 'If you can list this, the archiver works.\n',
      });
      console.log(`sent: ${info.response}`);
    });
}
