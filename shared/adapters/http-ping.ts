// The canary's ping (health.canary.pingUrl): one HTTP GET after each round trip that arrived on time, the
// convention of healthchecks.io and its kin (https://healthchecks.io/docs/http_api/: "GET /<uuid>" signals
// success; the check alarms when pings stop). Node's own fetch: no client library for one request.
import { errorMessage, errorName } from '../errors';

/** A ping that failed: the URL could not be reached, did not answer in time, or answered an error status. */
export class PingError extends Error {
  override name = 'PingError';
}

/**
 * A `ping` for the canary run: GETs `url`, follows redirects, reads and discards the answer.
 * @throws PingError naming the URL's host and the cause (a network error, the timeout, an HTTP status >= 400)
 */
export function httpPing(options: { timeoutMs?: number } = {}) {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return async (url: string): Promise<void> => {
    const host = new URL(url).host;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'GET',
        redirect: 'follow',
        signal: AbortSignal.timeout(timeoutMs),
        headers: { 'user-agent': 'mail-archiver canary' },
      });
    } catch (error) {
      // fetch's own TypeError says only "fetch failed": the network error is its cause.
      const reason =
        errorName(error) === 'TimeoutError'
          ? `no answer within ${timeoutMs / 1000} s`
          : errorMessage(error instanceof Error && error.cause !== undefined ? error.cause : error);
      throw new PingError(`ping ${host}: ${reason}`, { cause: error });
    }
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) throw new PingError(`ping ${host}: HTTP ${response.status} ${response.statusText}`);
  };
}
