// The local stack's transparency log signing key: a file in the data directory (mode 0600), made on the first
// seal. Its log is another log than the deployed stack's (another origin, shared/transparency/origin.ts).
import { join } from 'node:path';
import { KeyFileError, openKeyFile } from '../../shared/adapters/note-key-file';
import type { ArchiverConfig } from '../../shared/config';
import type { KeyFileSigner } from '../../shared/transparency/note';
import { logOrigin } from '../../shared/transparency/origin';
import { UserError } from '../process/output';

/** The key file's name in the data directory. */
export const LOG_SIGNING_KEY_FILE = 'transparency-signing.key';

export function logSigningKeyPath(home: string): string {
  return join(home, LOG_SIGNING_KEY_FILE);
}

/**
 * The local log's signer, the key made (and `created` true) when there is none. Throws UserError when the file
 * can be read by others, is not a signing key, or is the key of another log (another domain or stack name).
 */
export async function openLocalLogSigner(
  home: string,
  config: Pick<ArchiverConfig, 'domains' | 'stackName'>,
): Promise<{ signer: KeyFileSigner; created: boolean; path: string }> {
  const path = logSigningKeyPath(home);
  try {
    return { ...(await openKeyFile(path, logOrigin(config, 'local'))), path };
  } catch (error) {
    if (error instanceof KeyFileError) throw new UserError(error.message, { cause: error });
    throw error;
  }
}
