// The canary check of `mail-archiver doctor` on the local stack: one canary round trip now, through the running
// stack's SMTP listener (in SES's role), S3 and ingest, judged by the same verdict as the canary function on AWS.
// A stopped or failing ingest reads as "stored, not indexed", naming where the path broke.
import type { ArchiverConfig } from '../../shared/config';
import { type CanaryRoundTrip, canaryRoundTrip } from '../../shared/health/canary-run';
import { storedCanaryFinder } from '../../shared/health/canary-trail';
import { canaryAddress } from '../../shared/health/config';
import { SmtpSender } from '../local/forwarding';
import type { Archive } from '../target/archive';
import { type Check, fail, ok } from './check';

/** How long the local round trip may take before the canary counts as lost: ingest takes milliseconds here. */
export const LOCAL_CANARY_WAIT_MS = 10_000;

/** One canary through the local stack's SMTP listener at `smtp`, followed into S3 and the index. */
export function localCanaryRoundTrip(
  config: ArchiverConfig,
  archive: Pick<Archive, 'store' | 'bucket' | 'index'>,
  smtp: { host: string; port: number },
  waitMs = LOCAL_CANARY_WAIT_MS,
): Promise<CanaryRoundTrip> {
  return canaryRoundTrip(
    {
      config,
      store: archive.store,
      bucket: archive.bucket,
      index: archive.index,
      sender: new SmtpSender(smtp.host, smtp.port),
      findStored: storedCanaryFinder(archive.store, archive.bucket),
    },
    { waitMs },
  );
}

/** The doctor check of a round trip. */
export function canaryCheck(config: ArchiverConfig, roundTrip: CanaryRoundTrip): Check {
  const { verdict, line } = roundTrip;
  const address = canaryAddress(config);
  switch (verdict.outcome) {
    case 'on-time':
      return ok(
        'canary',
        `a canary to ${address} was stored in S3 and indexed, archived after ${verdict.latencySeconds.toFixed(1)} s (SMTP, S3, ingest, the index)`,
      );
    case 'not-sent':
      return fail('canary', line, "the local SMTP listener refused it: see npm start's output");
    case 'not-indexed':
      return fail(
        'canary',
        line,
        'ingest failed or stopped: mail-archiver status (dead letters), then mail-archiver redrive',
      );
    default:
      return fail('canary', line, "see npm start's output; stop it and start it again");
  }
}
