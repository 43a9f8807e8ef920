// What every part of the local Object Lock layer (layer.ts, bucket.ts) shares: the request it sees (s3rver's Koa
// context), S3's errors as s3rver answers them, and S3's integrity check on Object Lock writes.
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';

const S3Error = createRequire(import.meta.url)('s3rver/lib/models/error') as new (
  code: string,
  message: string,
  detail?: Record<string, string>,
) => Error & { status: number; expose: boolean };

/** An S3 error answered with `status` (s3rver knows the status of only some codes). */
export function s3Error(status: number, code: string, message: string): Error {
  const error = new S3Error(code, message);
  error.status = status;
  error.expose = true;
  return error;
}

/** The parts of s3rver 3.7.1's FilesystemStore (pinned) this layer uses for the current version's bytes. */
export interface CurrentObjects {
  getResourcePath(bucket: string, key: string, kind: 'object'): string;
  existsObject(bucket: string, key: string): Promise<boolean>;
  listObjects(bucket: string, options: { prefix?: string }): Promise<{ objects: { key: string }[] }>;
  deleteObject(bucket: string, key: string): Promise<void>;
  putObject(object: {
    bucket: string;
    key: string;
    content: NodeJS.ReadableStream;
    metadata: Record<string, string>;
  }): Promise<unknown>;
}

export interface LayerContext {
  method: string;
  path: string;
  query: Record<string, string | undefined>;
  headers: Record<string, string | string[] | undefined>;
  req: IncomingMessage;
  status: number;
  body: unknown;
  length?: number;
  set(name: string, value: string): void;
  get(name: string): string;
}

export const header = (ctx: LayerContext, name: string) => {
  const value = ctx.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const tag = (xml: string, name: string) => xml.match(new RegExp(`<${name}>([^<]*)</${name}>`))?.[1];

/** S3 wants an integrity check on Object Lock writes: Content-MD5 or a flexible checksum (the SDK adds one). */
export function requireChecksum(ctx: LayerContext): void {
  const has =
    header(ctx, 'content-md5') ||
    Object.keys(ctx.headers).some((h) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-type');
  if (!has) {
    throw s3Error(
      400,
      'InvalidRequest',
      'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters',
    );
  }
}
