// Delivery through the Gmail API: the archived bytes go into the target's Gmail mailbox unchanged, with
// users.messages.import (Gmail then scans and classifies them as if they had arrived by SMTP). Its ports
// (GmailImporter, GmailCredentialStore) are in shared/ports.ts; shared/adapters/gmail-api.ts implements them.
import { SendError } from './errors';

/** users.messages.import refuses messages over 150 MB (Gmail API reference, users.messages.import). */
export const GMAIL_IMPORT_MAX_BYTES = 150 * 1024 * 1024;

/** OAuth scopes (Gmail API, "Choose Gmail API scopes"): import only, and reading for the Sent collection. */
export const GMAIL_INSERT_SCOPE = 'https://www.googleapis.com/auth/gmail.insert';
export const GMAIL_READONLY_SCOPE = 'https://www.googleapis.com/auth/gmail.readonly';

/** The scopes a target's credential needs: import always, reading when its Sent mail is collected. */
export function gmailScopes(collectSent: boolean): string[] {
  return collectSent ? [GMAIL_INSERT_SCOPE, GMAIL_READONLY_SCOPE] : [GMAIL_INSERT_SCOPE];
}

/**
 * Google refused the credential (HTTP 401, or the token endpoint said `invalid_grant`: a revoked or expired
 * refresh token, a service account without domain-wide delegation for the scope). Nothing succeeds until
 * someone re-authorises (`mail-archiver gmail-auth`), so it is permanent, and it raises an alarm.
 */
export class GmailAuthError extends SendError {
  override name = 'GmailAuthError';
  constructor(
    message: string,
    readonly target: string,
    options?: { cause?: unknown },
  ) {
    super(`${message} (re-authorise with: mail-archiver gmail-auth <mailbox>)`, true, options);
  }
}

/**
 * How the Gmail API's answer is handled (Gmail API guide "Resolve errors"): 429, 5xx and the 403 usage-limit
 * reasons are transient (retried with backoff); 401 needs re-authorisation; every other 4xx is permanent.
 */
export function classifyGmailFailure(
  status: number | undefined,
  reason: string | undefined,
): 'transient' | 'auth' | 'permanent' {
  if (status === undefined) return 'transient'; // no answer: connection reset, timeout
  if (status === 401) return 'auth';
  if (status === 429 || status >= 500) return 'transient';
  if (
    status === 403 &&
    reason !== undefined &&
    ['rateLimitExceeded', 'userRateLimitExceeded', 'dailyLimitExceeded', 'backendError'].includes(reason)
  ) {
    return 'transient';
  }
  return 'permanent';
}
