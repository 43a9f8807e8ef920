// S3 conditional writes for the local S3 server: a PutObject with `If-None-Match: *` creates the object only when
// the key has no current object, and is answered 412 Precondition Failed otherwise, as S3 does
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html). s3rver 3.7.1 ignores the
// header and overwrites. The transparency log's store relies on it (shared/adapters/s3-write-once-store.ts).
// Puts to one key wait for each other here, so two racing conditional writes cannot both create: S3 lets one win
// and answers the other 412 (or 409 while the first is under way).
import { createRequire } from 'node:module';

const S3Error = createRequire(import.meta.url)('s3rver/lib/models/error') as new (
  code: string,
  message: string,
  detail?: Record<string, string>,
) => Error & { status: number; expose: boolean };

interface WriteContext {
  method: string;
  path: string;
  query: Record<string, string | undefined>;
  headers: Record<string, string | string[] | undefined>;
  store: { existsObject(bucket: string, key: string): Promise<boolean> };
}

interface KoaApp {
  middleware: ((ctx: WriteContext, next: () => Promise<void>) => Promise<void>)[];
}

function failure(status: number, code: string, message: string): Error {
  const error = new S3Error(code, message);
  error.status = status;
  error.expose = true;
  return error;
}

/** Installs the check in s3rver's middleware, inside its XML encoder (errors are answered as S3 XML). */
export function honourIfNoneMatch(app: KoaApp): void {
  const queues = new Map<string, Promise<void>>();
  const conditional = async (ctx: WriteContext, next: () => Promise<void>) => {
    const header = ctx.headers['if-none-match'];
    const condition = Array.isArray(header) ? header[0] : header;
    const object = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
    // A plain PutObject: the SDK adds only `x-id=PutObject`; parts and subresources (?retention...) are other calls.
    const plainPut = Object.keys(ctx.query).every((name) => name === 'x-id');
    if (ctx.method !== 'PUT' || condition === undefined || !object || !plainPut) return next();
    if (condition !== '*') throw failure(501, 'NotImplemented', 'If-None-Match on a put takes only *');
    const bucket = object[1] as string;
    const key = decodeURIComponent(object[2] as string);
    const id = `${bucket}/${key}`;
    const before = queues.get(id) ?? Promise.resolve();
    let done = () => {};
    const mine = before.then(() => new Promise<void>((resolve) => (done = resolve)));
    queues.set(id, mine);
    await before;
    try {
      if (await ctx.store.existsObject(bucket, key))
        throw failure(
          412,
          'PreconditionFailed',
          'At least one of the pre-conditions you specified did not hold',
        );
      await next();
    } finally {
      done();
      if (queues.get(id) === mine) queues.delete(id);
    }
  };
  // [0] logs, [1] encodes plain-object bodies as XML after the rest ran: this goes right after it.
  app.middleware.splice(2, 0, conditional);
}
