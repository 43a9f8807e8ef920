// Waiting before trying again: the one backoff rule (exponential, capped) that every retry loop uses, and a
// sleep. The delay doubles per failed attempt from `firstMs`, never past `maxMs`; a server's own wait (an HTTP
// Retry-After, an IMAP throttle reset) is honoured when it is longer, still within `maxMs`.

export interface Backoff {
  /** The wait after the first failed attempt, in milliseconds. */
  firstMs: number;
  /** The longest wait, in milliseconds. @default no limit */
  maxMs?: number;
}

/**
 * The wait in milliseconds before attempt `failures + 1`, after `failures` (>= 1) failed attempts:
 * `firstMs * 2^(failures - 1)`, at least `atLeastMs` (a server's requested wait), at most `maxMs`.
 */
export function backoffDelay(backoff: Backoff, failures: number, atLeastMs = 0): number {
  return Math.min(
    backoff.maxMs ?? Number.POSITIVE_INFINITY,
    Math.max(atLeastMs, backoff.firstMs * 2 ** (failures - 1)),
  );
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
