// The archiver's own CloudWatch metrics: names shared by the code that emits them and the alarms that watch
// them. Emitted in the embedded metric format (Powertools Metrics), with the `service` dimension set to the
// function's service name.

/** The CloudWatch namespace of the archiver's own metrics. */
export const METRICS_NAMESPACE = 'MailArchiver';

/** Count of bounces to unknown recipients that SES refused (the gatekeeper lets the message go on). */
export const BOUNCE_FAILED_METRIC = 'BounceFailed';

/**
 * The heartbeat of a scheduled step (reconcile, the canary, the Gmail Sent collection): 1 each time a run ends successfully, with the step's
 * `service` dimension. Its absence for twice the step's period alarms (cdk/constructs/operator-alarms.ts
 * alarmWhenSilent).
 */
export const SCHEDULED_RUN_SUCCEEDED_METRIC = 'ScheduledRunSucceeded';

/** The reconcile function's service name (its logs, and the dimension of the metrics it publishes). */
export const RECONCILE_SERVICE = 'mail-archiver-reconcile';

/** Count of checkpoints the scheduled seal signed (one per run, grown or not): missing for 26 hours alarms. */
export const CHECKPOINT_SEALED_METRIC = 'CheckpointSealed';
/** Count of writes the transparency log's store refused because they would replace a file (alarmed). */
export const LOG_OVERWRITE_REFUSED_METRIC = 'LogOverwriteRefused';
/** Count of delivery-log records that name other content for a delivery already sealed (alarmed). */
export const LOG_CONFLICTS_METRIC = 'LogConflicts';
/** Messages the scheduled lock sweep left with a version that has no Object Lock retention (alarm above 0). */
export const UNLOCKED_MESSAGES_METRIC = 'UnlockedMessages';
/** The Gmail Sent collection's service name (its logs, and the dimension of its heartbeat). */
export const SENT_COLLECTOR_SERVICE = 'mail-archiver-gmail-sent';
/** The log message the forward and Sent-collection functions write for a GmailAuthError; an alarm counts it. */
export const GMAIL_AUTH_FAILURE_LOG = 'gmail authorisation failed';

/** The canary function's service name (its logs, and the dimension of the metrics it publishes). */
export const CANARY_SERVICE = 'mail-archiver-canary';
/**
 * 1 when a canary run found the previous canary late or lost, or SES refused the canary it sent; 0 otherwise
 * (alarmed above 0). The run's log line says where the path broke.
 */
export const CANARY_FAILED_METRIC = 'CanaryFailed';
/** Seconds from SES sending the previous canary to its index row, when it was archived (on time or late). */
export const CANARY_LATENCY_METRIC = 'CanaryLatency';
/** Count of calls to `health.canary.pingUrl` that failed (unreachable, an error status); logged, not alarmed. */
export const CANARY_PING_FAILED_METRIC = 'CanaryPingFailed';

/** The ingest function's service name (its logs, and the dimension of the metrics it publishes). */
export const INGEST_SERVICE = 'mail-archiver-ingest';
/**
 * Count of messages ingest archived for a mailbox other than the canary's (health.silenceAlarmHours alarms when
 * there is none for that many hours).
 */
export const MESSAGES_RECEIVED_METRIC = 'MessagesReceived';
