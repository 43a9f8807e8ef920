// Polling: asking again at a fixed interval until an answer comes or a deadline passes, the one loop behind
// waiting for a service to listen, for Dovecot to accept a login, and for a deployed export to finish.
import { sleep } from './backoff';

/** A poll ran past its deadline without an answer. */
export class PollTimeoutError extends Error {
  override name = 'PollTimeoutError';
}

export interface PollOptions {
  /** The wait between two tries, in milliseconds. */
  intervalMs: number;
  /** How long to go on, in milliseconds from the first try. */
  timeoutMs: number;
  /** What is awaited, for the timeout's message ("DynamoDB Local on port 8000"). */
  what: string;
  /** The error thrown at the deadline (default: PollTimeoutError naming `what` and `timeoutMs`). */
  onTimeout?: () => Error;
}

/**
 * Calls `attempt` until it returns a value other than undefined, and returns that value. An error `attempt`
 * throws ends the poll with it. Throws `onTimeout()` (or PollTimeoutError) once `timeoutMs` has passed with
 * no answer; the deadline is checked after each try, so `attempt` runs at least once.
 */
export async function poll<T>(attempt: () => Promise<T | undefined>, options: PollOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const answer = await attempt();
    if (answer !== undefined) return answer;
    if (Date.now() > deadline)
      throw (
        options.onTimeout?.() ??
        new PollTimeoutError(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`)
      );
    await sleep(options.intervalMs);
  }
}

/** Polls `check` until it answers true: `poll` for a yes-or-no question. Throws as `poll` does. */
export async function waitUntil(check: () => Promise<boolean>, options: PollOptions): Promise<void> {
  await poll(async () => ((await check()) ? true : undefined), options);
}
