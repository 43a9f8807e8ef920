// The KMS signer (shared/adapters/kms-note-signer.ts) against a stand-in that follows KMS's documented contract
// for ECC_NIST_EDWARDS25519 keys (no KMS runs here): GetPublicKey answers DER SubjectPublicKeyInfo with KeySpec
// and KeyUsage; Sign with ED25519_SHA_512 takes MessageType RAW only, a message of at most 4,096 bytes, and
// answers the RFC 8032 signature of the message. What it signs must verify offline with node:crypto alone.
import { generateKeyPairSync, sign } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { KmsNoteSigner } from '../../../shared/adapters/kms-note-signer';
import { openCheckpoint, signCheckpoint } from '../../../shared/transparency/checkpoint';
import { EMPTY_ROOT } from '../../../shared/transparency/merkle';
import { formatVerifierKey, parseVerifierKey } from '../../../shared/transparency/note';

const kms = mockClient(KMSClient);
afterEach(() => kms.reset());

function standIn(keySpec = 'ECC_NIST_EDWARDS25519') {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  kms.on(GetPublicKeyCommand).resolves({
    KeySpec: keySpec as 'ECC_NIST_EDWARDS25519',
    KeyUsage: 'SIGN_VERIFY',
    PublicKey: publicKey.export({ format: 'der', type: 'spki' }),
    SigningAlgorithms: ['ED25519_SHA_512', 'ED25519_PH_SHA_512'],
  });
  kms
    .on(SignCommand)
    .callsFake((input: { Message: Uint8Array; MessageType: string; SigningAlgorithm: string }) => {
      if (input.SigningAlgorithm === 'ED25519_SHA_512' && input.MessageType !== 'RAW')
        throw Object.assign(new Error('ED25519_SHA_512 requires MessageType RAW'), {
          name: 'ValidationException',
        });
      if (input.Message.length > 4096)
        throw Object.assign(new Error('message over 4096 bytes'), { name: 'ValidationException' });
      return { Signature: sign(null, input.Message, privateKey), SigningAlgorithm: input.SigningAlgorithm };
    });
}

describe('KmsNoteSigner', () => {
  it('signs checkpoints that verify offline with the public key KMS gives out', async () => {
    standIn();
    const client = new KMSClient({ region: 'us-east-1' });
    const signer = await KmsNoteSigner.open(client, 'alias/log', 'example.com/mail-archiver/Prod');
    const note = await signCheckpoint(
      { origin: 'example.com/mail-archiver/Prod', size: 0, root: EMPTY_ROOT },
      signer,
    );
    // What `doctor` prints and bundles carry, read back the way `verify --key` reads it.
    const key = parseVerifierKey(formatVerifierKey(signer.verifier));
    expect(openCheckpoint(note, key).size).toBe(0);
    const call = kms.commandCalls(SignCommand)[0]?.args[0].input;
    expect(call).toMatchObject({
      KeyId: 'alias/log',
      MessageType: 'RAW',
      SigningAlgorithm: 'ED25519_SHA_512',
    });
  });

  it('refuses a key that is not an Ed25519 signing key', async () => {
    standIn('ECC_NIST_P256');
    await expect(
      KmsNoteSigner.open(new KMSClient({ region: 'us-east-1' }), 'k', 'example.com/log'),
    ).rejects.toThrow(/ECC_NIST_P256 for SIGN_VERIFY, not ECC_NIST_EDWARDS25519/);
  });
});
