// `verify BUNDLE --checkpoint FILE --key FILE [--previous FILE] [--tsa-ca FILE]`, after the plain checks of
// shared/bundle/verify.ts: the bundle's messages proven against a checkpoint the user keeps, with nothing but the
// bundle, the files named and node:crypto. The plain checks already tied each file's bytes to the manifest's
// sha256 and size; these tie the manifest to the signed log.
import { closeSync, openSync, readSync } from 'node:fs';
import libbase64 from 'libbase64';
import libqp from 'libqp';
import type { ManifestMessage } from '../bundle/manifest';
import type { VerifyReport } from '../bundle/verify';
import { errorMessage } from '../errors';
import type { WriteOnceStore } from '../ports';
import type { Checkpoint } from './checkpoint';
import { checkpointPath, timestampPath } from './log-files';
import { type NoteVerifier, parseVerifierKey } from './note';
import {
  BUNDLE_CHECKPOINT,
  BUNDLE_PROOFS,
  BUNDLE_TIMESTAMP,
  checkBundleProofs,
  type LeafDelivery,
} from './proofs';
import { checkReplicaCompleteness } from './replica-log';
import { certificatesOf, type TimestampFacts, verifyTimestamp } from './timestamp';
import { checkpointFromWitness } from './witness';

/** The files the user names, as read. */
export interface TrustFiles {
  /** --key: the log's verifier key line. */
  key: Buffer;
  /** --checkpoint: a signed checkpoint, or a witness mail holding one. */
  checkpoint: Buffer;
  /** --previous: an older one. */
  previous?: Buffer;
  /** --tsa-ca: the timestamp authority's CA certificate(s), PEM or DER. */
  tsaCa?: Buffer;
}

export interface TransparencyCheck {
  errors: string[];
  /** Messages proven included under the signed root. */
  proven: number;
  checkpoint?: Checkpoint;
  timestamp?: TimestampFacts;
}

/** The key file read, or the reason it cannot be used. */
export function readKeyFile(bytes: Buffer): NoteVerifier | string {
  try {
    return parseVerifierKey(bytes.toString('utf8'));
  } catch (error) {
    return `the key file (--key) is not the log's public key: ${errorMessage(error)}`;
  }
}

/**
 * A checkpoint file's signed note: the file itself, or the checkpoint inside a witness mail, as text or as a saved
 * single-part message (.eml) whose body is quoted-printable or base64 (the checkpoint's signature line is not
 * ASCII, so mail software encodes it). The body is decoded with nodemailer's libqp and libbase64.
 */
export async function checkpointNote(bytes: Buffer): Promise<Buffer> {
  const inMail = checkpointFromWitness(mailBodyText(bytes) ?? bytes.toString('utf8'));
  return inMail ? Buffer.from(inMail, 'utf8') : bytes;
}

/** The decoded body of a saved single-part message; undefined when `bytes` does not start with a header field. */
function mailBodyText(bytes: Buffer): string | undefined {
  const text = bytes.toString('latin1');
  // A message starts with a header field (RFC 5322 2.2: a name of printable ASCII but ':', then ':').
  if (!/^[\x21-\x39\x3b-\x7e]+:/.test(text)) return undefined;
  const split = /\r?\n\r?\n/.exec(text);
  if (!split) return undefined;
  const header = text.slice(0, split.index).replace(/\r?\n[ \t]+/g, ' ');
  const body = bytes.subarray(split.index + split[0].length);
  const encoding = /^content-transfer-encoding:[ \t]*([^\s;]+)/im.exec(header)?.[1]?.toLowerCase();
  if (encoding === 'quoted-printable') return libqp.decode(body).toString('utf8');
  if (encoding === 'base64') return libbase64.decode(body.toString('latin1')).toString('utf8');
  return body.toString('utf8');
}

/**
 * Checks a verified bundle's transparency files against the files the user trusts. `readLeaf` reads a leaf as a
 * delivery (throws when it is not one). Never throws for a bad bundle or file: the errors say what failed.
 */
