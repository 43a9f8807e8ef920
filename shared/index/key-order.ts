// The order S3 lists keys and DynamoDB sorts string keys in: every reader that walks a listing beside the index
// (reconcile's walk, the in-memory index that stands in for DynamoDB) compares keys with this one rule.

/**
 * Orders strings as S3 lists keys and DynamoDB sorts string keys: by their UTF-8 bytes (JavaScript's `<` compares
 * UTF-16 code units, which differs above U+FFFF). ListObjectsV2:
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
 */
export function compareUtf8(a: string, b: string): number {
  // ASCII (every SES message id, every message key): code units and bytes agree.
  if (isAscii(a) && isAscii(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
const isAscii = (s: string) => !/[^\p{ASCII}]/u.test(s);
