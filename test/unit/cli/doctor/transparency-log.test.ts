// doctor's `transparency log` check (cli/doctor/transparency-log.ts) over an in-memory log sealed by the real
// sealer: ok with the size and the last seal's time; a checkpoint, a tile or the newest entry bundle written over
// after the seal fails naming the file; a log that cannot be read warns; a log never sealed is ok.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { transparencyLogCheck } from '../../../../cli/doctor/transparency-log';
import { formatVerifierKey, KeyFileSigner } from '../../../../shared/transparency/note';
import { type LeafSource, seal } from '../../../../shared/transparency/seal';
import { MemoryWriteOnceStore } from '../../../support/write-once';

const ORIGIN = 'example.com/mail-archiver/Test/local';

/** 300 leaves in one object: a full entry bundle and a partial one. */
const source: LeafSource<{ read: boolean }> = {
  start: { read: false },
  async *objects(cursor) {
    if (!cursor.read)
      yield {
        key: 'a',
        leaves: Array.from({ length: 300 }, (_, i) => Buffer.from(JSON.stringify({ id: i }))),
        unreadable: [],
      };
  },
  advance: () => ({ read: true }),
  facts: (leaf) => ({ identity: leaf.toString(), content: leaf.toString() }),
  parseCursor: (value) => value as { read: boolean },
};

describe('doctor: the transparency log', () => {
  it('ok when the head is sound, fails naming a rewritten file, warns when unreadable', async () => {
    const store = new MemoryWriteOnceStore();
    const signer = new KeyFileSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);
    const key = formatVerifierKey(signer.verifier);
    expect(await transparencyLogCheck(store, key)).toMatchObject({ status: 'ok', detail: /not sealed yet/ });
    await seal({ store, signer, source, now: () => new Date('2026-12-06T21:00:00.000Z') });
    expect(await transparencyLogCheck(store, key)).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/checkpoint of 300 deliveries .*last sealed 2026-12-06T21:00:00\.000Z/),
    });

    const rewrite = async (path: string, change: (bytes: Buffer) => Buffer, expected: RegExp) => {
      const bytes = store.files.get(path) as Buffer;
      store.files.set(path, change(bytes));
      const check = await transparencyLogCheck(store, key);
      store.files.set(path, bytes);
      expect(check).toMatchObject({ status: 'fail', detail: expect.stringMatching(expected) });
      expect(check.fix).toMatch(/when-the-log-is-damaged/);
    };
    const flip = (bytes: Buffer) => Buffer.from(bytes.map((b, i) => (i === 40 ? b ^ 1 : b)));
    await rewrite('checkpoints/000000000300', flip, /^damaged: checkpoints\/000000000300: /);
    await rewrite('tile/0/001.p/44', flip, /tile\/0\/001\.p\/44/);
    await rewrite(
      'tile/entries/001.p/44',
      (bytes) => Buffer.from(bytes.toString('latin1').replace('"id":299', '"id":999'), 'latin1'),
      /leaf 299 of tile\/entries\/001\.p\/44 is not the leaf tile\/0\/001\.p\/44 holds/,
    );
    expect(await transparencyLogCheck(store, key)).toMatchObject({ status: 'ok' });

    const unreadable = new MemoryWriteOnceStore();
    unreadable.list = () => {
      throw new Error('AccessDenied');
    };
    expect(await transparencyLogCheck(unreadable, key)).toMatchObject({
      status: 'warn',
      detail: 'could not read the log: AccessDenied',
    });
  });
});
