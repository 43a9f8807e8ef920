// The local stack's witness (shared/transparency/witness.ts): each new checkpoint mailed to the alarm address
// through the forwarding smarthost, which stands for the world outside the archive here (the local sink keeps the
// mail under MAIL_ARCHIVER_HOME/sink unless a smarthost is configured), as the seal function mails it through SNS
// on AWS. The mail is composed by nodemailer's MailComposer (RFC 5322, the body quoted-printable when needed).
import { join } from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { ArchiverConfig } from '../../shared/config';
import type { CheckpointWitness, WitnessMessage } from '../../shared/transparency/witness';
import { SmtpSender, startForwardSink } from './forwarding';
import { readRunningStack } from './running-stack';

export class SmtpWitness implements CheckpointWitness {
  constructor(
    private readonly smarthost: { host: string; port: number },
    private readonly from: string,
    private readonly to: string,
  ) {}

  /** Throws SendError (shared/forwarding/errors.ts) when the smarthost refuses it or cannot be reached. */
  async witness(message: WitnessMessage): Promise<void> {
    const raw = await new MailComposer({
      from: this.from,
      to: this.to,
      subject: message.subject,
      text: message.body,
    })
      .compile()
      .build();
    await new SmtpSender(this.smarthost.host, this.smarthost.port).send({
      from: this.from,
      to: this.to,
      raw,
    });
  }
}

/**
 * Mails a seal's checkpoint to `config.alarmEmail` through the running stack's smarthost, else the configured
 * one, else a sink started for this mail in `home`/sink. Returns where it went; throws what sending throws.
 */
export async function mailCheckpointLocally(
  home: string,
  config: Pick<ArchiverConfig, 'alarmEmail' | 'domains' | 'forwarding'>,
  message: WitnessMessage,
): Promise<string> {
  const from = `mail-archiver@${config.domains[0]}`;
  const known = readRunningStack(home)?.smarthost ?? config.forwarding.smarthost;
  const sink = known ? undefined : await startForwardSink({ dir: join(home, 'sink') });
  const smarthost = known ?? { host: sink?.host as string, port: sink?.port as number };
  try {
    await new SmtpWitness(smarthost, from, config.alarmEmail).witness(message);
  } finally {
    await sink?.stop();
  }
  return sink
    ? `${config.alarmEmail} (kept in ${sink.dir})`
    : `${config.alarmEmail} via smtp://${smarthost.host}:${smarthost.port}`;
}
