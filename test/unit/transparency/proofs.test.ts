// A bundle's proofs (shared/transparency/proofs.ts) checked offline: each message's leaf says its delivery and is
// included under the signed root; the checkpoint given and an older one are the bundle's or proven prefixes of
// it. Each failure names the message or the checkpoint.
import { generateKeyPairSync } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import { describe, expect, it } from 'vitest';
import { signCheckpoint } from '../../../shared/transparency/checkpoint';
import { leafHash, MerkleTree } from '../../../shared/transparency/merkle';
import { KeyFileSigner } from '../../../shared/transparency/note';
import {
  type BundleMessage,
  checkBundleProofs,
  type LeafDelivery,
  proofLine,
  proofsHeaderLine,
} from '../../../shared/transparency/proofs';
import type { SealReport } from '../../../shared/transparency/seal';
import { checkpointNote } from '../../../shared/transparency/verify-bundle';
import { witnessMessage } from '../../../shared/transparency/witness';

const ORIGIN = 'example.com/mail-archiver/Test';
const signer = new KeyFileSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);

// 40 deliveries over two mailboxes; the bundle is alice's.
const deliveries: LeafDelivery[] = Array.from({ length: 40 }, (_, i) => ({
  mailbox: i % 3 === 0 ? 'bob@example.com' : 'alice@example.com',
  folder: i % 2 ? 'INBOX' : 'Sent',
  uidValidity: 1700000000,
  uid: i + 1,
  sha256: String(i).padStart(64, 'a'),
  size: 100 + i,
}));
const leaves = deliveries.map((d) => Buffer.from(JSON.stringify(d)));
const tree = MerkleTree.fromLeafHashes(leaves.map(leafHash));
const checkpointOf = (size: number, by = signer) =>
  signCheckpoint({ origin: ORIGIN, size, root: tree.root(size) }, by);
const readLeaf = (leaf: string) => JSON.parse(leaf) as LeafDelivery;

async function bundle(size = 40) {
  const alice = deliveries
    .map((d, index) => ({ d, index }))
    .filter(({ d, index }) => index < size && d.mailbox === 'alice@example.com');
  const consistency = new Map([10, 25].map((m) => [m, tree.consistencyProof(m, size)]));
  const proofs =
    proofsHeaderLine(size, consistency) +
    alice
      .map(({ d, index }) =>
        proofLine({
          folder: d.folder,
          uid: d.uid,
          index,
          leaf: leaves[index] as Buffer,
          proof: tree.inclusionProof(index, size),
        }),
      )
      .join('');
  const messages: BundleMessage[] = alice.map(({ d }) => ({ ...d }));
  return { proofs, messages, checkpoint: Buffer.from(await checkpointOf(size)) };
}

