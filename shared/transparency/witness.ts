// Witnesses: copies of each new checkpoint kept where nobody inside the AWS account controls them. Each seal that
// grew the tree mails its checkpoint to the alarm address (SNS on AWS, the local smarthost here), and `sync`
// writes the log, checkpoints included, into every replica. A history rewritten later contradicts these copies:
// `verify --previous <a mailed checkpoint>` then fails its consistency check.
import type { SealReport } from './seal';

/** Sends a new checkpoint somewhere outside the archive. Throws when it could not be sent. */
export interface CheckpointWitness {
  witness(message: WitnessMessage): Promise<void>;
}

export interface WitnessMessage {
  /** ASCII, under 100 characters (SNS's rule for an email subject). */
  subject: string;
  /** Plain text; the checkpoint is in it as its exact lines. */
  body: string;
}

/** The mail of a seal: what the checkpoint is, how to keep it, and the checkpoint itself between two marks. */
export function witnessMessage(report: SealReport, keyLine: string): WitnessMessage {
  const grown = report.size - report.previousSize;
  const subject = `mail-archiver checkpoint: ${report.size.toLocaleString('en')} deliveries (+${grown.toLocaleString('en')})`;
  const body = [
    `The archive ${report.origin} sealed its transparency log at ${report.sealedAt}:`,
    `${report.size} deliveries (${grown} new since the last checkpoint).`,
    '',
    'Keep this mail. It is a witness: with the checkpoint below saved to a file, anyone can later prove offline',
    'that a bundle or replica holds exactly the mail the archive had recorded up to here, and that the log was',
    'never rewritten:',
    '',
    '  mail-archiver verify BUNDLE_OR_DIR --checkpoint checkpoint.txt --key key.pub',
    '',
    'The checkpoint (save the lines between the marks, ending with the signature line, to checkpoint.txt):',
    '-----BEGIN CHECKPOINT-----',
    report.checkpoint.trimEnd(),
    '-----END CHECKPOINT-----',
    '',
    `The log's public key (key.pub): ${keyLine}`,
    ...(report.conflicts.length > 0
      ? ['', `${report.conflicts.length} conflicting records were seen and not sealed (see the seal record).`]
      : []),
    '',
  ].join('\n');
  return { subject: subject.slice(0, 99), body };
}

/**
 * The checkpoint in a witness mail (or any text holding one between the marks), as the signed note: what a user
 * saves from the mail to give `verify --checkpoint`. Undefined when the text has none.
 */
export function checkpointFromWitness(text: string): string | undefined {
  const match = /-----BEGIN CHECKPOINT-----\r?\n([\s\S]*?)\r?\n-----END CHECKPOINT-----/.exec(text);
  return match ? `${(match[1] as string).replace(/\r\n/g, '\n')}\n` : undefined;
}
