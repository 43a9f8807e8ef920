// Checkpoints (C2SP tlog-checkpoint, https://c2sp.org/tlog-checkpoint): the signed note whose text is the log's
// origin, its tree size and the base64 RFC 6962 root hash, one per line. This log writes no extension lines (the
// spec does not recommend them); a checkpoint from elsewhere may carry some, and they are kept but not read.
import { errorMessage } from '../errors';
import { HASH_BYTES } from './merkle';
import { type NoteSigner, type NoteVerifier, signNote, verifyNote } from './note';

/** Thrown for checkpoint text that is not a checkpoint, or whose origin is not the log's. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export interface Checkpoint {
  /** The log's identity: this archiver uses `mail-archiver/<stack name>`. */
  origin: string;
  /** Number of leaves. */
  size: number;
  /** The 32-byte root hash. */
  root: Buffer;
  /** Extension lines, opaque. */
  extensions: string[];
}

/** The note text of a checkpoint (each line ends in a newline). */
export function checkpointText(
  checkpoint: Omit<Checkpoint, 'extensions'> & { extensions?: string[] },
): string {
  const lines = [checkpoint.origin, String(checkpoint.size), checkpoint.root.toString('base64')];
  for (const line of checkpoint.extensions ?? []) {
    if (line === '') throw new CheckpointError('a checkpoint extension line must not be empty');
    lines.push(line);
  }
  const text = `${lines.join('\n')}\n`;
  parseCheckpointText(text);
  return text;
}

/** Reads checkpoint note text. Throws CheckpointError naming the bad line. */
export function parseCheckpointText(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw new CheckpointError('the checkpoint text does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3)
    throw new CheckpointError('a checkpoint has at least three lines: origin, size, root');
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin === '') throw new CheckpointError('the checkpoint origin is empty');
  if (!/^(0|[1-9][0-9]*)$/.test(size) || !Number.isSafeInteger(Number(size)))
    throw new CheckpointError(`the checkpoint tree size "${size}" is not a decimal number`);
  const hash = Buffer.from(root, 'base64');
  if (hash.length !== HASH_BYTES || hash.toString('base64') !== root)
    throw new CheckpointError(`the checkpoint root "${root}" is not a base64 SHA-256 hash`);
  if (extensions.some((line) => line === ''))
    throw new CheckpointError('a checkpoint extension line is empty');
  return { origin, size: Number(size), root: hash, extensions };
}

/** Signs a checkpoint: the signed note, the log's key name being its origin (C2SP tlog-checkpoint). */
export async function signCheckpoint(
  checkpoint: Omit<Checkpoint, 'extensions'>,
  signer: NoteSigner,
): Promise<string> {
  if (signer.verifier.name !== checkpoint.origin)
    throw new CheckpointError(
      `the key ${signer.verifier.name} is not the key of the log ${checkpoint.origin}`,
    );
  return signNote(checkpointText(checkpoint), signer);
}

/**
 * Opens a signed checkpoint: checks the signature with the key, then reads the text; the origin must be the
 * key's name. Throws SignedNoteError (not signed by the key, or altered) or CheckpointError (not a checkpoint).
 */
export function openCheckpoint(note: string | Uint8Array, verifier: NoteVerifier): Checkpoint {
  const text = verifyNote(note, verifier);
  const checkpoint = parseCheckpointText(text);
  if (checkpoint.origin !== verifier.name)
    throw new CheckpointError(
      `the checkpoint is of the log ${checkpoint.origin}, the key of ${verifier.name}`,
    );
  return checkpoint;
}

/**
 * Opens `note` like openCheckpoint, but a checkpoint that does not open is one line in `errors` (prefixed by
 * `what`, the file as the user knows it) and undefined: verify reports every problem, it never stops at the first.
 */
export function openCheckpointOrNote(
  note: string | Uint8Array,
  verifier: NoteVerifier,
  what: string,
  errors: string[],
): Checkpoint | undefined {
  try {
    return openCheckpoint(note, verifier);
  } catch (error) {
    errors.push(`${what}: ${errorMessage(error)}`);
    return undefined;
  }
}

/**
 * The checkpoints a user gives `verify`: the one to prove against (--checkpoint) and an older one (--previous),
 * each opened with `verifier`. What fails goes into `errors` (naming the option), and so does a previous
 * checkpoint of a larger tree than the given one: a log only grows (RFC 9162 section 2.1.4, consistency runs from
 * the older, smaller tree to the newer). `opened` is false when a file given did not open.
 */
export function openGivenCheckpoints(
  files: { given: string | Uint8Array; previous?: string | Uint8Array | undefined },
  verifier: NoteVerifier,
  errors: string[],
): { given?: Checkpoint; previous?: Checkpoint; opened: boolean } {
  const given = openCheckpointOrNote(files.given, verifier, 'the checkpoint given (--checkpoint)', errors);
  const previous =
    files.previous === undefined
      ? undefined
      : openCheckpointOrNote(files.previous, verifier, 'the previous checkpoint (--previous)', errors);
  if (given && previous && previous.size > given.size)
    errors.push(
      `the previous checkpoint (${previous.size}) is newer than the checkpoint given (${given.size})`,
    );
  return {
    ...(given ? { given } : {}),
    ...(previous ? { previous } : {}),
    opened: given !== undefined && (files.previous === undefined || previous !== undefined),
  };
}