describe('checkBundleProofs', () => {
  it('proves every message, against the bundle checkpoint and against older ones', async () => {
    const { proofs, messages, checkpoint } = await bundle();
    const check = (given: Buffer, previous?: Buffer) =>
      checkBundleProofs({
        key: signer.verifier,
        checkpoints: { bundle: checkpoint, given, ...(previous ? { previous } : {}) },
        proofs,
        mailbox: 'alice@example.com',
        messages,
        readLeaf,
      });
    expect(check(checkpoint)).toMatchObject({ errors: [], proven: messages.length });
    expect(check(Buffer.from(await checkpointOf(25)), Buffer.from(await checkpointOf(10))).errors).toEqual(
      [],
    );
    // The same file given as its lines (as verify reads a spooled proofs.jsonl): the same answer.
    const lines = proofs.split('\n').slice(0, -1);
    expect(
      checkBundleProofs({
        key: signer.verifier,
        checkpoints: { bundle: checkpoint, given: checkpoint },
        proofs: lines,
        mailbox: 'alice@example.com',
        messages,
        readLeaf,
      }),
    ).toMatchObject({ errors: [], proven: messages.length });
  });

  it('names each failure', async () => {
    const { proofs, messages, checkpoint } = await bundle();
    const base = { key: signer.verifier, proofs, mailbox: 'alice@example.com', readLeaf };
    const errors = (input: Partial<Parameters<typeof checkBundleProofs>[0]>) =>
      checkBundleProofs({
        ...base,
        checkpoints: { bundle: checkpoint, given: checkpoint },
        messages,
        ...input,
      }).errors;

    // A message whose bytes (its sha256 in the manifest) are not what the log recorded.
    const altered = messages.map((m, i) => (i === 2 ? { ...m, sha256: 'f'.repeat(64) } : m));
    expect(errors({ messages: altered })).toEqual([
      `${messages[2]?.folder} UID ${messages[2]?.uid}: the log recorded another delivery (sha256 ${messages[2]?.sha256})`,
    ]);
    // A message the log does not have, and a leaf whose message the bundle lost.
    const extra = [...messages.slice(1), { ...(messages[0] as BundleMessage), uid: 999 }];
    expect(errors({ messages: extra })).toEqual([
      `${messages[0]?.folder} UID 999: not in the log at the checkpoint (tree of 40): not proven`,
      `${messages[0]?.folder} UID ${messages[0]?.uid}: in the log (leaf ${deliveries.indexOf(deliveries.find((d) => d.uid === messages[0]?.uid) as LeafDelivery)}) but missing from the bundle`,
    ]);
    // A message added to the manifest under the folder and UID of a proven one (an mbox bundle has no uidlist to
    // refuse it): whichever comes first, neither counts as proven and the folder and UID are named once.
    const shadow = { ...(messages[0] as BundleMessage), sha256: 'f'.repeat(64) };
    for (const manifest of [
      [shadow, ...messages],
      [...messages, shadow],
    ]) {
      const shadowed = checkBundleProofs({
        ...base,
        checkpoints: { bundle: checkpoint, given: checkpoint },
        messages: manifest,
      });
      expect(shadowed.errors).toEqual([
        `${shadow.folder} UID ${shadow.uid}: more than one message with this folder and UID in the manifest`,
      ]);
      expect(shadowed.proven).toBe(messages.length - 1);
    }
    // A proof that does not lead to the root.
    const tampered = proofs.replace(/"proof":\["[A-Za-z]/, '"proof":["Z');
    expect(errors({ proofs: tampered })[0]).toMatch(/not included under the signed root/);
    // A proof hash that is not base64 of 32 bytes fails its own message only; a second line for one message is named.
    const lines = proofs.split('\n');
    const malformed = [
      lines[0],
      lines[1]?.replace(/"proof":\["[^"]{4}/, '"proof":["!!!!'),
      ...lines.slice(2),
    ].join('\n');
    expect(errors({ proofs: malformed })).toEqual([
      expect.stringMatching(
        new RegExp(`^${messages[0]?.folder} UID ${messages[0]?.uid}: not included under the signed root`),
      ),
    ]);
    expect(errors({ proofs: `${proofs}${lines[1]}\n` })).toEqual([
      expect.stringMatching(new RegExp(`^${messages[0]?.folder} UID ${messages[0]?.uid}: a second proof`)),
    ]);
    // A checkpoint signed by another key, and one with another root for an earlier size (a forked history).
    const other = new KeyFileSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);
    const foreign = Buffer.from(await checkpointOf(40, other));
    expect(errors({ checkpoints: { bundle: checkpoint, given: foreign } })).toEqual([
      expect.stringMatching(/^the checkpoint given \(--checkpoint\): not signed by the key/),
    ]);
    const forked = Buffer.from(
      await signCheckpoint(
        { origin: ORIGIN, size: 25, root: MerkleTree.fromLeafHashes([leafHash(Buffer.from('x'))]).root() },
        signer,
      ),
    );
    expect(errors({ checkpoints: { bundle: checkpoint, given: checkpoint, previous: forked } })).toEqual([
      expect.stringMatching(
        /^the previous checkpoint \(tree of 25\) is not consistent with the bundle's checkpoint/,
      ),
    ]);
    // A checkpoint newer than the bundle's, and a size the log never sealed.
    const older = await bundle(30);
    expect(
      checkBundleProofs({
        ...base,
        proofs: older.proofs,
        messages: older.messages,
        checkpoints: { bundle: older.checkpoint, given: checkpoint },
      }).errors,
    ).toEqual([
      expect.stringMatching(/tree of 40, newer than the bundle's \(30\): the bundle cannot prove against it/),
    ]);
    expect(
      errors({ checkpoints: { bundle: checkpoint, given: Buffer.from(await checkpointOf(7)) } }),
    ).toEqual([
      'the checkpoint given (tree of 7) is not a size this log sealed: no consistency proof for it',
    ]);
    expect(errors({ proofs: undefined })).toEqual([
      'transparency/proofs.jsonl is missing: the bundle carries no proofs',
    ]);
    expect(errors({ proofs: 'not json\n' })).toEqual([expect.stringMatching(/line 1: not JSON/)]);
  });
});

describe('checkpointNote', () => {
  it('reads the checkpoint from the file, a witness mail body, and a saved mail in quoted-printable or base64', async () => {
    const note = Buffer.from(await checkpointOf(40));
    const report = {
      size: 40,
      previousSize: 25,
      origin: ORIGIN,
      sealedAt: '2026-12-06T00:00:00.000Z',
      checkpoint: note.toString('utf8'),
      conflicts: [],
    } as unknown as SealReport;
    const mail = witnessMessage(report, 'key-line');
    expect(await checkpointNote(note)).toEqual(note);
    expect(await checkpointNote(Buffer.from(mail.body))).toEqual(note);
    for (const textEncoding of ['quoted-printable', 'base64'] as const) {
      const raw = await new MailComposer({
        from: 'mail-archiver@example.com',
        to: 'alarms@example.com',
        subject: mail.subject,
        text: mail.body,
        textEncoding,
      })
        .compile()
        .build();
      expect(raw.toString('latin1')).not.toContain(note.toString('utf8').split('\n').at(-2));
      expect(await checkpointNote(raw), textEncoding).toEqual(note);
    }
  });
});
