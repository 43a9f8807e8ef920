// doctor's `transparency key` (cli/doctor/transparency-key.ts): locally the key file's public half, made by the
// first seal (a file others can read fails, with the chmod to run); on AWS the KMS key's public key through
// GetPublicKey, against a stand-in that follows KMS's documented answer for an ECC_NIST_EDWARDS25519 key (no KMS
// runs here). The key printed is the line `verify --key` takes: it verifies a checkpoint the key signed.
import { generateKeyPairSync, sign } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { awsTransparencyKey, localTransparencyKey } from '../../../../cli/doctor/transparency-key';
import { openLocalLogSigner } from '../../../../cli/local/log-signing-key';
import { openCheckpoint, signCheckpoint } from '../../../../shared/transparency/checkpoint';
import { EMPTY_ROOT } from '../../../../shared/transparency/merkle';
import { parseVerifierKey } from '../../../../shared/transparency/note';
import { exampleConfig } from '../../../support/config';

const config = exampleConfig();
const kms = mockClient(KMSClient);
const homes: string[] = [];
afterEach(() => {
  kms.reset();
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

describe('doctor prints the transparency key', () => {
  it('locally: none before the first seal, then the key file public half; a readable key file fails', async () => {
    const home = mkdtempSync(join(tmpdir(), 'transparency-key-'));
    homes.push(home);
    const before = await localTransparencyKey(home, config);
    expect(before.check).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^none yet/) });
    expect(before.key).toBeUndefined();

    const { signer, path } = await openLocalLogSigner(home, config);
    const after = await localTransparencyKey(home, config);
    expect(after.check.status).toBe('ok');
    const checkpoint = await signCheckpoint(
      { origin: signer.verifier.name, size: 0, root: EMPTY_ROOT },
      signer,
    );
    expect(openCheckpoint(checkpoint, parseVerifierKey(after.key as string)).size).toBe(0);

    chmodSync(path, 0o644);
    const readable = await localTransparencyKey(home, config);
    expect(readable.check).toMatchObject({ status: 'fail', fix: `chmod 600 ${path}` });
  });

  it('on AWS: the public key of the KMS key; not deployed warns; a refused GetPublicKey fails', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    kms.on(GetPublicKeyCommand).resolves({
      KeySpec: 'ECC_NIST_EDWARDS25519',
      KeyUsage: 'SIGN_VERIFY',
      PublicKey: publicKey.export({ format: 'der', type: 'spki' }),
    });
    const arn = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const client = new KMSClient({ region: 'eu-west-1' });
    const found = await awsTransparencyKey(client, arn, config);
    expect(found.check.status).toBe('ok');
    const verifier = parseVerifierKey(found.key as string);
    expect(verifier.name).toBe(`${config.domains[0]}/mail-archiver/${config.stackName}`);
    const signed = await signCheckpoint(
      { origin: verifier.name, size: 0, root: EMPTY_ROOT },
      { verifier, sign: async (text) => sign(null, Buffer.from(text), privateKey) },
    );
    expect(openCheckpoint(signed, verifier).size).toBe(0);

    expect((await awsTransparencyKey(client, undefined, config)).check.status).toBe('warn');
    kms
      .on(GetPublicKeyCommand)
      .rejects(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' }));
    expect((await awsTransparencyKey(client, arn, config)).check).toMatchObject({
      status: 'fail',
      fix: expect.stringMatching(/kms:GetPublicKey/),
    });
  });
});
