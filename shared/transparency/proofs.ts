// What a bundle carries to prove its messages offline, and its check. Beside the mail, a bundle holds
//   transparency/checkpoint       the signed checkpoint the proofs lead to (the latest seal when it was made)
//   transparency/key.pub          the log's public key (for reading; `verify` checks with the key it is given)
//   transparency/checkpoint.tsr   the RFC 3161 reply for that checkpoint, when the log is time-stamped
//   transparency/proofs.jsonl     one JSON object per line: first the header
//                                 {"format":"mail-archiver-proofs","version":1,"size":N,"consistency":{"<m>":[..]}}
//                                 (the consistency proof from every earlier sealed size m to N), then per message
//                                 {"folder":..,"uid":..,"index":i,"leaf":"<the leaf's bytes>","proof":[..]}
// Hashes are base64. The leaf is the delivery record as sealed (its canonical bytes, UTF-8).
import { z } from 'zod';
import { errorMessage } from '../errors';
import { type Checkpoint, openCheckpointOrNote, openGivenCheckpoints } from './checkpoint';
import { InclusionVerifier, leafHash, MerkleProofError, verifyConsistency } from './merkle';
import type { NoteVerifier } from './note';

export const TRANSPARENCY_DIR = 'transparency';
export const BUNDLE_CHECKPOINT = `${TRANSPARENCY_DIR}/checkpoint`;
export const BUNDLE_KEY = `${TRANSPARENCY_DIR}/key.pub`;
export const BUNDLE_TIMESTAMP = `${TRANSPARENCY_DIR}/checkpoint.tsr`;
export const BUNDLE_PROOFS = `${TRANSPARENCY_DIR}/proofs.jsonl`;

const BASE64_HASH = /^[A-Za-z0-9+/]{43}=$/;
const base64Hash = z.string().regex(BASE64_HASH, 'not a base64 SHA-256 hash');
const headerSchema = z.object({
  format: z.literal('mail-archiver-proofs'),
  version: z.literal(1),
  size: z.number().int().min(0),
  consistency: z.record(z.string().regex(/^\d+$/), z.array(base64Hash)),
});
export type ProofsHeader = z.output<typeof headerSchema>;
/** One message's line: checked by hand (proofLineOf), not by a schema: a bundle has one per message. */
export interface MessageProof {
  folder: string;
  uid: number;
  index: number;
  leaf: string;
  proof: string[];
}

/** The header line of proofs.jsonl (with its LF). */
export function proofsHeaderLine(size: number, consistency: Map<number, Buffer[]>): string {
  const header: ProofsHeader = {
    format: 'mail-archiver-proofs',
    version: 1,
    size,
    consistency: Object.fromEntries([...consistency].map(([m, proof]) => [String(m), proof.map(b64)])),
  };
  return `${JSON.stringify(header)}\n`;
}

/** One message's line of proofs.jsonl (with its LF). */
export function proofLine(proof: {
  folder: string;
  uid: number;
  index: number;
  leaf: Buffer;
  proof: Buffer[];
}): string {
  const line: MessageProof = {
    folder: proof.folder,
    uid: proof.uid,
    index: proof.index,
    leaf: proof.leaf.toString('utf8'),
    proof: proof.proof.map(b64),
  };
  return `${JSON.stringify(line)}\n`;
}

/**
 * Parses proofs.jsonl, given as its text or as its lines without their LF (a spool file read a line at a time): its
 * header, and its message lines one at a time (no array of lines or proofs is built). Throws ProofsFormatError
 * naming the line that is wrong, when it is reached.
 */
