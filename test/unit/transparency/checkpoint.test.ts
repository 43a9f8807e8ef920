// The checkpoints a user gives verify (--checkpoint, --previous): the one rule bundles and replicas share.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openGivenCheckpoints, signCheckpoint } from '../../../shared/transparency/checkpoint';
import { leafHash } from '../../../shared/transparency/merkle';
import { KeyFileSigner } from '../../../shared/transparency/note';

const origin = 'mail-archiver.example/test';
const signer = new KeyFileSigner(origin, generateKeyPairSync('ed25519').privateKey);
const at = (size: number) => signCheckpoint({ origin, size, root: leafHash(Buffer.from(`${size}`)) }, signer);

describe('openGivenCheckpoints', () => {
  it('opens the given checkpoint and the previous one, and says when the previous one is of a larger tree', async () => {
    const errors: string[] = [];
    const opened = openGivenCheckpoints(
      { given: await at(5), previous: await at(3) },
      signer.verifier,
      errors,
    );
    expect([opened.given?.size, opened.previous?.size, opened.opened, errors]).toEqual([5, 3, true, []]);
    const rolledBack = openGivenCheckpoints(
      { given: await at(3), previous: await at(5) },
      signer.verifier,
      errors,
    );
    expect(rolledBack.opened).toBe(true);
    expect(errors).toEqual(['the previous checkpoint (5) is newer than the checkpoint given (3)']);
  });

  it('names the option whose file does not open, and is not opened', async () => {
    const errors: string[] = [];
    const other = new KeyFileSigner(origin, generateKeyPairSync('ed25519').privateKey);
    const forged = await signCheckpoint({ origin, size: 2, root: leafHash(Buffer.from('x')) }, other);
    const result = openGivenCheckpoints({ given: await at(4), previous: forged }, signer.verifier, errors);
    expect(result.opened).toBe(false);
    expect(result.given?.size).toBe(4);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^the previous checkpoint \(--previous\): /);
    const none = openGivenCheckpoints({ given: 'not a note' }, signer.verifier, []);
    expect([none.given, none.opened]).toEqual([undefined, false]);
  });
});
