// Signed notes and checkpoints (shared/transparency/note.ts, checkpoint.ts) against C2SP signed-note and
// tlog-checkpoint, with the published example of Go's golang.org/x/mod/sumdb/note (its key pair, text and
// signature): Ed25519 is deterministic, so signing that text with that key must give that exact note.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CheckpointError,
  checkpointText,
  openCheckpoint,
  parseCheckpointText,
  signCheckpoint,
} from '../../../shared/transparency/checkpoint';
import { EMPTY_ROOT, leafHash } from '../../../shared/transparency/merkle';
import {
  ed25519KeyId,
  formatVerifierKey,
  KeyFileSigner,
  parseSignedNote,
  parseVerifierKey,
  SignedNoteError,
  signNote,
  verifierFromSpki,
  verifyNote,
} from '../../../shared/transparency/note';

const GO_SIGNER = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const GO_VERIFIER = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = `${GO_TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

function newSigner(name: string): KeyFileSigner {
  return new KeyFileSigner(name, generateKeyPairSync('ed25519').privateKey);
}

describe('signed notes (C2SP signed-note)', () => {
  it("signs Go's example byte for byte and opens it", async () => {
    const signer = KeyFileSigner.parse(GO_SIGNER);
    expect(formatVerifierKey(signer.verifier)).toBe(GO_VERIFIER);
    expect(await signNote(GO_TEXT, signer)).toBe(GO_NOTE);
    expect(verifyNote(GO_NOTE, parseVerifierKey(GO_VERIFIER))).toBe(GO_TEXT);
    expect(signer.formatSignerKey()).toBe(GO_SIGNER);
  });

  it('refuses an altered text, an altered signature and another key', async () => {
    const verifier = parseVerifierKey(GO_VERIFIER);
    expect(() => verifyNote(GO_NOTE.replace('cryptography', 'cryptographY'), verifier)).toThrow(/altered/);
    expect(() => verifyNote(GO_NOTE.replace('x08go', 'x08gp'), verifier)).toThrow(SignedNoteError);
    const other = newSigner('PeterNeumann');
    expect(() => verifyNote(GO_NOTE, other.verifier)).toThrow(/not signed by the key PeterNeumann\+/);
    const forged = await signNote(GO_TEXT, other);
    expect(() => verifyNote(forged, verifier)).toThrow(/not signed by the key/);
  });

  it('ignores signatures by unknown keys but checks every one by the key', async () => {
    const signer = KeyFileSigner.parse(GO_SIGNER);
    const stranger = newSigner('example.com/witness');
    const cosigned = `${GO_NOTE}${(await signNote(GO_TEXT, stranger)).slice(GO_TEXT.length + 1)}`;
    expect(parseSignedNote(cosigned).signatures).toHaveLength(2);
    expect(verifyNote(cosigned, signer.verifier)).toBe(GO_TEXT);
    expect(verifyNote(cosigned, stranger.verifier)).toBe(GO_TEXT);
    // A second line claiming the key's name and ID with a bad signature fails the note.
    const lines = GO_NOTE.split('\n');
    const bad = `${GO_NOTE}${lines[3]?.replace('x08go/', 'x08go+')}\n`;
    expect(() => verifyNote(bad, signer.verifier)).toThrow(/altered/);
  });

  it('refuses malformed notes with the reason', () => {
    const verifier = parseVerifierKey(GO_VERIFIER);
    expect(() => verifyNote(GO_NOTE.slice(0, -1), verifier)).toThrow(/end with a newline/);
    expect(() => verifyNote(GO_TEXT, verifier)).toThrow(/blank line|signature line/);
    expect(() => verifyNote(GO_NOTE.replace('\u2014', '-'), verifier)).toThrow(/signature line 1/);
    expect(() => verifyNote(GO_NOTE.replace('problem,', 'problem,\r'), verifier)).toThrow(/control/);
    expect(() => verifyNote(Buffer.from([0xff, 0x0a, 0x0a]), verifier)).toThrow(/not UTF-8/);
    // An empty file given as --checkpoint: said so, not "does not end with a newline".
    expect(() => verifyNote('', verifier)).toThrow(/^the note is empty$/);
  });

  it('key strings: round trip, wrong key ID, wrong type, bad names', () => {
    const signer = newSigner('example.com/mail-archiver/Test');
    const line = formatVerifierKey(signer.verifier);
    expect(parseVerifierKey(`${line}\n`)).toEqual(signer.verifier);
    expect(KeyFileSigner.parse(signer.formatSignerKey()).verifier).toEqual(signer.verifier);
    expect(() => parseVerifierKey(line.replace(/\+[0-9a-f]{8}\+/, '+00000000+'))).toThrow(/does not match/);
    expect(() => parseVerifierKey('PeterNeumann+c74f20a3+AhpC')).toThrow(/not an Ed25519 key/);
    expect(() => parseVerifierKey('no key here')).toThrow(/not a note verifier key/);
    expect(() => ed25519KeyId('two words', Buffer.alloc(32))).toThrow(/not a key name/);
    // A binary file given as --key: the message shows no raw control bytes and stays one short line.
    const binary = `${'\u0007\u001b[2J\u0000\u009b'.repeat(100)}+01234567+AQ==`;
    expect(() => parseVerifierKey(binary)).toThrow(SignedNoteError);
    try {
      parseVerifierKey(binary);
    } catch (error) {
      const message = (error as Error).message;
      expect(message).not.toMatch(/\p{Cc}/u);
      expect(message.length).toBeLessThan(160);
      expect(message).toMatch(/is not a key name/);
    }
    expect(() => KeyFileSigner.parse(GO_VERIFIER)).toThrow(/not a note signer key/);
  });

  it('reads a public key as KMS returns it (DER SubjectPublicKeyInfo)', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const signer = new KeyFileSigner('example.com/log', privateKey);
    expect(verifierFromSpki('example.com/log', spki)).toEqual(signer.verifier);
    const rsa = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      format: 'der',
      type: 'spki',
    });
    expect(() => verifierFromSpki('example.com/log', rsa)).toThrow(/ec, not Ed25519/);
  });
});

describe('checkpoints (C2SP tlog-checkpoint)', () => {
  const origin = 'example.com/mail-archiver/Test';
  const root = leafHash(Buffer.from('x'));

  it('the text is origin, size and base64 root; signed and opened again', async () => {
    const signer = newSigner(origin);
    const text = checkpointText({ origin, size: 20852163, root });
    expect(text).toBe(`${origin}\n20852163\n${root.toString('base64')}\n`);
    const note = await signCheckpoint({ origin, size: 20852163, root }, signer);
    expect(note.startsWith(`${text}\n\u2014 ${origin} `)).toBe(true);
    expect(openCheckpoint(note, signer.verifier)).toEqual({ origin, size: 20852163, root, extensions: [] });
    expect(checkpointText({ origin, size: 0, root: EMPTY_ROOT })).toBe(
      `${origin}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n`,
    );
  });

  it('refuses another signer, another origin and malformed text', async () => {
    const signer = newSigner(origin);
    const note = await signCheckpoint({ origin, size: 3, root }, signer);
    expect(() => openCheckpoint(note, newSigner(origin).verifier)).toThrow(/not signed by the key/);
    const otherLog = newSigner('example.com/other');
    await expect(signCheckpoint({ origin, size: 3, root }, otherLog)).rejects.toThrow(CheckpointError);
    const foreign = await signNote(`example.com/elsewhere\n3\n${root.toString('base64')}\n`, otherLog);
    expect(() => openCheckpoint(foreign, otherLog.verifier)).toThrow(/of the log example.com\/elsewhere/);
    expect(() => parseCheckpointText(`${origin}\n03\n${root.toString('base64')}\n`)).toThrow(/tree size/);
    expect(() => parseCheckpointText(`${origin}\n3\nAAAA\n`)).toThrow(/not a base64 SHA-256/);
    expect(() => parseCheckpointText(`${origin}\n3\n`)).toThrow(/three lines/);
    expect(parseCheckpointText(`${origin}\n3\n${root.toString('base64')}\nextra\n`).extensions).toEqual([
      'extra',
    ]);
  });
});