export async function checkBundleTransparency(
  report: VerifyReport,
  trust: TrustFiles,
  readLeaf: (leaf: string) => LeafDelivery,
): Promise<TransparencyCheck> {
  const key = readKeyFile(trust.key);
  if (typeof key === 'string') return { errors: [key], proven: 0 };
  const manifest = report.manifest;
  if (!manifest) return { errors: ['the bundle has no readable manifest to prove'], proven: 0 };
  const bundleCheckpoint = report.transparency.get(BUNDLE_CHECKPOINT);
  if (!bundleCheckpoint)
    return {
      errors: [
        `${BUNDLE_CHECKPOINT} is missing: the bundle was made before the log was sealed, or without it`,
      ],
      proven: 0,
    };
  const validity = new Map(manifest.folders.map((f) => [f.name, f.uidValidity]));
  // Spooled by verifyBundle (keepProofs: a directory): read a line at a time, never whole.
  const proofs = report.proofsFile
    ? fileLines(report.proofsFile)
    : report.transparency.get(BUNDLE_PROOFS)?.toString('utf8');
  const result = checkBundleProofs({
    key,
    checkpoints: {
      bundle: bundleCheckpoint,
      given: await checkpointNote(trust.checkpoint),
      ...(trust.previous ? { previous: await checkpointNote(trust.previous) } : {}),
    },
    proofs,
    mailbox: manifest.mailbox,
    messages: manifest.messages.map((m: ManifestMessage) => ({
      folder: m.folder,
      uid: m.uid,
      uidValidity: validity.get(m.folder) ?? 0,
      sha256: m.sha256,
      size: m.size,
    })),
    readLeaf,
  });
  const check: TransparencyCheck = { ...result };
  if (trust.tsaCa) {
    const reply = report.transparency.get(BUNDLE_TIMESTAMP);
    if (!reply) check.errors.push(`${BUNDLE_TIMESTAMP} is missing: the checkpoint was not time-stamped`);
    else {
      try {
        check.timestamp = await verifyTimestamp(reply, bundleCheckpoint, certificatesOf(trust.tsaCa));
      } catch (error) {
        check.errors.push(`${BUNDLE_TIMESTAMP}: ${errorMessage(error)}`);
      }
    }
  }
  return check;
}

/**
 * Checks a verified replica mailbox (`sync`'s DIR/<mailbox>, read like an unpacked bundle) against the files the
 * user trusts and the log copy kept with the replica (`log`): completeness up to the newest checkpoint the copy
 * holds, which the given one (and the previous one) must be prefixes of (replica-log.ts). With --tsa-ca, the
 * copy's time-stamp of that checkpoint. Never throws for a bad replica or file: the errors say what failed.
 */
export async function checkReplicaTransparency(
  report: VerifyReport,
  trust: TrustFiles,
  log: WriteOnceStore,
  /** Whether a message's file is in the replica: one the manifest lists but that is gone is missing. */
  present: (message: ManifestMessage) => Promise<boolean>,
): Promise<TransparencyCheck & { unsealed: number }> {
  const key = readKeyFile(trust.key);
  if (typeof key === 'string') return { errors: [key], proven: 0, unsealed: 0 };
  const manifest = report.manifest;
  if (!manifest) return { errors: ['the replica has no readable manifest to prove'], proven: 0, unsealed: 0 };
  const validity = new Map(manifest.folders.map((f) => [f.name, f.uidValidity]));
  const result = await checkReplicaCompleteness({
    key,
    given: await checkpointNote(trust.checkpoint),
    ...(trust.previous ? { previous: await checkpointNote(trust.previous) } : {}),
    log,
    mailbox: manifest.mailbox,
    messages: (await Promise.all(manifest.messages.map(async (m) => ((await present(m)) ? [m] : []))))
      .flat()
      .map((m: ManifestMessage) => ({
        folder: m.folder,
        uid: m.uid,
        uidValidity: validity.get(m.folder) ?? 0,
        sha256: m.sha256,
        size: m.size,
      })),
  });
  const check: TransparencyCheck & { unsealed: number } = { ...result };
  if (trust.tsaCa && result.checkpoint) {
    const size = result.checkpoint.size;
    const [reply, note] = await Promise.all([log.get(timestampPath(size)), log.get(checkpointPath(size))]);
    if (!reply || !note)
      check.errors.push(`the replica's copy of the log has no time-stamp of its checkpoint of ${size}`);
    else {
      try {
        check.timestamp = await verifyTimestamp(reply, note, certificatesOf(trust.tsaCa));
      } catch (error) {
        check.errors.push(`${timestampPath(size)} (the replica's copy): ${errorMessage(error)}`);
      }
    }
  }
  return check;
}

/**
 * The lines of a file, each without its LF (a last LF ends the last line), read 1 MiB at a time as they are asked
 * for. Synchronous on purpose: an async iteration per line cost proofs.jsonl's check more CPU than the check itself.
 * Throws the file system's error.
 */
function* fileLines(path: string): Generator<string> {
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(1024 * 1024);
    let rest = Buffer.alloc(0);
    for (let read = readSync(fd, chunk); read > 0; read = readSync(fd, chunk)) {
      const data = rest.length > 0 ? Buffer.concat([rest, chunk.subarray(0, read)]) : chunk.subarray(0, read);
      let start = 0;
      // A multi-byte UTF-8 character never holds the byte LF: splitting the bytes there splits no character.
      for (let end = data.indexOf(0x0a, start); end >= 0; end = data.indexOf(0x0a, start)) {
        yield data.toString('utf8', start, end);
        start = end + 1;
      }
      rest = Buffer.from(data.subarray(start));
    }
    if (rest.length > 0) yield rest.toString('utf8');
  } finally {
    closeSync(fd);
  }
}
