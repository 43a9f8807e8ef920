// Signed notes (C2SP signed-note, https://c2sp.org/signed-note): a text ending in a newline, a blank line, and
// signature lines "— <key name> base64(key ID || signature)". The log signs with Ed25519 (signature type 0x01):
// on AWS an ECC_NIST_EDWARDS25519 KMS key with ED25519_SHA_512 (pure Ed25519 over the note text, RFC 8032),
// locally a key file; both verify offline with node:crypto. Keys are written in the formats Go's
// golang.org/x/mod/sumdb/note reads, so a note this archiver signs also checks with that tool:
//   verifier key  <name>+<key ID, 8 hex digits>+base64(0x01 || 32-byte public key)
//   signer key    PRIVATE+KEY+<name>+<key ID>+base64(0x01 || 32-byte seed)
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

/** Thrown for a note, key or signature that is malformed, unknown or does not verify; the message says which. */
export class SignedNoteError extends Error {
  override name = 'SignedNoteError';
}

/** The signature type byte of Ed25519 signatures (C2SP signed-note, "Signature types"). */
export const ED25519_TYPE = 0x01;
const SIGNATURE_BYTES = 64;
const PUBLIC_KEY_BYTES = 32;
/** Verifiers must accept at least 16 signatures (C2SP signed-note); more than this many is refused. */
const MAX_SIGNATURES = 100;
const EM_DASH = '\u2014';

export interface NoteSignature {
  /** The key name of the signature line. */
  name: string;
  /** The uint32 key ID (the first 4 bytes of the decoded signature). */
  keyId: number;
  /** The signature bytes after the key ID. */
  signature: Buffer;
}

export interface SignedNote {
  /** The signed text, final newline included. */
  text: string;
  signatures: NoteSignature[];
}

/** An Ed25519 public key with its note name: what `key.pub` holds. */
export interface NoteVerifier {
  name: string;
  keyId: number;
  /** The 32-byte Ed25519 public key (RFC 8032). */
  publicKey: Buffer;
}

/** Signs note text (a KMS key on AWS, a key file locally); `verifier` names the key and holds its public half. */
export interface NoteSigner {
  readonly verifier: NoteVerifier;
  /** The 64-byte Ed25519 signature of the UTF-8 bytes of `text`. */
  sign(text: string): Promise<Buffer>;
}

/** key ID = SHA-256(key name || 0x0A || 0x01 || public key)[:4], big-endian (C2SP signed-note). */
export function ed25519KeyId(name: string, publicKey: Uint8Array): number {
  checkKeyName(name);
  return createHash('sha256')
    .update(name)
    .update(Buffer.from([0x0a, ED25519_TYPE]))
    .update(publicKey)
    .digest()
    .readUInt32BE(0);
}

/** A key name must be non-empty and contain no Unicode space and no '+' (C2SP signed-note, "Format"). */
export function checkKeyName(name: string): void {
  if (name === '' || /[\s+]/u.test(name) || hasControl(name))
    throw new SignedNoteError(
      `${shownName(name)} is not a key name: it must be non-empty, without spaces, '+' or controls`,
    );
}

/** A name as an error shows it: quoted, controls and format characters as U+FFFD (it may come from a binary file), 40 characters at most. */
function shownName(name: string): string {
  const safe = name.replace(/[\p{Cc}\p{Cf}]/gu, '\uFFFD');
  return JSON.stringify(safe.length > 40 ? `${safe.slice(0, 40)}...` : safe);
}

/** The verifier key line of a public key. */
export function formatVerifierKey(verifier: NoteVerifier): string {
  const key = Buffer.concat([Buffer.from([ED25519_TYPE]), verifier.publicKey]);
  return `${verifier.name}+${hex8(verifier.keyId)}+${key.toString('base64')}`;
}

