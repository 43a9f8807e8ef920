// Who may talk to the local S3 server: s3rver serves unsigned requests and checks no V4 signature, so the local
// stack names one access key id and refuses every request not signed with it (services.ts installs the guard);
// the Object Lock layer reads the same key id to decide who may bypass governance retention.

export interface GuardedApp {
  middleware: ((ctx: GuardContext, next: () => Promise<void>) => Promise<void>)[];
}
interface GuardContext {
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, string | string[] | undefined>;
  status: number;
  type: string;
  body: unknown;
}

/** The access key id a request was signed with: SigV4 or V2, in the Authorization header or the query. */
export function requestAccessKeyId(ctx: Pick<GuardContext, 'headers' | 'query'>): string | undefined {
  const header = ctx.headers.authorization;
  const auth = Array.isArray(header) ? header[0] : header;
  if (auth) return auth.match(/Credential=([^/,\s]+)\//)?.[1] ?? auth.match(/^AWS ([^:\s]+):/)?.[1];
  const credential = ctx.query['X-Amz-Credential'] ?? ctx.query.AWSAccessKeyId;
  const value = Array.isArray(credential) ? credential[0] : credential;
  return value?.split('/')[0];
}

/** First in s3rver's middleware: a request not signed with `accessKeyId` gets 403 AccessDenied. */
export function requireAccessKeyId(app: GuardedApp, accessKeyId: string): void {
  app.middleware.unshift(async (ctx, next) => {
    if (requestAccessKeyId(ctx) === accessKeyId) return next();
    ctx.status = 403;
    ctx.type = 'application/xml';
    ctx.body =
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';
  });
}
