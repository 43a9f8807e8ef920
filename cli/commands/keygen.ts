// `mail-archiver keygen --out FILE [--paper]`: a new age identity for encrypted bundles, written where only its
// owner reads it (0600, never over an existing file), its recipient (the public key) on standard output; with
// --paper, also the identity as text and as a QR code (the qrcode library) to print and keep in a safe.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import QRCode from 'qrcode';
import { newIdentity } from '../../shared/bundle/age';
import { fileProblem, UserError } from '../process/output';
import { out } from '../program';
import { assertWritableDestination } from '../target/bundle-file';

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description(
      'make a new age identity for encrypted bundles: the secret key goes to --out (mode 0600), the recipient (public key, age1...) to standard output',
    )
    .requiredOption('--out <file>', 'where to write the identity (a new file; never overwritten)')
    .option('--paper', 'also print the identity, as text and as a QR code, to keep on paper in a safe')
    .addHelpText(
      'after',
      `
Give the recipient to "export --encrypt-to" or list it in the config's export.recipients; keep the identity
file to open the bundles (verify, serve and restore --identity FILE). Whoever holds the identity opens every
bundle encrypted to it; whoever loses every identity of a bundle loses that bundle (not the archive in S3).
Two recipients are recommended: a daily key and a paper key (docs/keys.md).`,
    )
    .action(async (options: { out: string; paper?: boolean }) => {
      const output = out();
      await assertWritableDestination(options.out);
      const key = await newIdentity();
      await writeFile(options.out, key.fileText, { mode: 0o600, flag: 'wx' }).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST')
          throw new UserError(`${options.out} already exists: a key is never overwritten`, {
            hint: 'choose another file with --out, or move the old one away if it is truly unused',
          });
        throw new UserError(`cannot write ${options.out}: ${fileProblem(error)}`, { cause: error });
      });
      output.jsonLine({ recipient: key.recipient, identityFile: options.out, paper: Boolean(options.paper) });
      output.result(key.recipient);
      if (options.paper) output.result(await paperKey(key));
      output.warn(
        `the identity is in ${options.out} (mode 0600): anyone who has it can open the bundles encrypted to ${key.recipient}`,
      );
    });
}

/** The identity for paper: what it is, the text, a QR code of the text, and how to use it again. */
export async function paperKey(key: {
  identity: string;
  recipient: string;
  fileText: string;
}): Promise<string> {
  // Uppercase bech32 fits QR's alphanumeric mode; level M survives some wear of the paper.
  const qr = await QRCode.toString(key.identity, { type: 'utf8', errorCorrectionLevel: 'M', margin: 2 });
  const created = key.fileText.match(/^# created: (.+)$/m)?.[1] ?? '';
  return [
    '',
    '---- mail-archiver paper key (age identity) ------------------------------------',
    'Keep this page in a safe. Whoever holds it opens every bundle encrypted to:',
    `  ${key.recipient}`,
    `created ${created}`,
    '',
    key.identity,
    '',
    qr.trimEnd(),
    '',
    'To use it: type the AGE-SECRET-KEY line (or scan the code) into a file, then',
    '  mail-archiver verify --identity FILE BUNDLE.tar.gz.age    (also serve, restore; or age -d -i FILE)',
    '---------------------------------------------------------------------------------',
  ].join('\n');
}
