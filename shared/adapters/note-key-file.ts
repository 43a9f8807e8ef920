// The local stack's log signing key: one line in the format Go's sumdb/note reads (PRIVATE+KEY+<name>+<id>+<key>)
// in a file of mode 0600, created on first use. Like ssh with its private keys, a key file that others can read
// is refused rather than used.
import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeyFileSigner, SignedNoteError } from '../transparency/note';

/** Thrown when the key file cannot be used: readable by others, malformed, or for another log. */
export class KeyFileError extends Error {
  override name = 'KeyFileError';
}

/**
 * The signer of the key file at `path`, created (mode 0600, directory 0700) with a new Ed25519 key named `name`
 * when there is none. Throws KeyFileError when the file is group- or world-accessible, is not a signer key, or
 * names another log.
 */
export async function openKeyFile(
  path: string,
  name: string,
): Promise<{ signer: KeyFileSigner; created: boolean }> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!info) {
    const signer = new KeyFileSigner(name, generateKeyPairSync('ed25519').privateKey);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, `${signer.formatSignerKey()}\n`, { flag: 'wx', mode: 0o600 });
    // The umask may have taken bits off, never added them; chmod states the mode whatever it is.
    await chmod(path, 0o600);
    return { signer, created: true };
  }
  if ((info.mode & 0o077) !== 0)
    throw new KeyFileError(
      `the log signing key ${path} can be read by others (mode ${(info.mode & 0o777).toString(8)}): run chmod 600 ${path}`,
    );
  let signer: KeyFileSigner;
  try {
    signer = KeyFileSigner.parse(await readFile(path, 'utf8'));
  } catch (error) {
    if (error instanceof SignedNoteError)
      throw new KeyFileError(`${path} is not a log signing key: ${error.message}`, { cause: error });
    throw error;
  }
  if (signer.verifier.name !== name)
    throw new KeyFileError(`${path} is the key of the log ${signer.verifier.name}, not of ${name}`);
  return { signer, created: false };
}
