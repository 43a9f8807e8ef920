// What a restore tells its caller: progress while it runs, the report when it ends (the CLI prints both).

export interface RestoreProgress {
  /** IMAP bytes (RFC822.SIZE) of messages handled so far / of every message to restore. */
  bytesDone: number;
  bytesTotal: number;
  messagesDone: number;
  messagesTotal: number;
  moved: number;
  alreadyThere: number;
  refused: number;
}

export type RefusalReason = 'too large' | 'quota' | 'rejected';

export interface Refusal {
  folder: string;
  uid: number;
  sha256: string;
  /** RFC822.SIZE of the message as appended. */
  size: number;
  reason: RefusalReason;
  /** The server's own words (tagged NO/BAD text, with its response code). */
  serverText: string;
}

export interface FolderReport {
  /** Name in the bundle. */
  folder: string;
  /** Path on the target (a special-use folder where the server advertises one). */
  target: string;
  inBundle: number;
  moved: number;
  alreadyThere: number;
  refused: number;
  verified: number;
}

export interface RestoreReport {
  dryRun: boolean;
  folders: FolderReport[];
  messages: number;
  moved: number;
  alreadyThere: number;
  refused: Refusal[];
  verified: number;
  /** Messages on the target but not matching: sha256, INTERNALDATE or flags differ, or not found. */
  notVerified: { folder: string; uid: number; sha256: string; problem: string }[];
  /** Verified, but the server serves NUL bytes as 0x80 in BODY[] and has no BINARY to check them exactly. */
  nulAsHighBit: number;
  reconnects: number;
  statePath: string;
  /**
   * Set when the server refused an APPEND for quota (the account is full, or over a daily upload limit): the
   * server's words. Appending stopped there; `notAttempted` messages were left for the next run.
   */
  stoppedForQuota?: string;
  notAttempted: number;
}
