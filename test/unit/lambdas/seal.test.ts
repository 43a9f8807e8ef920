// The scheduled seal's handler (lambdas/seal/handler.ts) with fakes: it counts each seal for the 26-hour alarm,
// mails a grown checkpoint (and only then), counts a refused overwrite and conflicting records, and throws after
// sealing when the witness mail or the time-stamp failed, so that the error alarm reports it.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSealHandler } from '../../../lambdas/seal/handler';
import { openCheckpoint } from '../../../shared/transparency/checkpoint';
import { KeyFileSigner, parseVerifierKey } from '../../../shared/transparency/note';
import type { LeafSource } from '../../../shared/transparency/seal';
import { checkpointFromWitness, type WitnessMessage } from '../../../shared/transparency/witness';
import { MemoryWriteOnceStore } from '../../support/write-once';

function setup() {
  const store = new MemoryWriteOnceStore();
  const signer = new KeyFileSigner(
    'example.com/mail-archiver/Test',
    generateKeyPairSync('ed25519').privateKey,
  );
  const leaves: string[] = [];
  const source: LeafSource<object> = {
    start: {},
    async *objects() {
      yield { key: 'k', leaves: leaves.map((l) => Buffer.from(l)), unreadable: [] };
    },
    advance: () => ({}),
    facts: (leaf) => {
      const [identity = '', content = ''] = leaf.toString().split('=');
      return { identity, content };
    },
    parseCursor: () => ({}),
  };
  const mails: WitnessMessage[] = [];
  const metrics: [string, number][] = [];
  let mailFails = false;
  const handler = createSealHandler({
    store,
    signer: async () => signer,
    source,
    witness: {
      async witness(message) {
        if (mailFails) throw new Error('SNS is down');
        mails.push(message);
      },
    },
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    metrics: {
      addMetric: (name: string, _unit: unknown, value: number) => metrics.push([name, value]),
      publishStoredMetrics: () => undefined,
    } as never,
  });
  return { store, signer, leaves, mails, metrics, handler, failMail: () => (mailFails = true) };
}

describe('the seal handler', () => {
  it('counts every seal, mails a grown checkpoint once, and the mail holds a checkpoint that verifies', async () => {
    const { signer, leaves, mails, metrics, handler } = setup();
    leaves.push('INBOX/1=a', 'INBOX/2=b');
    const result = await handler();
    expect(result.size).toBe(2);
    expect(parseVerifierKey(result.key)).toEqual(signer.verifier);
    expect(mails).toHaveLength(1);
    expect(mails[0]?.subject).toBe('mail-archiver checkpoint: 2 deliveries (+2)');
    const saved = checkpointFromWitness(mails[0]?.body ?? '');
    expect(saved).toBe(result.checkpoint);
    expect(openCheckpoint(saved ?? '', signer.verifier).size).toBe(2);
    await handler();
    expect(mails).toHaveLength(1);
    expect(metrics.filter(([name]) => name === 'CheckpointSealed')).toHaveLength(2);
  });

  it('counts conflicts and refused overwrites; a failed mail fails the run after the seal', async () => {
    const { store, leaves, metrics, handler, failMail } = setup();
    leaves.push('INBOX/1=a');
    await handler();
    leaves.push('INBOX/1=other', 'INBOX/2=b');
    failMail();
    await expect(handler()).rejects.toThrow(/sealed at 2, but the checkpoint could not be mailed/);
    expect(metrics).toContainEqual(['LogConflicts', 1]);
    expect([...store.files.keys()].some((p) => p === 'checkpoints/000000000002')).toBe(true);
    // Someone replaced the partial tile a seal writes again: the next seal refuses, counts it and fails.
    const tile = store.files.get('tile/0/000.p/2') as Buffer;
    store.files.set('tile/0/000.p/2', Buffer.alloc(64, 1));
    leaves.push('INBOX/3=c');
    await expect(handler()).rejects.toThrow(/tiles of the log do not hash/);
    store.files.set('tile/0/000.p/2', tile);
    store.files.set('tile/0/000.p/3', Buffer.alloc(96, 1));
    await expect(handler()).rejects.toThrow(/refused to overwrite tile\/0\/000.p\/3/);
    expect(metrics).toContainEqual(['LogOverwriteRefused', 1]);
  });
});
