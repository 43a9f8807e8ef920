// Search across mailboxes against DynamoDB Local: what DynamoDB evaluates (key conditions, filter
// expressions) and what the shared rule then keeps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDeliverySearch } from '../../shared/adapters/dynamo-search';
import { archiveReceivedMail, type IngestDeps } from '../../shared/archive/ingest';
import { exampleConfig } from '../support/config';
import { makeMessage, makeMessageWithAttachment } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

let services: TestServices;
let search: DynamoDeliverySearch;
const MAILBOXES = ['alice@example.com', 'bob@example.com'];

async function archive(message: Buffer, recipients: string[], timestamp: string) {
  const deps: IngestDeps = { config: exampleConfig(), store: services.store, index: services.index };
  const { notification } = await receiveLikeSes(services.store, services.bucket, message, {
    recipients,
    timestamp: new Date(timestamp),
  });
  return archiveReceivedMail(notification, deps);
}

beforeAll(async () => {
  services = await startTestServices();
  search = new DynamoDeliverySearch(services.clients.dynamodb, services.tableName);
  // Twelve ordinary messages for alice, one a day in March, so filters have rows to discard.
  for (let day = 1; day <= 12; day += 1) {
    await archive(
      makeMessage({ from: 'News <news@lists.example.net>', subject: `Digest ${day}` }),
      ['alice@example.com'],
      `2026-03-${String(day).padStart(2, '0')}T08:00:00.000Z`,
    );
  }
  await archive(
    makeMessage({
      from: 'Bank <Statements@Bank.Example>',
      to: 'alice@example.com, bob@example.com',
      subject: 'Your Quarterly STATEMENT',
      messageId: '<q1-statement@bank.example>',
    }),
    ['alice@example.com', 'bob@example.com'],
    '2026-04-01T09:30:00.000Z',
  );
  await archive(
    makeMessageWithAttachment('invoice.pdf', 2048, {
      from: 'Carol <carol@supplier.example>',
      to: 'bob@example.com',
      cc: 'Alice <alice@example.com>',
      subject: 'Invoice 77',
    }),
    ['bob@example.com'],
    '2026-04-02T10:00:00.000Z',
  );
}, 120_000);
afterAll(async () => services?.stop());

