// NoteSigner on an AWS KMS key: key spec ECC_NIST_EDWARDS25519, signing algorithm ED25519_SHA_512 with
// MessageType RAW, which is pure Ed25519 (RFC 8032) over the message itself, as C2SP signed-note's type 0x01
// needs; RAW messages are at most 4,096 bytes, and a checkpoint is about 120 (KMS Sign API reference:
// https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html). The private key never leaves KMS; the public
// key (GetPublicKey, DER SubjectPublicKeyInfo) is what `doctor` prints and bundles carry, checked offline by
// node:crypto.
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { type NoteSigner, type NoteVerifier, SignedNoteError, verifierFromSpki } from '../transparency/note';

export const KMS_SIGNING_ALGORITHM = 'ED25519_SHA_512';
export const KMS_KEY_SPEC = 'ECC_NIST_EDWARDS25519';

export class KmsNoteSigner implements NoteSigner {
  private constructor(
    private readonly kms: KMSClient,
    private readonly keyId: string,
    readonly verifier: NoteVerifier,
  ) {}

  /**
   * The signer of the key `keyId` (an id, ARN or alias) under the note key name `name`. Reads the public key
   * once. Throws SignedNoteError when the key is not an Ed25519 signing key.
   */
  static async open(kms: KMSClient, keyId: string, name: string): Promise<KmsNoteSigner> {
    const key = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
    if (key.KeySpec !== KMS_KEY_SPEC || key.KeyUsage !== 'SIGN_VERIFY')
      throw new SignedNoteError(
        `the KMS key ${keyId} is ${key.KeySpec ?? 'unknown'} for ${key.KeyUsage ?? 'unknown'}, not ${KMS_KEY_SPEC} for SIGN_VERIFY`,
      );
    if (!key.PublicKey) throw new SignedNoteError(`KMS returned no public key for ${keyId}`);
    return new KmsNoteSigner(kms, keyId, verifierFromSpki(name, key.PublicKey));
  }

  async sign(text: string): Promise<Buffer> {
    const { Signature } = await this.kms.send(
      new SignCommand({
        KeyId: this.keyId,
        Message: Buffer.from(text, 'utf8'),
        MessageType: 'RAW',
        SigningAlgorithm: KMS_SIGNING_ALGORITHM,
      }),
    );
    if (!Signature) throw new SignedNoteError(`KMS returned no signature from ${this.keyId}`);
    return Buffer.from(Signature);
  }
}
