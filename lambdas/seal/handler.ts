// Scheduled (EventBridge) seal of the transparency log: appends the delivery log's new records to the tree, signs
// the checkpoint with the KMS key, mails a new checkpoint to the alarm address (the witness), and counts what the
// alarms watch: a seal (its absence for 26 hours alarms), refused overwrites, conflicting records. A run that
// fails, or whose timestamp authority failed, throws, which the function's error alarm reports.
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  CHECKPOINT_SEALED_METRIC,
  LOG_CONFLICTS_METRIC,
  LOG_OVERWRITE_REFUSED_METRIC,
} from '../../shared/metrics';
import type { WriteOnceStore } from '../../shared/ports';
import { LogOverwriteError } from '../../shared/transparency/log-files';
import { formatVerifierKey, type NoteSigner } from '../../shared/transparency/note';
import {
  describeMissingCheckpoint,
  type LeafSource,
  type SealReport,
  seal,
  type TimestampAuthority,
} from '../../shared/transparency/seal';
import { type CheckpointWitness, witnessMessage } from '../../shared/transparency/witness';

export interface SealHandlerDeps<Cursor> {
  store: WriteOnceStore;
  /** Opened once per cold start (reads the KMS public key). */
  signer: () => Promise<NoteSigner>;
  source: LeafSource<Cursor>;
  witness: CheckpointWitness;
  timestampAuthority?: TimestampAuthority;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  metrics: Pick<Metrics, 'addMetric' | 'publishStoredMetrics'>;
  now?: () => Date;
}

/** The seal ran but left something for the operator: a failed time-stamp or witness mail. */
export class SealIncompleteError extends Error {
  override name = 'SealIncompleteError';
}

/** What the invocation returns (and `seal --target aws` prints): the report without the cursor. */
export type SealResult = SealReport & { key: string };

export function createSealHandler<Cursor>(deps: SealHandlerDeps<Cursor>) {
  let signer: Promise<NoteSigner> | undefined;
  return async (): Promise<SealResult> => {
    signer ??= deps.signer();
    let report: SealReport;
    try {
      report = await seal({
        store: deps.store,
        signer: await signer,
        source: deps.source,
        ...(deps.now ? { now: deps.now } : {}),
        ...(deps.timestampAuthority ? { timestampAuthority: deps.timestampAuthority } : {}),
      });
    } catch (error) {
      if (error instanceof LogOverwriteError) {
        deps.metrics.addMetric(LOG_OVERWRITE_REFUSED_METRIC, MetricUnit.Count, 1);
        deps.metrics.publishStoredMetrics();
        deps.logger.error('seal refused to overwrite a file of the transparency log', { path: error.path });
      }
      throw error;
    }
    deps.metrics.addMetric(CHECKPOINT_SEALED_METRIC, MetricUnit.Count, 1);
    if (report.conflicts.length > 0)
      deps.metrics.addMetric(LOG_CONFLICTS_METRIC, MetricUnit.Count, report.conflicts.length);
    deps.metrics.publishStoredMetrics();
    const { checkpoint, ...facts } = report;
    deps.logger.info('sealed', {
      ...facts,
      conflicts: facts.conflicts.slice(0, 20),
      unreadable: facts.unreadable.slice(0, 20),
    });
    const key = formatVerifierKey((await signer).verifier);
    const problems: string[] = [];
    if (report.size !== report.previousSize) {
      try {
        await deps.witness.witness(witnessMessage(report, key));
      } catch (error) {
        problems.push(`the checkpoint could not be mailed to the alarm address: ${String(error)}`);
      }
    }
    if (report.timestampError) problems.push(`no time-stamp: ${report.timestampError}`);
    if (report.missingCheckpoint) problems.push(describeMissingCheckpoint(report.missingCheckpoint));
    if (problems.length > 0)
      throw new SealIncompleteError(`sealed at ${report.size}, but ${problems.join('; ')}`);
    return { ...report, key };
  };
}
