// doctor's `transparency key` check: the public key of the transparency log, the one file besides a checkpoint that
// `verify --checkpoint --key` needs, printed where the user sets the archive up so they can keep it elsewhere
// (docs/transparency.md). Locally the data directory's key file (its public half); on AWS the KMS key's public
// key (GetPublicKey on the stack output TransparencySigningKeyArn), the key the seal function signs with.
import { stat } from 'node:fs/promises';
import type { KMSClient } from '@aws-sdk/client-kms';
import { KmsNoteSigner } from '../../shared/adapters/kms-note-signer';
import { KeyFileError, openKeyFile } from '../../shared/adapters/note-key-file';
import type { ArchiverConfig } from '../../shared/config';
import { errorMessage } from '../../shared/errors';
import { formatVerifierKey } from '../../shared/transparency/note';
import { logOrigin } from '../../shared/transparency/origin';
import { logSigningKeyPath } from '../local/log-signing-key';
import { type Check, fail, ok, warn } from './check';

export const TRANSPARENCY_KEY_CHECK = 'transparency key';

/** The check, and the verifier key line (what `seal --out` writes to key.pub) when there is one. */
export interface TransparencyKey {
  check: Check;
  key?: string;
}

/** The local log's key: the key file in the data directory, made by the first `seal`. Never throws. */
export async function localTransparencyKey(
  home: string,
  config: Pick<ArchiverConfig, 'domains' | 'stackName'>,
): Promise<TransparencyKey> {
  const path = logSigningKeyPath(home);
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (!exists)
    return {
      check: ok(TRANSPARENCY_KEY_CHECK, `none yet: the first \`mail-archiver seal\` makes ${path}`),
    };
  try {
    const { signer } = await openKeyFile(path, logOrigin(config, 'local'));
    const key = formatVerifierKey(signer.verifier);
    return { check: ok(TRANSPARENCY_KEY_CHECK, `${key} (from ${path})`), key };
  } catch (error) {
    const fix =
      error instanceof KeyFileError && /read by others/.test(error.message)
        ? `chmod 600 ${path}`
        : `move ${path} aside; the next seal makes a new key (a new log: keep the old key to check old checkpoints)`;
    return { check: fail(TRANSPARENCY_KEY_CHECK, errorMessage(error), fix) };
  }
}

/** The deployed log's key: KMS GetPublicKey on the stack's signing key. Never throws: a failure is a failed check. */
export async function awsTransparencyKey(
  kms: KMSClient,
  keyArn: string | undefined,
  config: Pick<ArchiverConfig, 'domains' | 'stackName'>,
): Promise<TransparencyKey> {
  if (!keyArn)
    return {
      check: warn(
        TRANSPARENCY_KEY_CHECK,
        'the stack is not deployed yet',
        'run cdk deploy, then doctor again',
      ),
    };
  try {
    const signer = await KmsNoteSigner.open(kms, keyArn, logOrigin(config, 'aws'));
    const key = formatVerifierKey(signer.verifier);
    return { check: ok(TRANSPARENCY_KEY_CHECK, `${key} (KMS ${keyArn})`), key };
  } catch (error) {
    return {
      check: fail(
        TRANSPARENCY_KEY_CHECK,
        `cannot read the public key of ${keyArn}: ${errorMessage(error)}`,
        'allow kms:GetPublicKey on that key to this credential, then run doctor again',
      ),
    };
  }
}