/** Reads a verifier key line (surrounding whitespace ignored). Throws SignedNoteError naming what is wrong. */
export function parseVerifierKey(text: string): NoteVerifier {
  const parts = splitPlus(text.trim(), 3);
  if (!parts)
    throw new SignedNoteError('not a note verifier key: expected "<name>+<8 hex digits>+<base64 key>"');
  const [name, id, encoded] = parts as [string, string, string];
  checkKeyName(name);
  if (!/^[0-9a-f]{8}$/.test(id))
    throw new SignedNoteError(`the key ID "${id}" is not 8 lower-case hex digits`);
  const key = strictBase64(encoded, 'the verifier key');
  if (key.length !== 1 + PUBLIC_KEY_BYTES || key[0] !== ED25519_TYPE)
    throw new SignedNoteError('the verifier key is not an Ed25519 key (type 0x01 and 32 bytes)');
  const publicKey = key.subarray(1);
  const keyId = ed25519KeyId(name, publicKey);
  if (keyId !== Number.parseInt(id, 16))
    throw new SignedNoteError(`the key ID ${id} does not match the key (it is ${hex8(keyId)})`);
  return { name, keyId, publicKey: Buffer.from(publicKey) };
}

/** The verifier of an Ed25519 public key given as DER SubjectPublicKeyInfo (what KMS GetPublicKey returns). */
export function verifierFromSpki(name: string, spki: Uint8Array): NoteVerifier {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (error) {
    throw new SignedNoteError('the public key is not DER SubjectPublicKeyInfo', { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new SignedNoteError(`the public key is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`);
  const publicKey = rawPublicKey(key);
  return { name, keyId: ed25519KeyId(name, publicKey), publicKey };
}

/** A key's 32 public bytes (the JWK `x`). */
export function rawPublicKey(key: KeyObject): Buffer {
  const x = key.export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw new SignedNoteError('not an Ed25519 key');
  return Buffer.from(x, 'base64url');
}

/** The text of a signed note: its text, a blank line, one line per signature. */
export function formatSignedNote(note: SignedNote): string {
  checkNoteText(note.text);
  if (note.signatures.length === 0) throw new SignedNoteError('a signed note needs at least one signature');
  const lines = note.signatures.map((s) => {
    checkKeyName(s.name);
    const id = Buffer.alloc(4);
    id.writeUInt32BE(s.keyId);
    return `${EM_DASH} ${s.name} ${Buffer.concat([id, s.signature]).toString('base64')}\n`;
  });
  return `${note.text}\n${lines.join('')}`;
}

/**
 * Splits a signed note into its text and signature lines (C2SP signed-note, "Format": the text is separated from
 * the signatures by the last empty line). Checks the form only; `verifyNote` checks signatures. Throws
 * SignedNoteError naming what is malformed.
 */
export function parseSignedNote(input: string | Uint8Array): SignedNote {
  const note = typeof input === 'string' ? input : decodeUtf8(input);
  if (hasControl(note.replaceAll('\n', ''))) throw new SignedNoteError('the note has a control character');
  if (note === '') throw new SignedNoteError('the note is empty');
  if (!note.endsWith('\n')) throw new SignedNoteError('the note does not end with a newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new SignedNoteError('the note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_SIGNATURES)
    throw new SignedNoteError(`the note has over ${MAX_SIGNATURES} signatures`);
  const signatures = lines.map((line, i) => {
    const match = /^\u2014 (\S+) (\S+)$/u.exec(line);
    if (!match) throw new SignedNoteError(`signature line ${i + 1} is not "— <key name> <base64>"`);
    const [, name, encoded] = match as unknown as [string, string, string];
    checkKeyName(name);
    const bytes = strictBase64(encoded, `the signature of ${name}`);
    if (bytes.length < 5) throw new SignedNoteError(`the signature of ${name} is too short`);
    return { name, keyId: bytes.readUInt32BE(0), signature: Buffer.from(bytes.subarray(4)) };
  });
  return { text, signatures };
}

/**
 * Verifies a signed note with one known key (C2SP signed-note, "Signatures"): signatures by other keys (another
 * name or key ID) are ignored; a signature by the key must verify; at least one must. Returns the note's text.
 * Throws SignedNoteError: not signed by the key, or the key's signature does not verify.
 */
export function verifyNote(input: string | Uint8Array, verifier: NoteVerifier): string {
  const note = parseSignedNote(input);
  const mine = note.signatures.filter((s) => s.name === verifier.name && s.keyId === verifier.keyId);
  if (mine.length === 0)
    throw new SignedNoteError(
      `not signed by the key ${verifier.name}+${hex8(verifier.keyId)} (signed by ${note.signatures
        .map((s) => `${s.name}+${hex8(s.keyId)}`)
        .join(', ')})`,
    );
  const key = ed25519PublicKey(verifier.publicKey);
  for (const signature of mine) {
    if (
      signature.signature.length !== SIGNATURE_BYTES ||
      !verify(null, Buffer.from(note.text, 'utf8'), key, signature.signature)
    )
      throw new SignedNoteError(`the signature of ${verifier.name} does not verify: the note was altered`);
  }
  return note.text;
}

/** Signs `text` and returns the whole signed note. */
export async function signNote(text: string, signer: NoteSigner): Promise<string> {
  checkNoteText(text);
  const signature = await signer.sign(text);
  if (signature.length !== SIGNATURE_BYTES)
    throw new SignedNoteError(`the signer returned ${signature.length} bytes, not an Ed25519 signature`);
  const { name, keyId } = signer.verifier;
  return formatSignedNote({ text, signatures: [{ name, keyId, signature }] });
}

/** A signer over an Ed25519 private key held in this process (the local key file). */
export class KeyFileSigner implements NoteSigner {
  readonly verifier: NoteVerifier;
  private readonly key: KeyObject;

  constructor(name: string, key: KeyObject) {
    if (key.asymmetricKeyType !== 'ed25519') throw new SignedNoteError('the signing key is not Ed25519');
    this.key = key;
    const publicKey = rawPublicKey(createPublicKey(key));
    this.verifier = { name, keyId: ed25519KeyId(name, publicKey), publicKey };
  }

  async sign(text: string): Promise<Buffer> {
    return sign(null, Buffer.from(text, 'utf8'), this.key);
  }

  /** The key file line: PRIVATE+KEY+<name>+<key ID>+base64(0x01 || seed). */
  formatSignerKey(): string {
    const d = this.key.export({ format: 'jwk' }).d;
    if (typeof d !== 'string') throw new SignedNoteError('the signing key has no private part');
    const seed = Buffer.from(d, 'base64url');
    return `PRIVATE+KEY+${this.verifier.name}+${hex8(this.verifier.keyId)}+${Buffer.concat([Buffer.from([ED25519_TYPE]), seed]).toString('base64')}`;
  }

  /** Reads a key file line. Throws SignedNoteError naming what is wrong (never echoing the key). */
  static parse(text: string): KeyFileSigner {
    const parts = splitPlus(text.trim(), 5);
    if (parts?.[0] !== 'PRIVATE' || parts[1] !== 'KEY')
      throw new SignedNoteError('not a note signer key: expected "PRIVATE+KEY+<name>+<key ID>+<base64 key>"');
    const [, , name, id, encoded] = parts as [string, string, string, string, string];
    checkKeyName(name);
    const key = strictBase64(encoded, 'the signer key');
    if (key.length !== 33 || key[0] !== ED25519_TYPE)
      throw new SignedNoteError('the signer key is not an Ed25519 key (type 0x01 and a 32-byte seed)');
    const signer = new KeyFileSigner(name, ed25519PrivateKey(key.subarray(1)));
    if (hex8(signer.verifier.keyId) !== id)
      throw new SignedNoteError(`the key ID ${id} does not match the signer key`);
    return signer;
  }
}

// PKCS #8 and SPKI wrappers of raw Ed25519 keys (RFC 8410): the fixed DER prefixes before the 32 key bytes.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

export function ed25519PublicKey(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

function checkNoteText(text: string): void {
  if (!text.endsWith('\n')) throw new SignedNoteError('note text must end with a newline');
  if (hasControl(text.replaceAll('\n', ''))) throw new SignedNoteError('note text has a control character');
}

function hasControl(text: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what is refused
  return /[\u0000-\u001f]/.test(text);
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new SignedNoteError('the note is not UTF-8', { cause: error });
  }
}

function strictBase64(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, 'base64');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || bytes.toString('base64') !== text)
    throw new SignedNoteError(`${what} is not standard base64`);
  return bytes;
}

/** Splits at the first `count - 1` '+' signs (the last field is base64, which may hold '+'). */
function splitPlus(text: string, count: number): string[] | undefined {
  const parts: string[] = [];
  let rest = text;
  for (let i = 1; i < count; i++) {
    const at = rest.indexOf('+');
    if (at < 0) return undefined;
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  parts.push(rest);
  return parts;
}

function hex8(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}