describe('search against DynamoDB Local', () => {
  it('finds one Message-ID in every mailbox that holds it, with or without brackets, filtered by DynamoDB', async () => {
    for (const id of ['<q1-statement@bank.example>', 'q1-statement@bank.example']) {
      const result = await search.search({ messageId: id }, MAILBOXES);
      expect(result.rows.map((r) => r.mailbox)).toEqual(['alice@example.com', 'bob@example.com']);
      // DynamoDB read all 15 rows of both partitions but returned only the two that match: the filter ran
      // server-side, not in this process.
      expect(result.examined).toBe(15);
      expect(result.returned).toBe(2);
    }
  });

  it('matches a part of the sender address case-insensitively, server-side, reading every row', async () => {
    for (const from of ['STATEMENTS@', '@BANK.example']) {
      const result = await search.search({ from }, MAILBOXES);
      expect(result.rows.map((r) => [r.mailbox, r.subject])).toEqual([
        ['alice@example.com', 'Your Quarterly STATEMENT'],
        ['bob@example.com', 'Your Quarterly STATEMENT'],
      ]);
      expect(result).toMatchObject({ plan: 'mailbox', examined: 15, returned: 2 });
    }
  });

  it("reads only one sender's entries for a whole address (bySender), in the mailboxes asked, newest first", async () => {
    const result = await search.search({ from: 'Statements@Bank.Example' }, MAILBOXES);
    expect(result.rows.map((r) => [r.mailbox, r.subject])).toEqual([
      ['alice@example.com', 'Your Quarterly STATEMENT'],
      ['bob@example.com', 'Your Quarterly STATEMENT'],
    ]);
    // Two index entries and the two rows they name, of the table's fifteen rows.
    expect(result).toMatchObject({ plan: 'sender', examined: 4, returned: 2 });
    // Exactly that sender: a part of another address is not a match.
    expect((await search.search({ from: 'tatements@bank.example' }, MAILBOXES)).rows).toEqual([]);
    // Only the mailboxes asked for, by key condition: bob's one entry and row, not alice's entry too.
    const bob = await search.search(
      { from: 'statements@bank.example', mailboxes: ['bob@example.com'] },
      MAILBOXES,
    );
    expect(bob.rows.map((r) => r.mailbox)).toEqual(['bob@example.com']);
    expect(bob.examined).toBe(2);
    // The news sender's twelve entries are all alice's: none is read for bob.
    const none = await search.search(
      { from: 'news@lists.example.net', mailboxes: ['bob@example.com'] },
      MAILBOXES,
    );
    expect(none).toMatchObject({ rows: [], examined: 0 });
    // The date range filters the sender's entries (12 read, 3 kept); only the rows kept are fetched.
    const news = await search.search(
      { from: 'news@lists.example.net', since: new Date('2026-03-10T00:00:00.000Z') },
      MAILBOXES,
    );
    expect(news.rows.map((r) => r.subject)).toEqual(['Digest 12', 'Digest 11', 'Digest 10']);
    expect(news.examined).toBe(12 + 3);
    // The limit stops the rows fetched: the 2 newest of the 12 entries.
    const latest = await search.search({ from: 'news@lists.example.net', limit: 2 }, MAILBOXES);
    expect(latest.rows.map((r) => r.subject)).toEqual(['Digest 12', 'Digest 11']);
    expect(latest.examined).toBe(12 + 2);
    // Criteria the index cannot key on are checked on the rows fetched.
    const subject = await search.search({ from: 'news@lists.example.net', subject: 'digest 1' }, MAILBOXES);
    expect(subject.rows.map((r) => r.subject)).toEqual(['Digest 12', 'Digest 11', 'Digest 10', 'Digest 1']);
  });

  it('matches subject and recipients case-insensitively', async () => {
    const bySubject = await search.search({ subject: 'quarterly statement' }, MAILBOXES);
    expect(bySubject.rows).toHaveLength(2);
    // Alice is only on Cc of the invoice, and it was delivered to bob's mailbox alone.
    const byTo = await search.search({ to: 'ALICE@', subject: 'invoice' }, MAILBOXES);
    expect(byTo.rows.map((r) => [r.mailbox, r.subject])).toEqual([['bob@example.com', 'Invoice 77']]);
  });

  it('reads only the date range: since is inclusive, until exclusive, by key condition', async () => {
    const result = await search.search(
      { since: new Date('2026-03-03T08:00:00.000Z'), until: new Date('2026-03-06T08:00:00.000Z') },
      MAILBOXES,
    );
    expect(result.rows.map((r) => r.subject)).toEqual(['Digest 5', 'Digest 4', 'Digest 3']);
    // Only the three rows in range were read at all.
    expect(result.examined).toBe(3);
  });

  it('filters on attachments both ways', async () => {
    const withAttachment = await search.search({ hasAttachment: true }, MAILBOXES);
    expect(withAttachment.rows.map((r) => r.subject)).toEqual(['Invoice 77']);
    expect(withAttachment.returned).toBe(1);
    const without = await search.search({ hasAttachment: false, mailboxes: ['bob@example.com'] }, MAILBOXES);
    expect(without.rows.map((r) => r.subject)).toEqual(['Your Quarterly STATEMENT']);
  });

  it('merges mailboxes newest first and stops at the limit', async () => {
    const result = await search.search({ limit: 3 }, MAILBOXES);
    expect(result.rows.map((r) => [r.mailbox, r.subject])).toEqual([
      ['bob@example.com', 'Invoice 77'],
      ['alice@example.com', 'Your Quarterly STATEMENT'],
      ['bob@example.com', 'Your Quarterly STATEMENT'],
    ]);
  });

  it('finds nothing, without error, for a mailbox that has no rows', async () => {
    const result = await search.search({ subject: 'Digest' }, ['nobody@example.com']);
    expect(result).toEqual({ rows: [], examined: 0, returned: 0, plan: 'mailbox' });
  });
});

// An internationalised domain has two spellings: a header written under SMTPUTF8 (RFC 6532) carries the U-label,
// older software the A-label (RFC 5891), and rows keep what the message wrote (review-29d U4).
describe('search against DynamoDB Local, a domain in either spelling', () => {
  beforeAll(async () => {
    await archive(
      makeMessage({
        from: 'Alice <alice@xn--bcher-kva.example>',
        to: 'bob@example.com, carol@xn--bcher-kva.example',
        subject: 'Written in A-labels',
      }),
      ['bob@example.com'],
      '2026-05-01T09:00:00.000Z',
    );
    await archive(
      makeMessage({
        from: 'Alice <alice@bücher.example>',
        to: 'bob@example.com, carol@bücher.example',
        subject: 'Written in U-labels',
      }),
      ['bob@example.com'],
      '2026-05-02T09:00:00.000Z',
    );
  });
  const both = [
    ['bob@example.com', 'Written in U-labels'],
    ['bob@example.com', 'Written in A-labels'],
  ];

  it('finds a sender written in either spelling, asked in either, through the sender index', async () => {
    for (const from of ['alice@bücher.example', 'ALICE@XN--BCHER-KVA.example']) {
      const result = await search.search({ from }, MAILBOXES);
      expect(result.rows.map((r) => [r.mailbox, r.subject])).toEqual(both);
      // One index entry and one row for each spelling: the rows read are the rows there are.
      expect(result).toMatchObject({ plan: 'sender', examined: 4, returned: 2 });
    }
  });

  it('finds a domain-only sender and a recipient in either spelling', async () => {
    for (const from of ['@bücher.example', '@xn--bcher-kva.example']) {
      const result = await search.search({ from }, MAILBOXES);
      expect(result.rows.map((r) => [r.mailbox, r.subject])).toEqual(both);
      expect(result.plan).toBe('mailbox');
    }
    for (const to of ['carol@bücher.example', 'carol@xn--bcher-kva.example'])
      expect((await search.search({ to }, MAILBOXES)).rows.map((r) => [r.mailbox, r.subject])).toEqual(both);
  });
});
