// Bucket-level requests of the local Object Lock layer (layer.ts): creating a bucket with Object Lock,
// Get/PutBucketVersioning, Get/PutObjectLockConfiguration and ListObjectVersions, as the S3 API Reference describes
// them. DeleteObjects on a versioned bucket is answered 501 (never done unversioned).
import type { VersionJournal, VersionRecord } from './journal';
import {
  type CurrentObjects,
  header,
  type LayerContext,
  readBody,
  requireChecksum,
  s3Error,
  tag,
} from './s3-request';

/**
 * The handler of requests on a bucket (no key). `versionsOf` records an object written before versioning as S3's
 * `null` version (layer.ts); requests this layer does not answer go on to s3rver (`next`).
 */
export function bucketRequests(
  journal: VersionJournal,
  store: CurrentObjects,
  versionsOf: (bucket: string, key: string) => Promise<VersionRecord[]>,
) {
  async function bucketRequest(ctx: LayerContext, next: () => Promise<void>, bucket: string) {
    const q = ctx.query;
    if (ctx.method === 'PUT' && Object.keys(q).length === 0) {
      await next();
      if (ctx.status === 200 && header(ctx, 'x-amz-bucket-object-lock-enabled')?.toLowerCase() === 'true') {
        await journal.setBucket(bucket, { versioning: 'Enabled', objectLock: true });
      }
      return;
    }
    const state = journal.bucket(bucket);
    if ('versioning' in q) {
      if (ctx.method === 'GET') {
        ctx.body = { VersioningConfiguration: state?.versioning ? { Status: state.versioning } : {} };
        return;
      }
      const status = tag(await readBody(ctx.req), 'Status');
      if (status !== 'Enabled' && status !== 'Suspended')
        throw s3Error(400, 'MalformedXML', 'Bad versioning status');
      if (status === 'Suspended' && state?.objectLock) {
        throw s3Error(
          409,
          'InvalidBucketState',
          'An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.',
        );
      }
      if (status === 'Enabled' && !state?.versioning) {
        // Objects written before versioning are S3's `null` versions: recorded now, so that they are listed.
        const { objects } = await store.listObjects(bucket, {});
        for (const { key } of objects) await journal.exclusive(bucket, key, () => versionsOf(bucket, key));
      }
      await journal.setBucket(bucket, { versioning: status });
      ctx.status = 200;
      ctx.body = null;
      return;
    }
    if ('object-lock' in q) {
      if (ctx.method === 'GET') {
        if (!state?.objectLock) {
          throw s3Error(
            404,
            'ObjectLockConfigurationNotFoundError',
            'Object Lock configuration does not exist for this bucket',
          );
        }
        ctx.body = { ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } };
        return;
      }
      requireChecksum(ctx);
      const xml = await readBody(ctx.req);
      if (xml.includes('<Rule>')) {
        throw s3Error(
          501,
          'NotImplemented',
          'Default retention is not implemented by the local S3 server (SES cannot write into such a bucket)',
        );
      }
      if (state?.versioning !== 'Enabled') {
        throw s3Error(
          409,
          'InvalidBucketState',
          'Versioning must be Enabled on the bucket to apply a Object Lock configuration',
        );
      }
      await journal.setBucket(bucket, { objectLock: true });
      ctx.status = 200;
      ctx.body = null;
      return;
    }
    if (state?.versioning && 'versions' in q && ctx.method === 'GET') {
      ctx.body = await listVersions(bucket, q);
      return;
    }
    if (state?.versioning && 'delete' in q) {
      throw s3Error(
        501,
        'NotImplemented',
        'DeleteObjects on a versioned bucket is not implemented by the local S3 server',
      );
    }
    await next();
  }

  async function listVersions(bucket: string, q: Record<string, string | undefined>) {
    const prefix = q.prefix ?? '';
    const maxKeys = Math.min(Number(q['max-keys'] ?? 1000) || 1000, 1000);
    const keys = journal
      .keysOf(bucket)
      .filter((k) => k.startsWith(prefix))
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    // S3 lists keys in order and, within a key, its versions newest first.
    const ordered = keys.flatMap((key) => {
      const versions = journal.versions(bucket, key);
      return versions.map((record, i) => ({ key, record, latest: i === versions.length - 1 })).reverse();
    });
    let start = 0;
    const keyMarker = q['key-marker'];
    if (keyMarker) {
      const versionMarker = q['version-id-marker'];
      const at = versionMarker
        ? ordered.findIndex((r) => r.key === keyMarker && r.record.versionId === versionMarker)
        : -1;
      start = at >= 0 ? at + 1 : ordered.findIndex((r) => r.key > keyMarker);
      if (start < 0) start = ordered.length;
    }
    const page = ordered.slice(start, start + maxKeys);
    const truncated = start + maxKeys < ordered.length;
    const last = page.at(-1);
    const entry = (r: (typeof page)[number]) => ({
      Key: r.key,
      VersionId: r.record.versionId,
      IsLatest: r.latest,
      LastModified: r.record.lastModified,
    });
    return {
      ListVersionsResult: {
        Name: bucket,
        Prefix: prefix,
        MaxKeys: maxKeys,
        IsTruncated: truncated,
        ...(truncated && last ? { NextKeyMarker: last.key, NextVersionIdMarker: last.record.versionId } : {}),
        Version: page
          .filter((r) => !r.record.deleteMarker)
          .map((r) => ({
            ...entry(r),
            ETag: r.record.etag ?? '""',
            Size: r.record.size ?? 0,
            StorageClass: 'STANDARD',
          })),
        DeleteMarker: page.filter((r) => r.record.deleteMarker).map(entry),
      },
    };
  }

  return bucketRequest;
}
