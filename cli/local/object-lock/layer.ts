// S3 Versioning and Object Lock for the local S3 server. s3rver 3.7.1 has neither: it overwrites an object in
// place and deletes it for good, and it would take `PUT ?retention` for a PutObject of the XML body. This layer,
// a Koa middleware placed inside s3rver's XML encoder and before its router, gives a bucket created with Object
// Lock (or versioned later) S3's documented behaviour, so that the same handler code paths run as on AWS:
// - every write (PutObject, CompleteMultipartUpload) makes a new version and answers its `x-amz-version-id`; the
//   version it replaces keeps its bytes (journal.ts), readable by `versionId`;
// - DeleteObject without a version id places a delete marker; with one it removes that version, unless a legal
//   hold or an unexpired retention protects it: 403 AccessDenied (compliance: always; governance: unless the
//   request carries `x-amz-bypass-governance-retention: true` and is signed by a key allowed to bypass);
// - PutObjectRetention / PutObjectLegalHold (which need Content-MD5 or an x-amz-checksum-* header, as S3 does),
//   their Get counterparts, ListObjectVersions, Get/PutBucketVersioning and Get/PutObjectLockConfiguration
//   (bucket-level requests: bucket.ts);
// - object tags per version: Get/PutObjectTagging with or without a version id, and PutObject's x-amz-tagging
//   (the canary's tag, which S3's lifecycle rule and the lock sweep read; s3rver kept one tag set per key).
// Sources: Amazon S3 User Guide, "How S3 Object Lock works" (object-lock-overview), "Object Lock considerations"
// (object-lock-managing), "Working with delete markers"; S3 API Reference, PutObjectRetention, DeleteObject,
// PutObjectTagging, GetObjectTagging.
// Not implemented (answered 501, never silently done unversioned): DeleteObjects and CopyObject on a versioned
// bucket, and default retention in a bucket's lock configuration (SES cannot write into such a bucket anyway).
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { requestAccessKeyId } from '../s3-access';
import { bucketRequests } from './bucket';
import { type LockMode, newVersionId, VersionJournal, type VersionRecord } from './journal';
import {
  type CurrentObjects,
  header,
  type LayerContext,
  readBody,
  requireChecksum,
  s3Error,
  tag,
} from './s3-request';

export interface ObjectLockLayerOptions {
  journal: VersionJournal;
  store: CurrentObjects;
  /** Access key ids whose requests may bypass governance retention (none by default, as for every stack role). */
  governanceBypassKeyIds?: string[];
  now?: () => Date;
}

