// What stops a restore as a whole, each with the user's next step in its message. A refusal of one message is not
// an error (it is a Refusal in the report: shared/restore/refusals.ts).
import type { VerifyReport } from '../bundle/verify';

/** The bundle fails the checks of `verify`; thrown before any connection, so nothing was restored. */
export class BundleNotVerifiedError extends Error {
  override name = 'BundleNotVerifiedError';
  constructor(
    readonly report: VerifyReport,
    options?: ErrorOptions,
  ) {
    super(
      `the bundle fails the checks of "verify" (${report.errors.length} ${report.errors.length === 1 ? 'problem' : 'problems'}, first: ${report.errors[0] ?? 'none'}); nothing was restored`,
      options,
    );
  }
}

/** A bundle restore cannot take (an mboxrd bundle, messages missing), or a --folder the bundle does not have. */
export class RestoreUnsupportedError extends Error {
  override name = 'RestoreUnsupportedError';
}

/** No IMAP session with the target: a wrong address before any login, or too many failures in a row after. */
export class TargetUnreachableError extends Error {
  override name = 'TargetUnreachableError';
}

/** The server refused the login (a wrong password, an app password needed, IMAP not enabled for the account). */
export class TargetLoginError extends Error {
  override name = 'TargetLoginError';
}

/** The server answered a command other than APPEND with NO or BAD: the command and the server's own words. */
export class TargetRefusedError extends Error {
  override name = 'TargetRefusedError';
}

/** The state file cannot be written where it was asked for (read-only place, a file in the way). */
export class RestoreStateError extends Error {
  override name = 'RestoreStateError';
}
