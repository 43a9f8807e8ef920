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
  /** The message's file in the bundle (its exact bytes). */
  file: string;
  /** RFC822.SIZE of the message as appended. */
  size: number;
  reason: RefusalReason;
  /** The server's own words (tagged NO/BAD text, with its response code). */
  serverText: string;
  /** What the user can do about it, in a sentence (shared/restore/refusals.ts nextStep). */
  nextStep: string;
}

/**
 * How a bundle folder found its target: INBOX; the folder the server marks with the special-use attribute; a
 * folder under a name providers use for it (the server marks none); or the bundle folder's own name.
 */
export type FolderMatch = 'inbox' | 'special use' | 'provider name' | 'same name';

/** A message on the target that the server changed as it stored it (shared/restore/altered.ts). */
export interface AlteredMessage {
  folder: string;
  uid: number;
  sha256: string;
  targetUid: number;
  /** What the server changed, in words ('3 8-bit header bytes written as "X"'). */
  changes: string[];
}

export interface FolderReport {
  /** Name in the bundle. */
  folder: string;
  /** Path on the target (a special-use folder where the server advertises one). */
  target: string;
  match: FolderMatch;
  /** The special-use attribute the bundle folder stands for (`\\Sent`), where it has one. */
  use?: string;
  /** The target was created by this run (in a dry run: is missing and would be created). */
  created: boolean;
  inBundle: number;
  moved: number;
  alreadyThere: number;
  refused: number;
  verified: number;
  altered: number;
}

export interface RestoreReport {
  dryRun: boolean;
  folders: FolderReport[];
  messages: number;
  moved: number;
  alreadyThere: number;
  refused: Refusal[];
  verified: number;
  /**
   * On the target, with flags and INTERNALDATE as in the bundle, but changed by the server as it stored them (8-bit
   * header bytes, a final line end): recognised on every run, never appended again, not counted as verified.
   */
  altered: AlteredMessage[];
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
