// TimestampAuthority over HTTP (RFC 3161 section 3.4, "Time-Stamp Protocol via HTTP"): the DER request POSTed
// with Content-Type application/timestamp-query, the DER reply read back (application/timestamp-reply).
import type { TimestampAuthority } from '../transparency/seal';
import { TimestampError } from '../transparency/timestamp';

/** How long one request may take, in milliseconds. */
const TIMEOUT_MS = 30_000;

/** The authority at `url` (http or https). Throws TimestampError for a refused request or an unusable answer. */
export function httpTimestampAuthority(url: string): TimestampAuthority {
  return async (request) => {
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/timestamp-query' },
        body: request,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      throw new TimestampError(`the timestamp authority ${url} did not answer`, { cause: error });
    }
    if (!response.ok)
      throw new TimestampError(
        `the timestamp authority ${url} answered ${response.status} ${response.statusText}`,
      );
    return Buffer.from(await response.arrayBuffer());
  };
}
