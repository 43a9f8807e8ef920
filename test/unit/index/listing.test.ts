// How a listing of one folder reads the index (shared/index/listing.ts): the folder alone, or the mailbox newest
// first for at most the folder's rows, in pages that grow from a first guess.
import { describe, expect, it } from 'vitest';
import { folderListPlan, nextReceivedPage, RECEIVED_PAGE_ROWS } from '../../../shared/index/listing';

describe('how a folder is listed', () => {
  it('reads the folder alone when every row of it is wanted and no window narrows the mailbox', () => {
    expect(folderListPlan({ folderRows: 49_000, mailboxRows: 50_000, window: false })).toEqual({
      plan: 'folder',
    });
    expect(folderListPlan({ folderRows: 40, mailboxRows: 50_000, limit: 50, window: false })).toEqual({
      plan: 'folder',
    });
    expect(folderListPlan({ folderRows: 0, mailboxRows: 50_000, limit: 5, window: true })).toEqual({
      plan: 'folder',
    });
  });

  it('reads the mailbox newest first for at most the folder count, first a page that finds the limit if spread evenly', () => {
    // INBOX of 49,000 in 50,000: the 50 newest are about 52 rows newest first.
    expect(folderListPlan({ folderRows: 49_000, mailboxRows: 50_000, limit: 50, window: false })).toEqual({
      plan: 'received',
      budget: 49_000,
      firstPage: 52,
    });
    // A folder of 12 in 63 (an even spread puts one in 6 rows), and one of 2,000 in 50,000 (50 in 1,250): the
    // guess is capped at twice the limit, so a folder of recent mail pays no more than that for a guess too high.
    expect(folderListPlan({ folderRows: 12, mailboxRows: 63, limit: 1, window: false })).toMatchObject({
      budget: 12,
      firstPage: 2,
    });
    expect(
      folderListPlan({ folderRows: 2_000, mailboxRows: 50_000, limit: 50, window: false }),
    ).toMatchObject({
      budget: 2_000,
      firstPage: 100,
    });
    // A window: its rows may be fewer than the folder's, so it is read newest first, up to the folder's count.
    expect(folderListPlan({ folderRows: 40, mailboxRows: 50_000, window: true })).toEqual({
      plan: 'received',
      budget: 40,
      firstPage: 40,
    });
    expect(folderListPlan({ folderRows: 49_000, mailboxRows: 50_000, window: true })).toMatchObject({
      firstPage: RECEIVED_PAGE_ROWS,
    });
  });

  it('doubles the pages up to the page size and never past the budget', () => {
    expect(nextReceivedPage(6, 6)).toBe(6);
    expect(nextReceivedPage(6, 100)).toBe(12);
    expect(nextReceivedPage(150, 10_000)).toBe(RECEIVED_PAGE_ROWS);
    expect(nextReceivedPage(6, 0)).toBe(0);
  });
});
