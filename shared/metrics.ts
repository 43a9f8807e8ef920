// The archiver's own CloudWatch metrics: names shared by the code that emits them and the alarms that watch
// them. Emitted in the embedded metric format (Powertools Metrics), with the `service` dimension set to the
// function's service name.

/** The CloudWatch namespace of the archiver's own metrics. */
export const METRICS_NAMESPACE = 'MailArchiver';

/** Count of bounces to unknown recipients that SES refused (the gatekeeper lets the message go on). */
export const BOUNCE_FAILED_METRIC = 'BounceFailed';

/** Messages the scheduled lock sweep left with a version that has no Object Lock retention (alarm above 0). */
export const UNLOCKED_MESSAGES_METRIC = 'UnlockedMessages';
/** The log message the forward and Sent-collection functions write for a GmailAuthError; an alarm counts it. */
export const GMAIL_AUTH_FAILURE_LOG = 'gmail authorisation failed';
