// How a listing of one folder (`list MAILBOX --folder F`) reads the index: F's own rows (the byFolderUid index
// keeps each folder apart, in UID order, so all of them are read and ordered newest first after the read), or
// the mailbox's rows newest first (byReceived) with F's kept by a filter expression, which DynamoDB reads, and
// bills on AWS, for every row it passes over (Query, FilterExpression: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.FilterExpression.html).
// Where F's rows lie in time is not known before reading: a folder of old mail (an archive folder from years ago)
// holds none of the mailbox's newest rows, whatever its share of the mailbox. So the mailbox is read newest first
// for at most as many rows as F holds, then F alone: at most twice F's rows, and at most three times the rows the
// mailbox newest first needs when that is the cheaper plan (its pages grow from a first guess, doubling).

export interface FolderListing {
  /** Rows of the folder asked for (the count its folder item keeps). */
  folderRows: number;
  /** Rows of the whole mailbox. */
  mailboxRows: number;
  /** At most this many rows wanted. @default all */
  limit?: number;
  /** Whether a received-date window is asked for (rows outside it are not read newest first). */
  window: boolean;
}

/** The most rows one page of the mailbox newest first asks for. */
export const RECEIVED_PAGE_ROWS = 200;

/**
 * `folder`: read the folder alone (it is empty, or every row of it is wanted and the mailbox holds them all
 * anyway). `received`: read the mailbox newest first, `budget` rows at most (the folder's count; past it the
 * folder alone is read for the rest), in pages of `firstPage` rows and then twice the last (see
 * {@link nextReceivedPage}). The first page is what finds `limit` of the folder's rows if they are spread evenly
 * (limit x mailbox / folder rows), at most twice the limit, so that a guess too high for a folder of recent mail
 * reads no more than twice the rows that plan needs.
 */
export function folderListPlan(
  listing: FolderListing,
): { plan: 'folder' } | { plan: 'received'; budget: number; firstPage: number } {
  const { folderRows, mailboxRows, limit } = listing;
  if (folderRows === 0 || (!listing.window && (limit === undefined || limit >= folderRows)))
    return { plan: 'folder' };
  const even = limit === undefined ? folderRows : Math.ceil((limit * mailboxRows) / folderRows);
  const guess = limit === undefined ? even : Math.min(even, 2 * limit);
  return {
    plan: 'received',
    budget: folderRows,
    firstPage: Math.max(1, Math.min(guess, folderRows, RECEIVED_PAGE_ROWS)),
  };
}

/** The next page's rows newest first: twice the last, at most {@link RECEIVED_PAGE_ROWS} and the budget's rest. */
export function nextReceivedPage(last: number, budgetLeft: number): number {
  return Math.min(2 * last, RECEIVED_PAGE_ROWS, budgetLeft);
}
