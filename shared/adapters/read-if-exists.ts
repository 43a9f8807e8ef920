// The one way a state file that may not exist yet is read: absent is a value (undefined), every other failure
// (EACCES, EISDIR, EIO) is thrown, so a file that exists and cannot be read is never taken for a first run.
import { readFile } from 'node:fs/promises';

/**
 * The bytes of `path` (the text when `encoding` is given), or undefined when it does not exist (ENOENT).
 * Throws the fs error otherwise.
 */
export async function readIfExists(path: string): Promise<Buffer | undefined>;
export async function readIfExists(path: string, encoding: BufferEncoding): Promise<string | undefined>;
export async function readIfExists(
  path: string,
  encoding?: BufferEncoding,
): Promise<Buffer | string | undefined> {
  try {
    return encoding ? await readFile(path, encoding) : await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
