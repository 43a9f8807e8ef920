// The deployed stack's dead-letter queues, listed once: what waits in each, what `status` counts it as and what
// to do about it. `status` (cli/target/health.ts) counts and `doctor` checks every queue here; the infra test
// test/infra/stack-outputs.test.ts fails when the template has a failure destination this list lacks.
import type { StackOutputName } from '../../shared/aws-names';

export interface DeadLetterQueue {
  /** The stack output holding the queue's URL. */
  output: StackOutputName;
  /** The doctor check's name. */
  check: string;
  /** The ArchiveHealth count it adds to. */
  counts: 'ingestDeadLetters' | 'parkedForwards' | 'feedbackDeadLetters';
  /** What waits in it and the command that handles it, one line. */
  fix: string;
}

export const DEAD_LETTER_QUEUES: readonly DeadLetterQueue[] = [
  {
    output: 'IngestDeadLetterQueueUrl',
    check: 'dead letters ingest',
    counts: 'ingestDeadLetters',
    fix: 'messages that could not be indexed: mail-archiver reconcile, then mail-archiver redrive',
  },
  {
    output: 'ReceivedNotificationDeadLetterQueueUrl',
    check: 'dead letters notification',
    counts: 'ingestDeadLetters',
    fix: 'notifications SNS could not deliver to the ingest queue: mail-archiver redrive',
  },
  {
    output: 'ForwardDeadLetterQueueUrl',
    check: 'dead letters forward',
    counts: 'parkedForwards',
    fix: 'parked forwards: mail-archiver forwards --state failed, then mail-archiver redrive',
  },
  {
    output: 'ForwardFeedbackDeadLetterQueueUrl',
    check: 'dead letters feedback',
    counts: 'feedbackDeadLetters',
    fix: 'bounce and complaint events the feedback function could not record (the forwarding ledger lacks their verdicts): read them with aws sqs receive-message, then fix the cause',
  },
];
