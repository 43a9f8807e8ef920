// `mail-archiver send-test`: one message over SMTP to the running local stack; with --canary, the canary round trip
// doctor runs (cli/doctor/canary.ts): a canary through the SMTP listener, followed into S3 and the index.
import type { Command } from 'commander';
import { httpPing } from '../../shared/adapters/http-ping';
import { errorMessage } from '../../shared/errors';
import type { CliContext } from '../context';
import { canaryCheck, localCanaryRoundTrip } from '../doctor/canary';
import { type Check, fail, formatChecks, ok } from '../doctor/check';
import { archiverHome, readRunningStack } from '../local/running-stack';
import { UserError } from '../process/output';
import { out } from '../program';

interface SendTestOptions {
  subject: string;
  canary?: boolean;
  ping?: boolean;
}

export function registerSendTest(program: Command, ctx: CliContext): void {
  program
    .command('send-test')
    .description(
      'send a test message to the running local stack over SMTP; with --canary, a canary followed into S3 and the index (the check doctor runs)',
    )
    .argument('[to]', 'recipient address (not with --canary: the canary goes to health.canary.address)')
    .option('--subject <subject>', 'subject', 'Hello from mail-archiver')
    .option('--canary', 'send a canary and report where it got: stored, indexed, and how long it took')
    .option(
      '--ping',
      'with --canary: after an on-time round trip, call health.canary.pingUrl as the canary function does (a local round trip never calls it otherwise)',
    )
    .action(async (to: string | undefined, options: SendTestOptions) => {
      const running = readRunningStack(archiverHome());
      if (!running?.smtp)
        throw new UserError('no local stack is running over this data directory', {
          hint: 'start it with "npm start" (in the checkout), or point MAIL_ARCHIVER_HOME at the data directory of the running one',
        });
      const smtp = running.smtp;
      if (options.canary) {
        if (to) throw new UserError('--canary sends to health.canary.address: give no recipient with it');
        const { configuration } = ctx.globals();
        if (!configuration.health.canary.enabled)
          throw new UserError('the canary is off: health.canary.enabled is false in the config', {
            hint: 'set health.canary.enabled to true (or leave it out: the canary is on by default)',
          });
        const pingUrl = configuration.health.canary.pingUrl;
        if (options.ping && !pingUrl)
          throw new UserError('--ping needs health.canary.pingUrl in the config', {
            hint: "set health.canary.pingUrl to your check's URL (e.g. https://hc-ping.com/<uuid>)",
          });
        const roundTrip = await ctx.withArchive((archive, config) =>
          localCanaryRoundTrip(config, archive, smtp),
        );
        const check = canaryCheck(configuration, roundTrip);
        // Only when asked: a local round trip proves nothing about the deployed canary the ping vouches for.
        const ping =
          options.ping && pingUrl && roundTrip.verdict.outcome === 'on-time'
            ? await pingCheck(pingUrl)
            : undefined;
        const checks = ping ? [check, ping.check] : [check];
        // --json: the doctor check, and the canary's trail (sentAt, storedAt, indexedAt) and verdict (its latency),
        // and with --ping how the ping went ('ok' or { failed }), as the canary function reports it.
        if (out().json)
          process.stdout.write(
            `${JSON.stringify({ ...check, trail: roundTrip.trail, verdict: roundTrip.verdict, ...(ping ? { ping: ping.result } : {}) })}\n`,
          );
        else for (const line of formatChecks(checks)) console.log(line);
        if (checks.some((c) => c.status === 'fail')) process.exitCode = 1;
        return;
      }
      if (!to) throw new UserError('send-test needs a recipient address (or --canary)');
      const { createTransport } = await import('nodemailer');
      const transport = createTransport({
        host: smtp.host,
        port: smtp.port,
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

/** The ping of `url` after an on-time local round trip, as a check line and as the canary function reports it. */
async function pingCheck(url: string): Promise<{ check: Check; result: 'ok' | { failed: string } }> {
  try {
    await httpPing()(url);
    return {
      check: ok('ping', `called ${new URL(url).host} after the on-time round trip`),
      result: 'ok',
    };
  } catch (error) {
    const failed = errorMessage(error);
    return {
      check: fail(
        'ping',
        failed,
        'check health.canary.pingUrl and that this machine reaches it (the canary function calls it from AWS)',
      ),
      result: { failed },
    };
  }
}
