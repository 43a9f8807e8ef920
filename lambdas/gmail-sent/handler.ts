// Scheduled (EventBridge): one Sent-collection run for every `via: "gmail-api"` target with `collectSent`.
// A target Google refuses to authorise is logged with the line the stack's alarm counts; any failed target
// fails the invocation (the function-errors alarm), after the others have run. A run with no failure publishes
// the heartbeat (ScheduledRunSucceeded): SentCollectorHeartbeatAlarm fires when none came for twice the period.
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  collectSentForAll,
  type SentCollectionDeps,
  type SentCollectionFailure,
} from '../../shared/forwarding/sent-collection';
import { GMAIL_AUTH_FAILURE_LOG, SCHEDULED_RUN_SUCCEEDED_METRIC } from '../../shared/metrics';

export type GmailSentHandlerDeps = SentCollectionDeps & {
  logger: Pick<Logger, 'info' | 'warn'>;
  /** Where the heartbeat is published (absent locally and in tests that do not look at it). */
  metrics?: Pick<Metrics, 'addMetric' | 'publishStoredMetrics'>;
};

export class SentCollectionFailedError extends Error {
  override name = 'SentCollectionFailedError';
}

export function createGmailSentHandler(deps: GmailSentHandlerDeps) {
  return async (): Promise<void> => {
    const reports = await collectSentForAll(deps);
    const failures = reports.filter((r): r is SentCollectionFailure => 'error' in r);
    for (const report of reports) {
      if ('error' in report) {
        deps.logger.warn(report.reauthorise ? GMAIL_AUTH_FAILURE_LOG : 'sent collection failed', {
          ...report,
        });
      } else deps.logger.info('sent collected', { ...report });
    }
    if (failures.length > 0) {
      throw new SentCollectionFailedError(failures.map((f) => `${f.target}: ${f.error}`).join('; '));
    }
    deps.metrics?.addMetric(SCHEDULED_RUN_SUCCEEDED_METRIC, MetricUnit.Count, 1);
    deps.metrics?.publishStoredMetrics();
  };
}
