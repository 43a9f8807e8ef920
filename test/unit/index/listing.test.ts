// Which index a listing of one folder reads (shared/index/listing.ts): the folder alone or the mailbox by date.
import { describe, expect, it } from 'vitest';
import { folderListPlan, windowShare } from '../../../shared/index/listing';

describe('how a folder is listed', () => {
  it('reads a small folder alone, and a folder that is most of the mailbox by date when a limit is asked', () => {
    // 40 sent messages in a mailbox of 50,000: 40 rows against about 50 x 50,000 / 40 newest first.
    expect(folderListPlan({ folderRows: 40, mailboxRows: 50_000, limit: 50 }).plan).toBe('folder');
    // INBOX of 49,000: the 50 newest are about 51 rows newest first.
    const inbox = folderListPlan({ folderRows: 49_000, mailboxRows: 50_000, limit: 50 });
    expect(inbox.plan).toBe('received');
    expect(Math.ceil(inbox.receivedRows)).toBe(52);
    // Without a limit every row of the folder is wanted: the folder alone never reads more than the mailbox.
    expect(folderListPlan({ folderRows: 49_000, mailboxRows: 50_000 }).plan).toBe('folder');
    expect(folderListPlan({ folderRows: 0, mailboxRows: 50_000, limit: 5 }).plan).toBe('folder');
  });

  it('weighs a date window by the share of the mailbox it holds', () => {
    // One year of fifteen: INBOX's window is about 3,300 rows by date against 49,000 alone.
    expect(folderListPlan({ folderRows: 49_000, mailboxRows: 50_000, windowShare: 1 / 15 }).plan).toBe(
      'received',
    );
    expect(folderListPlan({ folderRows: 40, mailboxRows: 50_000, windowShare: 1 / 15 }).plan).toBe('folder');
  });

  it('measures the window against the time from the oldest row to the newest', () => {
    const oldest = new Date('2010-01-01T00:00:00Z');
    const newest = new Date('2020-01-01T00:00:00Z');
    expect(windowShare(oldest, newest, {})).toBe(1);
    expect(windowShare(oldest, newest, { since: new Date('2015-01-01T00:00:00Z') })).toBeCloseTo(0.5, 2);
    expect(windowShare(oldest, newest, { until: new Date('2000-01-01T00:00:00Z') })).toBe(0);
    expect(windowShare(oldest, oldest, { since: new Date('2030-01-01T00:00:00Z') })).toBe(0);
    expect(windowShare(oldest, oldest, { until: new Date('2030-01-01T00:00:00Z') })).toBe(1);
  });
});
