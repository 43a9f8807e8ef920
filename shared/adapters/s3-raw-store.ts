// RawMailStore on S3 (AWS or the local S3-compatible server).

import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { errorName, httpStatusOf } from '../errors';
import type { RawLocation } from '../index/schema';
import type {
  ListedObject,
  RawMailStore,
  Retention,
  StoredBody,
  StoredVersion,
  WriteOptions,
} from '../ports';

export class S3RawMailStore implements RawMailStore {
  constructor(
    private readonly s3: S3Client,
    /** Multipart upload part size; S3's minimum is 5 MB. */
    private readonly partSize = 16 * 1024 * 1024,
  ) {}

  async read(location: RawLocation): Promise<StoredBody> {
    const { Body, VersionId, ObjectLockMode, ObjectLockRetainUntilDate } = await this.s3.send(
      new GetObjectCommand({
        Bucket: location.bucket,
        Key: location.key,
        ...(location.versionId ? { VersionId: location.versionId } : {}),
      }),
    );
    if (!Body) throw new Error(`s3://${location.bucket}/${location.key} has no body`);
    return Object.assign(
      Body as AsyncIterable<Uint8Array>,
      versionOf(VersionId),
      retentionOf(ObjectLockMode, ObjectLockRetainUntilDate),
    );
  }

  async write(location: RawLocation, body: Uint8Array, options: WriteOptions = {}): Promise<StoredVersion> {
    const { VersionId } = await this.s3.send(
      new PutObjectCommand({
        Bucket: location.bucket,
        Key: location.key,
        Body: body,
        ContentType: options.contentType ?? 'message/rfc822',
        // S3 takes the tag set as a URL query string (PutObject, x-amz-tagging).
        ...(options.tags ? { Tagging: new URLSearchParams(options.tags).toString() } : {}),
        // S3 requires Content-MD5 or a checksum on an upload that sets a retention (PutObject, Content-MD5); the
        // SDK computes the one named, also under the local clients' WHEN_REQUIRED setting.
        ...(options.retention
          ? {
              ObjectLockMode: options.retention.mode,
              ObjectLockRetainUntilDate: new Date(options.retention.retainUntil),
              ChecksumAlgorithm: 'CRC32' as const,
            }
          : {}),
      }),
      options.signal ? { abortSignal: options.signal } : {},
    );
    return versionOf(VersionId);
  }

  async upload(location: RawLocation, body: Readable, contentType: string): Promise<StoredVersion> {
    // 16 MB parts by default, 4 at a time: 64 MB of buffers at most, up to 160 GB per object (10,000 parts).
    const upload = new Upload({
      client: this.s3,
      params: { Bucket: location.bucket, Key: location.key, Body: body, ContentType: contentType },
      partSize: this.partSize,
      queueSize: 4,
    });
    const { VersionId } = await upload.done();
    return versionOf(VersionId);
  }

  async exists(location: RawLocation): Promise<boolean> {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: location.bucket, Key: location.key }));
      return true;
    } catch (error) {
      const status = httpStatusOf(error);
      if (status === 404 || errorName(error) === 'NotFound') return false;
      throw error;
    }
  }

  async *list(bucket: string, prefix: string, startAfter?: string): AsyncIterable<ListedObject> {
    for await (const page of paginateListObjectsV2(
      { client: this.s3 },
      { Bucket: bucket, Prefix: prefix, ...(startAfter ? { StartAfter: startAfter } : {}) },
    )) {
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        yield {
          key: object.Key,
          size: object.Size ?? 0,
          ...(object.LastModified ? { lastModified: object.LastModified.toISOString() } : {}),
        };
      }
    }
  }
}

/**
 * An unversioned bucket answers no version, or the version "null" (objects put before versioning was on); such a
 * version is left to the lock sweep, which finds it by listing versions.
 */
const versionOf = (versionId: string | undefined): StoredVersion =>
  versionId && versionId !== 'null' ? { versionId } : {};

/**
 * The retention GetObject answered (x-amz-object-lock-mode and -retain-until-date, sent only to a caller with
 * s3:GetObjectRetention: S3 API Reference, GetObject, ObjectLockMode), or nothing: a caller without that
 * permission sees none, as for a version without retention.
 */
const retentionOf = (mode: string | undefined, until: Date | undefined): { retention?: Retention } =>
  (mode === 'GOVERNANCE' || mode === 'COMPLIANCE') && until && !Number.isNaN(until.getTime())
    ? { retention: { mode, retainUntil: until.toISOString() } }
    : {};