export function parseProofs(proofs: string | Iterable<string>): {
  header: ProofsHeader;
  messages: Iterable<MessageProof>;
} {
  const lines = (typeof proofs === 'string' ? linesOf(proofs) : proofs)[Symbol.iterator]();
  const first = lines.next();
  if (first.done || first.value === '') throw new ProofsFormatError(`${BUNDLE_PROOFS} is empty`);
  const header = headerSchema.safeParse(jsonOf(first.value, 1));
  if (!header.success) {
    const issue = header.error.issues[0];
    throw new ProofsFormatError(`${BUNDLE_PROOFS} line 1: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  function* messages(): Generator<MessageProof> {
    let n = 1;
    for (let line = lines.next(); !line.done; line = lines.next()) {
      n += 1;
      yield proofLineOf(line.value, n);
    }
  }
  return { header: header.data, messages: messages() };
}

/** The lines of a text, each without its LF (a last LF ends the last line), sliced as they are asked for. */
function* linesOf(text: string): Generator<string> {
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf('\n', start);
    yield end < 0 ? text.slice(start) : text.slice(start, end);
    if (end < 0) break;
    start = end + 1;
  }
}

function jsonOf(line: string, n: number): unknown {
  try {
    return JSON.parse(line);
  } catch (error) {
    throw new ProofsFormatError(`${BUNDLE_PROOFS} line ${n}: not JSON (${errorMessage(error)})`);
  }
}

/** A message line, checked field by field (the shape proofLine writes). */
function proofLineOf(line: string, n: number): MessageProof {
  const value = jsonOf(line, n);
  const bad = (field: string, problem: string) =>
    new ProofsFormatError(`${BUNDLE_PROOFS} line ${n}: ${field}: ${problem}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad('(line)', 'not a JSON object');
  const { folder, uid, index, leaf, proof } = value as Record<string, unknown>;
  if (typeof folder !== 'string' || folder === '') throw bad('folder', 'not a folder name');
  if (!Number.isSafeInteger(uid) || (uid as number) < 1) throw bad('uid', 'not a UID');
  if (!Number.isSafeInteger(index) || (index as number) < 0) throw bad('index', 'not a leaf index');
  if (typeof leaf !== 'string' || leaf === '') throw bad('leaf', 'not a leaf');
  if (!Array.isArray(proof)) throw bad('proof', 'not a list of hashes');
  // Each hash is checked where it is decoded (unb64): a malformed one fails its message, not the file.
  if (!proof.every((hash) => typeof hash === 'string')) throw bad('proof', 'not a list of base64 hashes');
  return { folder, uid: uid as number, index: index as number, leaf, proof: proof as string[] };
}

/** Thrown for a proofs file that is not one. */
export class ProofsFormatError extends Error {
  override name = 'ProofsFormatError';
}

/** What a leaf says about its message: read by the caller from the leaf (a delivery record). */
export interface LeafDelivery {
  mailbox: string;
  folder: string;
  uidValidity: number;
  uid: number;
  sha256: string;
  size: number;
}

/** A message of the bundle as its manifest lists it (its bytes already checked against sha256 and size). */
export interface BundleMessage {
  folder: string;
  uid: number;
  uidValidity: number;
  sha256: string;
  size: number;
}

export interface CheckpointFiles {
  /** The bundle's own checkpoint (transparency/checkpoint). */
  bundle: Buffer;
  /** The checkpoint the user trusts (--checkpoint). */
  given: Buffer;
  /** An older one (--previous). */
  previous?: Buffer;
}

export interface ProofCheck {
  /** Problems, each naming the message or file. Empty: every message is proven. */
  errors: string[];
  /** The bundle's checkpoint, when its signature verified. */
  checkpoint?: Checkpoint;
  proven: number;
}

/**
 * Checks a bundle's proofs offline: the checkpoints are signed by `key`; the one given (and the previous one) is
 * the bundle's or a prefix of it (a consistency proof from the header); every message of the manifest has a leaf
 * saying its mailbox, folder, UIDVALIDITY, UID, sha256 and size, included under the bundle's root; every leaf of
 * the proofs is a message of the bundle. `readLeaf` reads a leaf (throws when it is not a delivery record).
 * Never throws for a bad bundle: the errors say what failed.
 */
export function checkBundleProofs(input: {
  key: NoteVerifier;
  checkpoints: CheckpointFiles;
  /** proofs.jsonl: its text, or its lines without their LF (a spool file read a line at a time). */
  proofs: string | Iterable<string> | undefined;
  mailbox: string;
  messages: readonly BundleMessage[];
  readLeaf: (leaf: string) => LeafDelivery;
}): ProofCheck {
  const errors: string[] = [];
  const checkpoint = openCheckpointOrNote(input.checkpoints.bundle, input.key, BUNDLE_CHECKPOINT, errors);
  const { given, previous } = openGivenCheckpoints(input.checkpoints, input.key, errors);
  if (input.proofs === undefined) errors.push(`${BUNDLE_PROOFS} is missing: the bundle carries no proofs`);
  if (!checkpoint || input.proofs === undefined) return { errors, proven: 0 };
  let parsed: ReturnType<typeof parseProofs>;
  try {
    parsed = parseProofs(input.proofs);
  } catch (error) {
    return { errors: [...errors, errorMessage(error)], checkpoint, proven: 0 };
  }
  const { header, messages } = parsed;
  if (header.size !== checkpoint.size)
    errors.push(`${BUNDLE_PROOFS} is for a tree of ${header.size}, the checkpoint of ${checkpoint.size}`);
  for (const [other, what] of [
    [given, 'the checkpoint given'],
    [previous, 'the previous checkpoint'],
  ] as const) {
    if (other) errors.push(...consistencyProblems(other, checkpoint, header, what));
  }

  // The proof lines are read one at a time against the manifest's messages; what each says is kept only as a
  // problem (or "proven"), and reported in the manifest's order.
  // A folder and UID named twice (an mbox bundle has no uidlist to refuse it) proves neither message: otherwise an
  // added message would share the verdict of the proven one under the same name.
  const wanted = new Map<string, BundleMessage>();
  const repeated = new Set<string>();
  for (const message of input.messages) {
    const key = messageKey(message);
    if (wanted.has(key)) repeated.add(key);
    else wanted.set(key, message);
  }
  const verdicts = new Map<string, string | undefined>();
  const strays: string[] = [];
  const inclusion = new InclusionVerifier(checkpoint.size, checkpoint.root);
  try {
    for (const proof of messages) {
      const key = messageKey(proof);
      const message = wanted.get(key);
      if (!message || verdicts.has(key)) {
        strays.push(
          `${proof.folder} UID ${proof.uid}: ${message ? `a second proof (leaf ${proof.index})` : `in the log (leaf ${proof.index}) but missing from the bundle`}`,
        );
        continue;
      }
      verdicts.set(key, leafProblem(proof, message, input, inclusion));
    }
  } catch (error) {
    if (error instanceof ProofsFormatError)
      return { errors: [...errors, error.message], checkpoint, proven: 0 };
    throw error;
  }
  let proven = 0;
  for (const message of input.messages) {
    const where = `${message.folder} UID ${message.uid}`;
    const key = messageKey(message);
    if (repeated.has(key)) {
      if (wanted.get(key) === message)
        errors.push(`${where}: more than one message with this folder and UID in the manifest`);
    } else if (!verdicts.has(key))
      errors.push(`${where}: not in the log at the checkpoint (tree of ${checkpoint.size}): not proven`);
    else {
      const problem = verdicts.get(key);
      if (problem) errors.push(`${where}: ${problem}`);
      else proven += 1;
    }
  }
  errors.push(...strays);
  return { errors, checkpoint, proven };
}

const messageKey = (message: { folder: string; uid: number }) => `${message.folder}\u0000${message.uid}`;

function consistencyProblems(
  other: Checkpoint,
  checkpoint: Checkpoint,
  header: ProofsHeader,
  what: string,
): string[] {
  if (other.size > checkpoint.size)
    return [
      `${what} is of a tree of ${other.size}, newer than the bundle's (${checkpoint.size}): the bundle cannot prove ` +
        `against it; give the checkpoint of ${checkpoint.size} or older (or export the bundle again)`,
    ];
  const proof =
    other.size === checkpoint.size || other.size === 0 ? [] : header.consistency[String(other.size)];
  if (!proof)
    return [`${what} (tree of ${other.size}) is not a size this log sealed: no consistency proof for it`];
  try {
    verifyConsistency(other.size, checkpoint.size, proof.map(unb64), other.root, checkpoint.root);
    return [];
  } catch (error) {
    if (error instanceof MerkleProofError)
      return [
        `${what} (tree of ${other.size}) is not consistent with the bundle's checkpoint: ${error.message}`,
      ];
    throw error;
  }
}

function leafProblem(
  proof: MessageProof,
  message: BundleMessage,
  input: { mailbox: string; readLeaf: (leaf: string) => LeafDelivery },
  inclusion: InclusionVerifier,
): string | undefined {
  let leaf: LeafDelivery;
  try {
    leaf = input.readLeaf(proof.leaf);
  } catch (error) {
    return `its leaf is not a delivery record (${errorMessage(error)})`;
  }
  const differences = [
    leaf.mailbox !== input.mailbox && `mailbox ${leaf.mailbox}`,
    leaf.folder !== message.folder && `folder ${leaf.folder}`,
    leaf.uid !== message.uid && `UID ${leaf.uid}`,
    leaf.uidValidity !== message.uidValidity && `UIDVALIDITY ${leaf.uidValidity}`,
    leaf.sha256 !== message.sha256 && `sha256 ${leaf.sha256}`,
    leaf.size !== message.size && `size ${leaf.size}`,
  ].filter(Boolean);
  if (differences.length > 0) return `the log recorded another delivery (${differences.join(', ')})`;
  try {
    inclusion.verify(proof.index, leafHash(Buffer.from(proof.leaf, 'utf8')), proof.proof.map(unb64));
    return undefined;
  } catch (error) {
    if (error instanceof MerkleProofError) return `not included under the signed root (${error.message})`;
    throw error;
  }
}

function b64(hash: Buffer): string {
  return hash.toString('base64');
}

/** A base64 SHA-256 hash decoded; a string that is not one decodes to another length, refused by the verifier. */
function unb64(hash: string): Buffer {
  return hash.length === 44 ? Buffer.from(hash, 'base64') : Buffer.alloc(0);
}
