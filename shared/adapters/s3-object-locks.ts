// ObjectLocks on S3 (AWS, or the local server's Object Lock layer, cli/local/object-lock/layer.ts). The SDK adds the
// integrity checksum S3 requires on PutObjectRetention and PutObjectLegalHold (their model marks the checksum
// required, so it is sent even under `requestChecksumCalculation: 'WHEN_REQUIRED'`).
// Sources: S3 API Reference, PutObjectRetention, GetObjectRetention, PutObjectLegalHold, ListObjectVersions,
// PutObjectTagging and GetObjectTagging (a version's tags need s3:PutObjectVersionTagging / GetObjectVersionTagging).
import {
  GetObjectLegalHoldCommand,
  GetObjectRetentionCommand,
  GetObjectTaggingCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { errorName } from '../errors';
import type { ListedVersion, ObjectLocks, ObjectVersion, Retention } from '../ports';

export class S3ObjectLocks implements ObjectLocks {
  constructor(private readonly s3: S3Client) {}

  async retain(version: ObjectVersion, retention: Retention): Promise<void> {
    await this.s3.send(
      new PutObjectRetentionCommand({
        Bucket: version.bucket,
        Key: version.key,
        VersionId: version.versionId,
        Retention: { Mode: retention.mode, RetainUntilDate: new Date(retention.retainUntil) },
      }),
    );
  }

  async retention(version: ObjectVersion): Promise<Retention | undefined> {
    try {
      const { Retention: found } = await this.s3.send(
        new GetObjectRetentionCommand({
          Bucket: version.bucket,
          Key: version.key,
          VersionId: version.versionId,
        }),
      );
      if (!found?.Mode || !found.RetainUntilDate) return undefined;
      return { mode: found.Mode, retainUntil: new Date(found.RetainUntilDate).toISOString() };
    } catch (error) {
      // S3's answer for a version that has no retention.
      if (errorName(error) === 'NoSuchObjectLockConfiguration') return undefined;
      throw error;
    }
  }

  async setLegalHold(version: ObjectVersion, on: boolean): Promise<void> {
    await this.s3.send(
      new PutObjectLegalHoldCommand({
        Bucket: version.bucket,
        Key: version.key,
        VersionId: version.versionId,
        LegalHold: { Status: on ? 'ON' : 'OFF' },
      }),
    );
  }

  async legalHold(version: ObjectVersion): Promise<boolean> {
    try {
      const { LegalHold } = await this.s3.send(
        new GetObjectLegalHoldCommand({
          Bucket: version.bucket,
          Key: version.key,
          VersionId: version.versionId,
        }),
      );
      return LegalHold?.Status === 'ON';
    } catch (error) {
      // A version that has none; a version that is gone (lifecycle removed one a hold never reached) holds nothing.
      if (['NoSuchObjectLockConfiguration', 'NoSuchVersion', 'NoSuchKey'].includes(errorName(error) ?? ''))
        return false;
      throw error;
    }
  }

  async tag(version: ObjectVersion, tags: Record<string, string>): Promise<void> {
    await this.s3.send(
      new PutObjectTaggingCommand({
        Bucket: version.bucket,
        Key: version.key,
        VersionId: version.versionId,
        Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
      }),
    );
  }

  async tags(version: ObjectVersion): Promise<Record<string, string>> {
    const { TagSet } = await this.s3.send(
      new GetObjectTaggingCommand({ Bucket: version.bucket, Key: version.key, VersionId: version.versionId }),
    );
    return Object.fromEntries((TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  }

  async *versions(bucket: string, prefix: string): AsyncIterable<ListedVersion> {
    let markers: { KeyMarker?: string; VersionIdMarker?: string } = {};
    for (;;) {
      const page: ListObjectVersionsCommandOutput = await this.s3.send(
        new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, ...markers }),
      );
      // S3 returns versions and delete markers in two lists; merged back into listing order.
      const entries: ListedVersion[] = [
        ...(page.Versions ?? []).map((v) => ({
          bucket,
          key: v.Key ?? '',
          versionId: v.VersionId ?? 'null',
          isLatest: v.IsLatest === true,
          deleteMarker: false,
          lastModified: (v.LastModified ?? new Date(0)).toISOString(),
          size: v.Size ?? 0,
        })),
        ...(page.DeleteMarkers ?? []).map((m) => ({
          bucket,
          key: m.Key ?? '',
          versionId: m.VersionId ?? 'null',
          isLatest: m.IsLatest === true,
          deleteMarker: true,
          lastModified: (m.LastModified ?? new Date(0)).toISOString(),
          size: 0,
        })),
      ];
      entries.sort((a, b) =>
        a.key === b.key ? b.lastModified.localeCompare(a.lastModified) : a.key < b.key ? -1 : 1,
      );
      yield* entries;
      if (!page.IsTruncated) return;
      markers = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
    }
  }
}
