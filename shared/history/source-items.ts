// What the readers of history sources (shared/history/sources.ts and the maildir and mbox readers beside it) give
// the importer: a message with what its source knew, or a failure, a skip or a notice with its reason.

import type { EnvelopeLine } from '../bundle/envelope-line';
import { errorMessage } from '../errors';

/** Where the source filed a message and what state it kept. */
export interface SourcePlacement {
  /** The archive folder (`INBOX`, `Sent`, `Drafts`, `Junk`, `Trash`, `Archive`, or a user folder `A/B`). */
  folder: string;
  /** IMAP system flags (`\Seen`, `\Flagged`, ...) and `$Forwarded`. */
  flags: string[];
  /** Keywords: Gmail labels, Dovecot keywords, mbox keyword fields. */
  keywords: string[];
  /** The source says the account sent it (a Sent folder or label). */
  sent: boolean;
}

export interface SourceMessage {
  kind: 'message';
  raw: Buffer;
  /** Where it came from, for the report: a path, or path#n inside an mbox. */
  origin: string;
  /** The mbox envelope line, when there was one. */
  envelope?: EnvelopeLine;
  /** The file's modification time: the last evidence of a received time. */
  fileTime?: Date;
  /**
   * The maildir file's time when the source keeps the server's INTERNALDATE there (shared/history/maildir-source.ts
   * keepsInternalDate): the best evidence of the received time.
   */
  internalDate?: Date;
  placement?: SourcePlacement;
  /** Bytes of the input this message accounts for, for progress. */
  sourceBytes: number;
}

/** An input that could not be read, or an empty file: reported as failed. */
export interface SourceFailure {
  kind: 'failure';
  origin: string;
  reason: string;
  sourceBytes: number;
}

/** An input that is not mail (an image, a note, random bytes): reported as skipped, never archived. */
export interface SourceSkip {
  kind: 'skipped';
  origin: string;
  reason: string;
  sourceBytes: number;
}

/** Something the user should know that lost nothing: a `From ` line in an mbox that was not taken as a separator. */
export interface SourceNotice {
  kind: 'notice';
  origin: string;
  reason: string;
  sourceBytes: 0;
}

export type SourceItem = SourceMessage | SourceFailure | SourceSkip | SourceNotice;

export const EMPTY_FILE = 'empty file';
export const NOT_MAIL = 'not a mail message';

export function unreadable(origin: string, error: unknown): SourceFailure {
  return { kind: 'failure', origin, reason: `cannot read: ${errorMessage(error)}`, sourceBytes: 0 };
}
