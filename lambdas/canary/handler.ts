// Scheduled (EventBridge) canary: judges the previous canary by its trail (indexed? stored? sent?), sends the
// next one through SES to the canary address, and says what it found in the metrics the alarms watch: CanaryFailed
// (late, lost, or refused by SES), the heartbeat of a run that ended (its absence alarms), the round trip's
// latency, and failed pings. The log line names where the path broke. The run itself is shared/health.
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { type CanaryRunDeps, type CanaryRunResult, runCanary } from '../../shared/health/canary-run';
import {
  CANARY_FAILED_METRIC,
  CANARY_LATENCY_METRIC,
  CANARY_PING_FAILED_METRIC,
  SCHEDULED_RUN_SUCCEEDED_METRIC,
} from '../../shared/metrics';

export interface CanaryHandlerDeps extends CanaryRunDeps {
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  metrics: Pick<Metrics, 'addMetric' | 'publishStoredMetrics'>;
}

/** Whether this run calls for the operator: the previous canary late or lost, or this one refused by SES. */
export const canaryRunFailed = (result: CanaryRunResult) =>
  (result.judged?.alarms ?? false) || result.sent.sendError !== undefined;

/**
 * The handler: one canary run per invocation. Throws what the store or the index throw (the run is then not
 * recorded, the heartbeat is not emitted, and the function's errors count); a late or lost canary is a metric and
 * a log line, not an error.
 */
export function createCanaryHandler(deps: CanaryHandlerDeps) {
  return async (): Promise<CanaryRunResult> => {
    const result = await runCanary(deps);
    const { judged, sent, ping } = result;
    if (judged) {
      const facts = { verdict: judged.verdict, trail: judged.trail };
      if (judged.alarms) deps.logger.error(judged.line, facts);
      else deps.logger.info(judged.line, facts);
      if ('latencySeconds' in judged.verdict) {
        deps.metrics.addMetric(CANARY_LATENCY_METRIC, MetricUnit.Seconds, judged.verdict.latencySeconds);
      }
    }
    if (sent.sendError) {
      deps.logger.error(`canary ${sent.id}: SES refused to send it: ${sent.sendError}`, { sent });
    } else {
      deps.logger.info(`canary ${sent.id} sent`, { sent });
    }
    if (typeof ping === 'object') {
      deps.logger.warn(`the ping after the canary round trip failed: ${ping.failed}`);
      deps.metrics.addMetric(CANARY_PING_FAILED_METRIC, MetricUnit.Count, 1);
    }
    deps.metrics.addMetric(CANARY_FAILED_METRIC, MetricUnit.Count, canaryRunFailed(result) ? 1 : 0);
    deps.metrics.addMetric(SCHEDULED_RUN_SUCCEEDED_METRIC, MetricUnit.Count, 1);
    deps.metrics.publishStoredMetrics();
    return result;
  };
}
