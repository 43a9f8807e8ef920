// The error convention, in one place. Every error class of ours ends in `Error`, sets `name`, and passes
// `{ cause }` when it wraps another error (as Powertools' idempotency errors do). A `catch` receives `unknown`:
// these read it without casting, since a library may throw a string or a plain object.

/** The message of whatever was thrown: an Error's message, else its string form. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Whatever was thrown, as an Error (wrapped, with the original as its cause, when it is not one). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error), { cause: error });
}

/** The HTTP status an AWS SDK error carries (`$metadata.httpStatusCode`), else undefined. */
export function httpStatusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null | undefined)?.$metadata?.httpStatusCode;
}

/** The `name` of an Error (the SDK's exception names: `ConditionalCheckFailedException`), else undefined. */
export function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

/**
 * The socket failures of Node's `net`, `dns` and `http` (a server that refuses or drops connections, a name that
 * does not resolve, a network down or too slow): the service is not answering, which says nothing about what it
 * holds. Errors of the file system carry the same codes on a network mount, with a `path`: those are not these.
 */
const NETWORK_FAILURE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/** A network failure found in `error` or its causes: its code and, when it names one, the host it concerned. */
export interface NetworkFailure {
  /** `ECONNREFUSED`, `ENOTFOUND`, ... */
  code: string;
  /** The host name (`ENOTFOUND`) or address (`ECONNREFUSED`), with the port when the error has one. */
  host?: string;
}

/**
 * The network failure `error` stands for (looked for in it, its `cause`s and an AggregateError's errors, as Node
 * reports a connection tried on both loopback addresses); undefined when it is another kind of error.
 */
export function networkFailure(error: unknown, depth = 0): NetworkFailure | undefined {
  if (depth > 8 || typeof error !== 'object' || error === null) return undefined;
  const e = error as {
    code?: unknown;
    path?: unknown;
    hostname?: unknown;
    address?: unknown;
    port?: unknown;
  };
  // The SDK's HTTP handler names its own connection and idle-socket timeouts TimeoutError, with no code.
  if ((error as { name?: unknown }).name === 'TimeoutError' && e.code === undefined)
    return { code: 'ETIMEDOUT' };
  if (typeof e.code === 'string' && NETWORK_FAILURE_CODES.has(e.code) && e.path === undefined) {
    const name = typeof e.hostname === 'string' ? e.hostname : typeof e.address === 'string' ? e.address : '';
    const host = name && e.port !== undefined ? `${name}:${e.port}` : name;
    return { code: e.code, ...(host ? { host } : {}) };
  }
  const inner = [
    ...(error instanceof AggregateError ? error.errors : []),
    ...((error as { cause?: unknown }).cause !== undefined ? [(error as { cause?: unknown }).cause] : []),
  ];
  for (const cause of inner) {
    const found = networkFailure(cause, depth + 1);
    if (found) return found;
  }
  return undefined;
}
