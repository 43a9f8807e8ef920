// Keys for age-encrypted bundles, from the command line: what `export` encrypts to (--encrypt-to, the config's
// export.recipients, or a passphrase) and what verify, serve and restore open a bundle with (--identity files, or
// the passphrase). A passphrase is typed without echo, or read from MAIL_ARCHIVER_BUNDLE_PASSPHRASE (scripts).
import { readFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import {
  AgeRecipientError,
  type BundleEncryption,
  type BundleKeys,
  checkRecipient,
  EncryptedBundleError,
  parseIdentityFile,
} from '../../shared/bundle/age';
import type { ArchiverConfig } from '../../shared/config';
import { fileProblem, UserError } from '../process/output';
import { readSecret } from '../process/secret';

/** The environment variable a passphrase may come from where no terminal can ask for it. */
export const BUNDLE_PASSPHRASE_ENV = 'MAIL_ARCHIVER_BUNDLE_PASSPHRASE';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Adds `--identity <file>` (repeatable) to a command that reads bundles. */
export function addIdentityOption(command: Command): Command {
  return command.addOption(
    new Option(
      '-i, --identity <file>',
      `age identity file that opens an encrypted bundle (repeatable); a passphrase bundle asks for its passphrase (or reads $${BUNDLE_PASSPHRASE_ENV})`,
    ).argParser(collect),
  );
}

/** Adds export's encryption options. */
export function addEncryptionOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--encrypt-to <recipient>',
        "encrypt the bundle with age to this recipient (age1..., repeatable; default: the config's export.recipients)",
      ).argParser(collect),
    )
    .option(
      '--encrypt-passphrase',
      `encrypt the bundle with age to a passphrase, typed twice (or $${BUNDLE_PASSPHRASE_ENV}); local target only`,
    )
    .addOption(
      new Option(
        '--scrypt-work-factor <logN>',
        "the passphrase's scrypt work factor (log2 N, 10-20; default 18 as the age CLI): lower is faster and easier to guess",
      )
        .argParser((value) => {
          const n = Number(value);
          if (!Number.isInteger(n) || n < 10 || n > 20)
            throw new UserError(`--scrypt-work-factor must be a whole number from 10 to 20, not ${value}`);
          return n;
        })
        .hideHelp(),
    )
    .option('--no-encrypt', 'write a plain .tar.gz even when the config names export.recipients');
}

export interface EncryptionOptions {
  encryptTo?: string[];
  encryptPassphrase?: boolean;
  scryptWorkFactor?: number;
  encrypt?: boolean;
}

/**
 * How `export` encrypts, from its options and the config: a passphrase (only where it was typed: on AWS the
 * function must never hold what decrypts), the recipients given, else the config's, else nothing. Throws
 * UserError for a recipient that is not an age X25519 public key, or a passphrase on AWS.
 */
export async function exportEncryption(
  options: EncryptionOptions,
  config: ArchiverConfig | undefined,
  target: 'local' | 'aws',
): Promise<BundleEncryption | undefined> {
  if (options.encrypt === false) {
    if (options.encryptTo?.length || options.encryptPassphrase)
      throw new UserError('--no-encrypt cannot go with --encrypt-to or --encrypt-passphrase');
    return undefined;
  }
  if (options.encryptPassphrase) {
    if (options.encryptTo?.length)
      throw new UserError(
        'choose --encrypt-to or --encrypt-passphrase: an age file has recipients or a passphrase',
      );
    if (target === 'aws')
      throw new UserError('a passphrase cannot encrypt an export on AWS: the export function would hold it', {
        hint: 'encrypt to public keys instead: mail-archiver keygen --out key.txt, then --encrypt-to age1...',
      });
    const passphrase = await typedPassphrase(true);
    return {
      passphrase,
      ...(options.scryptWorkFactor !== undefined ? { workFactor: options.scryptWorkFactor } : {}),
    };
  }
  const given = options.encryptTo?.length ? options.encryptTo : (config?.export.recipients ?? []);
  if (given.length === 0) return undefined;
  try {
    return {
      recipients: given.map((r) =>
        checkRecipient(r, options.encryptTo?.length ? '--encrypt-to' : 'export.recipients:'),
      ),
    };
  } catch (error) {
    if (error instanceof AgeRecipientError) throw new UserError(error.message, { cause: error });
    throw error;
  }
}

/**
 * The keys that open encrypted bundles: every identity in the `--identity` files, and a passphrase asked for
 * at most once, only when a bundle wants one. Throws UserError for a file that cannot be read or holds no
 * identity.
 */
export async function bundleKeys(identityFiles: string[] = []): Promise<BundleKeys> {
  const identities: BundleKeys['identities'] = [];
  for (const file of identityFiles) {
    const text = await readFile(file, 'utf8').catch((error: unknown) => {
      throw new UserError(`cannot read the identity file ${file}: ${fileProblem(error)}`, { cause: error });
    });
    try {
      identities.push(...(await parseIdentityFile(text, file)));
    } catch (error) {
      if (error instanceof EncryptedBundleError) throw new UserError(error.message, { cause: error });
      throw error;
    }
  }
  let asked: Promise<string> | undefined;
  return {
    identities,
    passphrase: () => {
      asked ??= typedPassphrase(false);
      return asked;
    },
  };
}

async function typedPassphrase(twice: boolean): Promise<string> {
  const fromEnv = process.env[BUNDLE_PASSPHRASE_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const noTerminal = () =>
    new UserError(`no passphrase: set ${BUNDLE_PASSPHRASE_ENV}, or run in a terminal to be asked`);
  const first = await readSecret('bundle passphrase: ', noTerminal);
  if (first === '') throw new UserError('the passphrase is empty');
  if (twice && (await readSecret('the same passphrase again: ', noTerminal)) !== first)
    throw new UserError('the two passphrases differ: nothing was exported');
  return first;
}