/** The middleware; `install` puts it where it must be in s3rver's stack. */
export function objectLockLayer(options: ObjectLockLayerOptions) {
  const { journal, store } = options;
  const now = options.now ?? (() => new Date());
  const bypassKeys = new Set(options.governanceBypassKeyIds ?? []);

  /** Versions of a key, with an object written before versioning recorded as S3's `null` version. */
  async function versionsOf(bucket: string, key: string): Promise<VersionRecord[]> {
    const known = journal.versions(bucket, key);
    if (known.length > 0 || !(await store.existsObject(bucket, key))) return known;
    const info = await stat(store.getResourcePath(bucket, key, 'object'));
    await journal.addVersion(bucket, key, {
      versionId: 'null',
      lastModified: info.mtime.toISOString(),
      size: info.size,
    });
    return journal.versions(bucket, key);
  }

  const isLocked = (record: VersionRecord, at: Date) =>
    record.retention && new Date(record.retention.until) > at ? record.retention.mode : undefined;

  function mayBypass(ctx: LayerContext): boolean {
    if (header(ctx, 'x-amz-bypass-governance-retention')?.toLowerCase() !== 'true') return false;
    const keyId = requestAccessKeyId(ctx);
    if (keyId && bypassKeys.has(keyId)) return true;
    throw s3Error(403, 'AccessDenied', 'Access Denied: s3:BypassGovernanceRetention is not granted');
  }

  /** Refuses to remove a version a legal hold or an unexpired retention protects. */
  function assertDeletable(ctx: LayerContext, record: VersionRecord): void {
    if (record.legalHold)
      throw s3Error(403, 'AccessDenied', 'Access Denied because object protected by object lock.');
    const mode = isLocked(record, now());
    if (mode === 'COMPLIANCE' || (mode === 'GOVERNANCE' && !mayBypass(ctx))) {
      throw s3Error(403, 'AccessDenied', 'Access Denied because object protected by object lock.');
    }
  }

  async function keepBytes(bucket: string, key: string, record: VersionRecord): Promise<void> {
    const target = journal.bytesPath(bucket, key, record.versionId);
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    await copyFile(store.getResourcePath(bucket, key, 'object'), target);
  }

  function lockHeaders(ctx: LayerContext, record: VersionRecord | undefined): void {
    ctx.set('x-amz-version-id', record?.versionId ?? 'null');
    if (record?.retention) {
      ctx.set('x-amz-object-lock-mode', record.retention.mode);
      ctx.set('x-amz-object-lock-retain-until-date', record.retention.until);
    }
    if (record?.legalHold !== undefined)
      ctx.set('x-amz-object-lock-legal-hold', record.legalHold ? 'ON' : 'OFF');
  }

  async function write(ctx: LayerContext, next: () => Promise<void>, bucket: string, key: string) {
    const lock = lockRequested(ctx, bucket);
    const current = (await versionsOf(bucket, key)).at(-1);
    const kept = current && !current.deleteMarker ? current : undefined;
    if (kept) await keepBytes(bucket, key, kept);
    await next();
    if (ctx.status < 200 || ctx.status >= 300) {
      if (kept) await rm(journal.bytesPath(bucket, key, kept.versionId), { force: true });
      return;
    }
    const info = await stat(store.getResourcePath(bucket, key, 'object'));
    const record: VersionRecord = {
      versionId: newVersionId(),
      lastModified: info.mtime.toISOString(),
      size: info.size,
      ...(ctx.get('ETag') ? { etag: ctx.get('ETag') } : {}),
      ...(header(ctx, 'content-type') ? { contentType: header(ctx, 'content-type') } : {}),
      ...lock,
      ...tagsRequested(ctx),
    };
    await journal.addVersion(bucket, key, record);
    ctx.set('x-amz-version-id', record.versionId);
  }

  /**
   * PutObject's own lock headers (x-amz-object-lock-*), which need a bucket with Object Lock and an integrity
   * check, as S3 answers them.
   */
  function lockRequested(ctx: LayerContext, bucket: string): Pick<VersionRecord, 'retention' | 'legalHold'> {
    const mode = header(ctx, 'x-amz-object-lock-mode');
    const until = header(ctx, 'x-amz-object-lock-retain-until-date');
    const hold = header(ctx, 'x-amz-object-lock-legal-hold');
    if (!mode && !until && !hold) return {};
    if (!journal.bucket(bucket)?.objectLock) {
      throw s3Error(400, 'InvalidRequest', 'Bucket is missing Object Lock Configuration');
    }
    requireChecksum(ctx);
    // S3 takes a mode and a date together or neither, a known mode, and a date in the future (PutObject).
    if (Boolean(mode) !== Boolean(until)) {
      throw s3Error(
        400,
        'InvalidArgument',
        'x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied',
      );
    }
    if (mode !== undefined && mode !== 'GOVERNANCE' && mode !== 'COMPLIANCE')
      throw s3Error(400, 'InvalidArgument', 'Unknown wormMode directive.');
    const date = until === undefined ? undefined : new Date(until);
    if (date && Number.isNaN(date.getTime()))
      throw s3Error(400, 'InvalidArgument', 'Invalid retain until date');
    if (date && date <= now())
      throw s3Error(400, 'InvalidArgument', 'The retain until date must be in the future!');
    if (hold !== undefined && hold !== 'ON' && hold !== 'OFF')
      throw s3Error(400, 'InvalidArgument', 'Legal Hold must be either of ON or OFF');
    return {
      ...(mode && date ? { retention: { mode: mode as LockMode, until: date.toISOString() } } : {}),
      ...(hold ? { legalHold: hold === 'ON' } : {}),
    };
  }

  async function remove(ctx: LayerContext, bucket: string, key: string, versionId: string | undefined) {
    const versions = await versionsOf(bucket, key);
    const current = versions.at(-1);
    ctx.status = 204;
    ctx.body = null;
    if (versionId === undefined) {
      // No version named: a delete marker becomes current; every version stays (S3 "Working with delete markers").
      if (current && !current.deleteMarker) {
        await keepBytes(bucket, key, current);
        await store.deleteObject(bucket, key);
      }
      const marker: VersionRecord = {
        versionId: newVersionId(),
        deleteMarker: true,
        lastModified: now().toISOString(),
      };
      await journal.addVersion(bucket, key, marker);
      ctx.set('x-amz-delete-marker', 'true');
      ctx.set('x-amz-version-id', marker.versionId);
      return;
    }
    const record = versions.find((r) => r.versionId === versionId);
    ctx.set('x-amz-version-id', versionId);
    if (!record) return;
    if (!record.deleteMarker) assertDeletable(ctx, record);
    else ctx.set('x-amz-delete-marker', 'true');
    if (record === current) {
      if (!record.deleteMarker) await store.deleteObject(bucket, key);
      await journal.removeVersion(bucket, key, versionId);
      const previous = journal.versions(bucket, key).at(-1);
      if (previous && !previous.deleteMarker) {
        // The version before becomes current again: its bytes go back to where s3rver serves them.
        const kept = journal.bytesPath(bucket, key, previous.versionId);
        await store.putObject({
          bucket,
          key,
          content: createReadStream(kept),
          metadata: previous.contentType ? { 'content-type': previous.contentType } : {},
        });
        await rm(kept, { force: true });
      }
      return;
    }
    await journal.removeVersion(bucket, key, versionId);
    await rm(journal.bytesPath(bucket, key, versionId), { force: true });
  }

  function findVersion(versions: VersionRecord[], versionId: string | undefined, key: string): VersionRecord {
    const record =
      versionId === undefined ? versions.at(-1) : versions.find((r) => r.versionId === versionId);
    if (!record) {
      throw versionId === undefined
        ? s3Error(404, 'NoSuchKey', 'The specified key does not exist.')
        : s3Error(404, 'NoSuchVersion', `The specified version does not exist. (${key})`);
    }
    if (record.deleteMarker)
      throw s3Error(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    return record;
  }

  async function retention(ctx: LayerContext, bucket: string, key: string, versionId: string | undefined) {
    if (!journal.bucket(bucket)?.objectLock) {
      throw s3Error(400, 'InvalidRequest', 'Bucket is missing Object Lock Configuration');
    }
    const record = findVersion(await versionsOf(bucket, key), versionId, key);
    if (ctx.method === 'GET') {
      if (!record.retention) {
        throw s3Error(
          404,
          'NoSuchObjectLockConfiguration',
          'The specified object does not have a ObjectLock configuration',
        );
      }
      ctx.body = { Retention: { Mode: record.retention.mode, RetainUntilDate: record.retention.until } };
      return;
    }
    if (ctx.method !== 'PUT')
      throw s3Error(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    requireChecksum(ctx);
    const xml = await readBody(ctx.req);
    const mode = tag(xml, 'Mode');
    const untilText = tag(xml, 'RetainUntilDate');
    const at = now();
    if (mode !== undefined && mode !== 'GOVERNANCE' && mode !== 'COMPLIANCE') {
      throw s3Error(
        400,
        'MalformedXML',
        'The XML you provided was not well-formed or did not validate against our published schema',
      );
    }
    const until = untilText ? new Date(untilText) : undefined;
    if (until && Number.isNaN(until.getTime()))
      throw s3Error(400, 'InvalidArgument', 'Invalid retain until date');
    if (until && until <= at)
      throw s3Error(400, 'InvalidArgument', 'The retain until date must be in the future!');
    const active = isLocked(record, at);
    const shortens =
      !mode || !until || mode !== record.retention?.mode || until < new Date(record.retention?.until ?? 0);
    if (active === 'COMPLIANCE' && shortens) {
      throw s3Error(403, 'AccessDenied', 'Access Denied because object protected by object lock.');
    }
    if (active === 'GOVERNANCE' && shortens && !mayBypass(ctx)) {
      throw s3Error(403, 'AccessDenied', 'Access Denied because object protected by object lock.');
    }
    const { retention: _old, ...rest } = record;
    const updated: VersionRecord =
      mode && until ? { ...rest, retention: { mode, until: until.toISOString() } } : rest;
    await journal.updateVersion(bucket, key, updated);
    ctx.status = 200;
    ctx.body = null;
  }

  async function legalHold(ctx: LayerContext, bucket: string, key: string, versionId: string | undefined) {
    if (!journal.bucket(bucket)?.objectLock) {
      throw s3Error(400, 'InvalidRequest', 'Bucket is missing Object Lock Configuration');
    }
    const record = findVersion(await versionsOf(bucket, key), versionId, key);
    if (ctx.method === 'GET') {
      ctx.body = { LegalHold: { Status: record.legalHold ? 'ON' : 'OFF' } };
      return;
    }
    requireChecksum(ctx);
    const status = tag(await readBody(ctx.req), 'Status');
    if (status !== 'ON' && status !== 'OFF') {
      throw s3Error(
        400,
        'MalformedXML',
        'The XML you provided was not well-formed or did not validate against our published schema',
      );
    }
    await journal.updateVersion(bucket, key, { ...record, legalHold: status === 'ON' });
    ctx.status = 200;
    ctx.body = null;
  }

  async function tagging(ctx: LayerContext, bucket: string, key: string, versionId: string | undefined) {
    const record = findVersion(await versionsOf(bucket, key), versionId, key);
    ctx.set('x-amz-version-id', record.versionId);
    if (ctx.method === 'GET') {
      const tags = Object.entries(record.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
      ctx.body = { Tagging: { TagSet: tags.length > 0 ? { Tag: tags } : {} } };
      return;
    }
    if (ctx.method !== 'PUT' && ctx.method !== 'DELETE')
      throw s3Error(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    const tags: Record<string, string> = {};
    if (ctx.method === 'PUT') {
      const xml = await readBody(ctx.req);
      for (const [, inner] of xml.matchAll(/<Tag>([\s\S]*?)<\/Tag>/g)) {
        const k = tag(inner ?? '', 'Key');
        if (k === undefined) throw s3Error(400, 'MalformedXML', 'The XML you provided was not well-formed');
        tags[unescapeXml(k)] = unescapeXml(tag(inner ?? '', 'Value') ?? '');
      }
      if (Object.keys(tags).length > 10)
        throw s3Error(400, 'BadRequest', 'Object tags cannot be greater than 10');
    }
    const { tags: _old, ...rest } = record;
    await journal.updateVersion(bucket, key, Object.keys(tags).length > 0 ? { ...rest, tags } : rest);
    ctx.status = ctx.method === 'PUT' ? 200 : 204;
    ctx.body = null;
  }

  async function read(ctx: LayerContext, next: () => Promise<void>, bucket: string, key: string) {
    const versions = await versionsOf(bucket, key);
    const versionId = ctx.query.versionId;
    const current = versions.at(-1);
    if (versionId === undefined || versionId === current?.versionId) {
      if (versionId !== undefined && current?.deleteMarker) findVersion(versions, versionId, key);
      if (versionId !== undefined) {
        const { versionId: _v, ...query } = ctx.query;
        ctx.query = query;
      }
      await next();
      if (ctx.status >= 200 && ctx.status < 300) lockHeaders(ctx, current);
      return;
    }
    const record = findVersion(versions, versionId, key);
    const path = journal.bytesPath(bucket, key, record.versionId);
    ctx.status = 200;
    ctx.set('Last-Modified', new Date(record.lastModified).toUTCString());
    if (record.etag) ctx.set('ETag', record.etag);
    ctx.set('Content-Type', record.contentType ?? 'binary/octet-stream');
    lockHeaders(ctx, record);
    ctx.body = ctx.method === 'HEAD' ? null : createReadStream(path);
    ctx.length = record.size ?? (await stat(path)).size;
  }

  const bucketRequest = bucketRequests(journal, store, versionsOf);

  return async (ctx: LayerContext, next: () => Promise<void>) => {
    const match = /^\/([^/]+)(?:\/(.*))?$/.exec(ctx.path);
    if (!match) return next();
    const bucket = decodeURIComponent(match[1] as string);
    if (!match[2]) return bucketRequest(ctx, next, bucket);
    const key = decodeURIComponent(match[2]);
    const q = ctx.query;
    const state = journal.bucket(bucket);
    if (!state?.versioning) {
      const lockHeader = Object.keys(ctx.headers).some((h) => h.startsWith('x-amz-object-lock-'));
      if ('retention' in q || 'legal-hold' in q || (ctx.method === 'PUT' && lockHeader)) {
        throw s3Error(400, 'InvalidRequest', 'Bucket is missing Object Lock Configuration');
      }
      return next();
    }
    return journal.exclusive(bucket, key, async () => {
      if ('retention' in q) return retention(ctx, bucket, key, q.versionId);
      if ('legal-hold' in q) return legalHold(ctx, bucket, key, q.versionId);
      if ('tagging' in q) return tagging(ctx, bucket, key, q.versionId);
      if (OTHER_SUBRESOURCES.some((s) => s in q)) return next();
      if (ctx.method === 'PUT' && header(ctx, 'x-amz-copy-source')) {
        throw s3Error(
          501,
          'NotImplemented',
          'CopyObject into a versioned bucket is not implemented by the local S3 server',
        );
      }
      if ((ctx.method === 'PUT' && !('partNumber' in q)) || (ctx.method === 'POST' && 'uploadId' in q)) {
        return write(ctx, next, bucket, key);
      }
      if (ctx.method === 'DELETE' && !('uploadId' in q)) return remove(ctx, bucket, key, q.versionId);
      if (ctx.method === 'GET' || ctx.method === 'HEAD') return read(ctx, next, bucket, key);
      return next();
    });
  };
}

/** PutObject's tags (x-amz-tagging: a URL query string, as S3 takes it). */
function tagsRequested(ctx: LayerContext): Pick<VersionRecord, 'tags'> {
  const value = header(ctx, 'x-amz-tagging');
  if (!value) return {};
  return { tags: Object.fromEntries(new URLSearchParams(value)) };
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unescapeXml = (text: string) =>
  text.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => XML_ENTITIES[name] ?? '');

/** Object subresources this layer leaves to s3rver as they are (uploads and parts included). */
const OTHER_SUBRESOURCES = ['acl', 'torrent', 'uploads', 'restore', 'select', 'attributes'];

/** Where the local S3 server keeps versions and Object Lock state, inside its data directory (no bucket's name). */
export const VERSIONS_DIR = '.versions';

/**
 * Puts the layer into s3rver 3.7.1's middleware (after its XML encoder, [1], before everything that routes), its
 * journal under `<dataDir>/.versions`, and hides that directory from ListBuckets (s3rver lists every directory).
 */
export function installObjectLockLayer(
  server: unknown,
  options: Omit<ObjectLockLayerOptions, 'journal' | 'store'> & { dataDir: string },
): void {
  const { dataDir, ...rest } = options;
  const app = server as {
    middleware: unknown[];
    store: CurrentObjects & { listBuckets(): Promise<{ name: string }[]> };
  };
  const { store } = app;
  const listBuckets = store.listBuckets.bind(store);
  store.listBuckets = async () => (await listBuckets()).filter((b) => !b.name.startsWith('.'));
  const journal = new VersionJournal(join(dataDir, VERSIONS_DIR));
  app.middleware.splice(2, 0, objectLockLayer({ ...rest, journal, store }));
}
