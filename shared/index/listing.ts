// How a listing of one folder (`list MAILBOX --folder F`) reads the index: F's own rows (the byFolderUid index
// keeps each folder apart, in UID order, so they are ordered newest first after the read), or the mailbox's rows
// newest first (byReceived) with F's kept by a filter expression, which DynamoDB reads, and bills on AWS, for
// every row it passes over (Query, FilterExpression: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.FilterExpression.html).
// Whichever reads fewer rows, estimated from the counts the folder items keep and, for a date window, from when
// the mailbox's oldest and newest rows were received.

export interface FolderListing {
  /** Rows of the folder asked for. */
  folderRows: number;
  /** Rows of the whole mailbox. */
  mailboxRows: number;
  /** At most this many rows wanted. @default all */
  limit?: number;
  /** The share of the mailbox's rows in the date window, 0 to 1 (see {@link windowShare}). @default 1 */
  windowShare?: number;
}

/**
 * `folder` (read the folder's rows) when that reads no more rows than the mailbox newest first would, else
 * `received`; `receivedRows` is what the latter would read: every row of the window without a limit; with one,
 * about limit x mailbox / folder rows (the folder's rows spread evenly among the mailbox's), at most the window's.
 */
export function folderListPlan(listing: FolderListing): {
  plan: 'folder' | 'received';
  receivedRows: number;
} {
  const inWindow = listing.mailboxRows * (listing.windowShare ?? 1);
  const receivedRows =
    listing.limit === undefined || listing.folderRows === 0
      ? inWindow
      : Math.min(inWindow, (listing.limit * listing.mailboxRows) / listing.folderRows);
  return { plan: listing.folderRows <= receivedRows ? 'folder' : 'received', receivedRows };
}

/**
 * The share of the time from `oldest` to `newest` (when a mailbox's first and last rows were received) that the
 * window [since, until) covers: the share of its rows in the window if mail came at an even pace. 1 without a
 * window; when the mailbox has one instant, 1 or 0 as the window holds it.
 */
export function windowShare(oldest: Date, newest: Date, window: { since?: Date; until?: Date }): number {
  const span = newest.getTime() - oldest.getTime();
  if (span <= 0) {
    const inside = (!window.since || oldest >= window.since) && (!window.until || oldest < window.until);
    return inside ? 1 : 0;
  }
  const start = Math.max(oldest.getTime(), window.since?.getTime() ?? -Infinity);
  const end = Math.min(newest.getTime(), window.until?.getTime() ?? Infinity);
  return Math.max(0, Math.min(1, (end - start) / span));
}
