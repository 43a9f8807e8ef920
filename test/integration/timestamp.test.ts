// RFC 3161 time-stamps of checkpoints against a real timestamp authority (OpenSSL's `openssl ts -reply` over
// loopback HTTP): the sealer's request is answered and checked, the stored reply verifies offline with the CA
// (and OpenSSL's own `ts -verify` agrees), and a reply for other data, an untrusted CA or a refusal is named.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpTimestampAuthority } from '../../shared/adapters/tsa-client';
import { timestampPath } from '../../shared/transparency/log-files';
import { KeyFileSigner } from '../../shared/transparency/note';
import { seal } from '../../shared/transparency/seal';
import {
  certificatesOf,
  checkTimestampReply,
  TimestampError,
  timestampRequest,
  verifyTimestamp,
} from '../../shared/transparency/timestamp';
import { hasOpenssl, type OpensslTsa, startOpensslTsa } from '../support/openssl-tsa';
import { MemoryWriteOnceStore } from '../support/write-once';

const available = await hasOpenssl();
if (!available) console.warn('SKIPPED: RFC 3161 tests need the openssl binary (Debian package openssl)');

describe.skipIf(!available)('RFC 3161 time-stamps from a real TSA', () => {
  let tsa: OpensslTsa;
  beforeAll(async () => {
    tsa = await startOpensslTsa();
  });
  afterAll(async () => {
    await tsa?.stop();
  });

  it('a request is answered, checked, and the reply verifies offline with the CA', async () => {
    const data = Buffer.from('example.com/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— sig\n');
    const request = timestampRequest(data);
    const reply = await httpTimestampAuthority(tsa.url)(request.der);
    const facts = checkTimestampReply(reply, data, request.nonce);
    expect(facts.policy).toBe('1.3.6.1.4.1.99999.1');
    expect(Math.abs(Date.parse(facts.time) - Date.now())).toBeLessThan(60_000);
    const ca = certificatesOf(Buffer.from(tsa.caPem));
    expect(await verifyTimestamp(reply, data, ca)).toEqual(facts);
    expect(await tsa.opensslVerifies(reply, data)).toBe(true);

    expect(() => checkTimestampReply(reply, Buffer.from('other'), request.nonce)).toThrow(/other data/);
    expect(() => checkTimestampReply(reply, data, timestampRequest(data).nonce)).toThrow(/nonce/);
    await expect(verifyTimestamp(reply, Buffer.from('other'), ca)).rejects.toThrow(TimestampError);
    const stranger = await startOpensslTsa();
    try {
      await expect(verifyTimestamp(reply, data, certificatesOf(Buffer.from(stranger.caPem)))).rejects.toThrow(
        /does not verify/,
      );
    } finally {
      await stranger.stop();
    }
    expect(() => checkTimestampReply(Buffer.from('junk'), data)).toThrow(/not an RFC 3161/);
  });

  it('seal time-stamps each new checkpoint once and keeps the reply beside it', async () => {
    const store = new MemoryWriteOnceStore();
    const signer = new KeyFileSigner('example.com/log', generateKeyPairSync('ed25519').privateKey);
    // A stand-in delivery log holding `ids`, read whole on every seal (repeats are not appended twice).
    const sourceOf = (...ids: string[]) => ({
      start: {},
      async *objects() {
        yield { key: 'a', leaves: ids.map((id) => Buffer.from(id)), unreadable: [] };
      },
      advance: () => ({}),
      facts: (leaf: Buffer) => ({ identity: leaf.toString(), content: '' }),
      parseCursor: () => ({}),
    });
    const source = sourceOf('1');
    const report = await seal({ store, signer, source, timestampAuthority: httpTimestampAuthority(tsa.url) });
    expect(report.timestamp?.time).toBeDefined();
    const reply = (await store.get(timestampPath(1))) as Buffer;
    await verifyTimestamp(reply, Buffer.from(report.checkpoint), certificatesOf(Buffer.from(tsa.caPem)));
    // Nothing new: the same checkpoint, not time-stamped again (the stored reply is never replaced).
    const again = await seal({ store, signer, source, timestampAuthority: httpTimestampAuthority(tsa.url) });
    expect(again.timestamp).toBeUndefined();
    // An authority that is down does not stop a seal; the report says why.
    const down = await seal({
      store,
      signer,
      source: sourceOf('1', '2'),
      timestampAuthority: httpTimestampAuthority('http://127.0.0.1:9/tsa'),
    });
    expect(down.timestampError).toMatch(/did not answer/);
  });
});
