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
import { type Checkpoint, openCheckpoint } from './checkpoint';
import { leafHash, MerkleProofError, verifyConsistency, verifyInclusion } from './merkle';
import type { NoteVerifier } from './note';

export const TRANSPARENCY_DIR = 'transparency';
export const BUNDLE_CHECKPOINT = `${TRANSPARENCY_DIR}/checkpoint`;
export const BUNDLE_KEY = `${TRANSPARENCY_DIR}/key.pub`;
export const BUNDLE_TIMESTAMP = `${TRANSPARENCY_DIR}/checkpoint.tsr`;
export const BUNDLE_PROOFS = `${TRANSPARENCY_DIR}/proofs.jsonl`;

const base64Hash = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'not a base64 SHA-256 hash');
const headerSchema = z.object({
  format: z.literal('mail-archiver-proofs'),
  version: z.literal(1),
  size: z.number().int().min(0),
  consistency: z.record(z.string().regex(/^\d+$/), z.array(base64Hash)),
});
const lineSchema = z.object({
  folder: z.string().min(1),
  uid: z.number().int().min(1),
  index: z.number().int().min(0),
  leaf: z.string().min(1),
  proof: z.array(base64Hash),
});
export type ProofsHeader = z.output<typeof headerSchema>;
export type MessageProof = z.output<typeof lineSchema>;

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

/** Parses proofs.jsonl. Throws ProofsFormatError naming the line that is wrong. */
export function parseProofs(text: string): { header: ProofsHeader; messages: MessageProof[] } {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const parse = <T>(schema: z.ZodType<T>, line: string, n: number): T => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new ProofsFormatError(`${BUNDLE_PROOFS} line ${n}: not JSON (${errorMessage(error)})`);
    }
    const result = schema.safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new ProofsFormatError(`${BUNDLE_PROOFS} line ${n}: ${issue?.path.join('.')}: ${issue?.message}`);
    }
    return result.data;
  };
  if (lines.length === 0) throw new ProofsFormatError(`${BUNDLE_PROOFS} is empty`);
  const header = parse(headerSchema, lines[0] as string, 1);
  return { header, messages: lines.slice(1).map((line, i) => parse(lineSchema, line, i + 2)) };
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
  proofs: string | undefined;
  mailbox: string;
  messages: readonly BundleMessage[];
  readLeaf: (leaf: string) => LeafDelivery;
}): ProofCheck {
  const errors: string[] = [];
  const open = (note: Buffer, what: string): Checkpoint | undefined => {
    try {
      return openCheckpoint(note, input.key);
    } catch (error) {
      errors.push(`${what}: ${errorMessage(error)}`);
      return undefined;
    }
  };
  const checkpoint = open(input.checkpoints.bundle, BUNDLE_CHECKPOINT);
  const given = open(input.checkpoints.given, 'the checkpoint given (--checkpoint)');
  const previous =
    input.checkpoints.previous && open(input.checkpoints.previous, 'the previous checkpoint (--previous)');
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
  if (given && previous && previous.size > given.size)
    errors.push(
      `the previous checkpoint (${previous.size}) is newer than the checkpoint given (${given.size})`,
    );

  const byMessage = new Map<string, MessageProof>();
  for (const proof of messages) byMessage.set(`${proof.folder}\u0000${proof.uid}`, proof);
  let proven = 0;
  for (const message of input.messages) {
    const where = `${message.folder} UID ${message.uid}`;
    const key = `${message.folder}\u0000${message.uid}`;
    const proof = byMessage.get(key);
    byMessage.delete(key);
    if (!proof) {
      errors.push(`${where}: not in the log at the checkpoint (tree of ${checkpoint.size}): not proven`);
      continue;
    }
    const problem = leafProblem(proof, message, input, checkpoint);
    if (problem) errors.push(`${where}: ${problem}`);
    else proven += 1;
  }
  for (const proof of byMessage.values())
    errors.push(
      `${proof.folder} UID ${proof.uid}: in the log (leaf ${proof.index}) but missing from the bundle`,
    );
  return { errors, checkpoint, proven };
}

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
  checkpoint: Checkpoint,
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
    verifyInclusion(
      proof.index,
      checkpoint.size,
      leafHash(Buffer.from(proof.leaf, 'utf8')),
      proof.proof.map(unb64),
      checkpoint.root,
    );
    return undefined;
  } catch (error) {
    if (error instanceof MerkleProofError) return `not included under the signed root (${error.message})`;
    throw error;
  }
}

function b64(hash: Buffer): string {
  return hash.toString('base64');
}

function unb64(hash: string): Buffer {
  return Buffer.from(hash, 'base64');
}
