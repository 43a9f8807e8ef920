// WriteOnceStore on S3 (AWS or the local S3-compatible server): the transparency log's files under a prefix of
// the raw-mail bucket, each created with a conditional write (PutObject If-None-Match: *, "S3 conditional
// writes": https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html). S3 answers 412
// Precondition Failed when the key exists, and 409 ConditionalRequestConflict when a concurrent write to it is
// under way; either way the object there is read back and compared. With a locker (the archive's lock is on),
// the version a put created is locked at once (PutObjectRetention on PutObject's VersionId: retention is per
// version, https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html); a lock that fails throws,
// and the version it left unlocked is found by the lock sweep (shared/retention/sweep.ts).
import { GetObjectCommand, PutObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { errorName, httpStatusOf } from '../errors';
import type { WriteOnceStore } from '../ports';
import type { ArchiveLocker } from '../retention/lock-policy';
import { LogOverwriteError } from '../transparency/log-files';

export class S3WriteOnceStore implements WriteOnceStore {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    /** The key prefix of every file, ending in `/`. */
    readonly prefix: string,
    /** Locks each version a put creates (under a locked prefix); none: versions are kept, not locked. */
    private readonly locker?: ArchiveLocker,
  ) {}

  async get(path: string): Promise<Buffer | undefined> {
    try {
      const { Body } = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + path }),
      );
      return Body ? Buffer.from(await Body.transformToByteArray()) : Buffer.alloc(0);
    } catch (error) {
      if (httpStatusOf(error) === 404 || errorName(error) === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  async putOnce(path: string, bytes: Buffer, contentType: string): Promise<'created' | 'exists'> {
    const key = this.prefix + path;
    let versionId: string | undefined;
    try {
      ({ VersionId: versionId } = await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: bytes,
          ContentType: contentType,
          IfNoneMatch: '*',
        }),
      ));
    } catch (error) {
      const status = httpStatusOf(error);
      if (status !== 412 && status !== 409) throw error;
      const there = await this.get(path);
      if (there?.equals(bytes)) return 'exists';
      // 409: another writer is putting this key right now; what it put decides, so read once more after it.
      if (status === 409 && there === undefined) return this.putOnce(path, bytes, contentType);
      throw new LogOverwriteError(path);
    }
    await this.locker?.lockVersion({ bucket: this.bucket, key }, versionId ? { versionId } : {});
    return 'created';
  }

  async *list(prefix: string): AsyncIterable<string> {
    for await (const page of paginateListObjectsV2(
      { client: this.s3 },
      { Bucket: this.bucket, Prefix: this.prefix + prefix },
    )) {
      for (const object of page.Contents ?? []) if (object.Key) yield object.Key.slice(this.prefix.length);
    }
  }
}
