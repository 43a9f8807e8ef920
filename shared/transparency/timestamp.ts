// RFC 3161 time-stamps of checkpoints: the request the sealer sends a timestamp authority (TSA) and the checks
// of its reply, then the offline check `verify --tsa-ca` makes. The ASN.1 and CMS work is PKI.js's (pkijs): a
// maintained implementation of TimeStampReq/TimeStampResp and CMS SignedData, running on node:crypto's WebCrypto.
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

/** Thrown when a TSA reply is refused, malformed, for other data, or not signed by a trusted authority. */
export class TimestampError extends Error {
  override name = 'TimestampError';
}

const SHA256_OID = '2.16.840.1.101.3.4.2.1';

export interface TimestampRequest {
  /** DER TimeStampReq (RFC 3161 2.4.1), Content-Type application/timestamp-query. */
  der: Buffer;
  /** The nonce the reply must echo. */
  nonce: Buffer;
}

/** A TimeStampReq over SHA-256 of `data`, with a random nonce, asking for the TSA's certificate. */
export function timestampRequest(data: Uint8Array): TimestampRequest {
  const nonce = randomBytes(8);
  nonce[0] = (nonce[0] as number) & 0x7f; // a positive INTEGER
  const request = new pkijs.TimeStampReq({
    version: 1,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: SHA256_OID }),
      hashedMessage: new asn1js.OctetString({ valueHex: sha256(data) }),
    }),
    nonce: new asn1js.Integer({ valueHex: nonce }),
    certReq: true,
  });
  return { der: Buffer.from(request.toSchema().toBER(false)), nonce };
}

export interface TimestampFacts {
  /** ISO 8601 UTC: the TSTInfo genTime. */
  time: string;
  /** The TSA's policy OID. */
  policy: string;
  /** The serial number of the time-stamp, hex. */
  serial: string;
}

/**
 * Checks a TSA reply against the request it answers (RFC 3161 2.4.2): granted, a token over SHA-256 of `data`, the
 * request's nonce. Returns the token's facts. Throws TimestampError saying what is wrong (the TSA's own status
 * text when it refused).
 */
export function checkTimestampReply(reply: Uint8Array, data: Uint8Array, nonce?: Buffer): TimestampFacts {
  const response = parseReply(reply);
  const tst = tstInfo(response);
  if (!Buffer.from(tst.messageImprint.hashedMessage.valueBlock.valueHexView).equals(sha256(data)))
    throw new TimestampError('the time-stamp is of other data than the checkpoint');
  if (tst.messageImprint.hashAlgorithm.algorithmId !== SHA256_OID)
    throw new TimestampError(
      `the time-stamp hashes with ${tst.messageImprint.hashAlgorithm.algorithmId}, not SHA-256`,
    );
  if (nonce) {
    const echoed = tst.nonce ? Buffer.from(tst.nonce.valueBlock.valueHexView) : undefined;
    if (!echoed || BigInt(`0x${echoed.toString('hex')}`) !== BigInt(`0x${nonce.toString('hex')}`))
      throw new TimestampError('the time-stamp does not carry the nonce of the request');
  }
  return {
    time: tst.genTime.toISOString(),
    policy: tst.policy,
    serial: Buffer.from(tst.serialNumber.valueBlock.valueHexView).toString('hex'),
  };
}

/**
 * The offline check of a stored reply (`verify --tsa-ca`): the reply's token is over SHA-256 of `data`, its CMS
 * signature verifies, and the signer's certificate chains to one of `trusted` (PEM or DER certificates) at the
 * token's time. Returns its facts. Throws TimestampError naming what failed.
 */
export async function verifyTimestamp(
  reply: Uint8Array,
  data: Uint8Array,
  trusted: readonly Uint8Array[],
): Promise<TimestampFacts> {
  const facts = checkTimestampReply(reply, data);
  const response = parseReply(reply);
  const trustedCerts = trusted.map((bytes, i) => {
    try {
      return pkijs.Certificate.fromBER(Buffer.from(new X509Certificate(bytes).raw));
    } catch (error) {
      throw new TimestampError(`trusted certificate ${i + 1} is not an X.509 certificate`, { cause: error });
    }
  });
  const signed = new pkijs.SignedData({ schema: response.timeStampToken?.content });
  let ok: boolean;
  try {
    ok = await signed.verify({ signer: 0, data: arrayBuffer(data), trustedCerts, checkChain: true });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TimestampError(`the time-stamp does not verify: ${reason}`, { cause: error });
  }
  if (!ok) throw new TimestampError('the time-stamp signature does not verify');
  return facts;
}

/** PEM blocks of a file of certificates, each as DER; a DER file as itself. */
export function certificatesOf(file: Buffer): Buffer[] {
  const text = file.toString('latin1');
  const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
  if (blocks.length === 0) return [file];
  return blocks.map((block) => Buffer.from((block[1] as string).replace(/\s+/g, ''), 'base64'));
}

function parseReply(reply: Uint8Array): pkijs.TimeStampResp {
  let response: pkijs.TimeStampResp;
  try {
    response = pkijs.TimeStampResp.fromBER(arrayBuffer(reply));
  } catch (error) {
    throw new TimestampError('the time-stamp is not an RFC 3161 TimeStampResp', { cause: error });
  }
  const status = response.status.status;
  if (status !== pkijs.PKIStatus.granted && status !== pkijs.PKIStatus.grantedWithMods) {
    const text = response.status.statusStrings?.map((s) => s.valueBlock.value).join('; ');
    throw new TimestampError(`the timestamp authority refused (status ${status}${text ? `: ${text}` : ''})`);
  }
  if (!response.timeStampToken) throw new TimestampError('the timestamp authority granted but sent no token');
  return response;
}

function tstInfo(response: pkijs.TimeStampResp): pkijs.TSTInfo {
  try {
    const signed = new pkijs.SignedData({ schema: response.timeStampToken?.content });
    const content = signed.encapContentInfo.eContent;
    if (!content) throw new Error('no encapsulated content');
    return pkijs.TSTInfo.fromBER(content.getValue());
  } catch (error) {
    throw new TimestampError('the time-stamp token holds no TSTInfo', { cause: error });
  }
}

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

function arrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
