// Finding mail across mailboxes: the query, and the one rule saying whether a delivery row matches it.
// The DynamoDB adapter (shared/adapters/dynamo-search.ts) narrows server-side as far as the index allows (one
// sender's whole address and the received-date range are key conditions; message-id, attachments and a part of
// an address are filter expressions); this rule is then applied to what comes back, so every reader agrees.
// Rows keep an address as the message wrote it, and an internationalised domain has two spellings: a sender or
// recipient criterion is looked up in every spelling that can be stored (senderSpellings, addressSpellings).
import { addressSpellings, headerAddress, splitAddress } from '../mail/address';
import type { DeliveryRow } from './schema';

export interface SearchQuery {
  /** Only these mailboxes (normalised addresses). @default every mailbox (configured ones and any in the index) */
  mailboxes?: string[];
  /**
   * The sender (From): a whole address (`alice@bank.example`) is that sender exactly; anything else (`alice`,
   * `@bank.example`) is a part of the address. Both case-insensitive, and an internationalised domain in either
   * spelling (`bücher.example`, `xn--bcher-kva.example`). See {@link senderAddress}.
   */
  from?: string;
  /** Substring of a To or Cc header or an envelope recipient, case-insensitive, its domain in either spelling. */
  to?: string;
  /** Substring of the decoded Subject, case-insensitive. */
  subject?: string;
  /** Received on or after (inclusive). */
  since?: Date;
  /** Received before (exclusive). */
  until?: Date;
  /** true: at least one attachment; false: none. @default either */
  hasAttachment?: boolean;
  /** The Message-ID header, with or without its angle brackets; compared exactly. */
  messageId?: string;
  /** At most this many rows, newest received first. @default no limit */
  limit?: number;
}

/** A search hit plus how much the index examined to find it (read capacity is charged for examined rows). */
export interface SearchResult {
  rows: DeliveryRow[];
  /**
   * Items DynamoDB read (ScannedCount summed over every page and mailbox): rows, or for a search by one sender
   * the sender index's entries (about 200 bytes each) plus the rows fetched from them.
   */
  examined: number;
  /** Rows DynamoDB returned after its filter expression (before the case-insensitive checks). */
  returned: number;
  /** How it was read: `sender` (one sender's index entries) or `mailbox` (each mailbox's rows by date). */
  plan?: 'sender' | 'mailbox';
  /**
   * Why a search by one whole sender address read each mailbox's rows instead of the sender index (the index not
   * built yet, or refusing the query); absent when it read the index, or when nothing asked for it.
   */
  fallback?: string;
}

/** Where searches run: the index adapter. */
export interface DeliverySearch {
  search(query: SearchQuery, mailboxes: string[]): Promise<SearchResult>;
}

/** The forms a Message-ID may be stored in: as written in the header (`<id@host>`), and without brackets. */
export function messageIdForms(messageId: string): string[] {
  const bare = messageId.trim().replace(/^<|>$/g, '');
  return [`<${bare}>`, bare];
}

/**
 * The sender a `from` criterion names exactly, lower case (as ingest stores `fromAddress`), or undefined when it
 * is a part of an address: a whole address has a local part, an `@` and a domain, and no space. An address as
 * copied from a header (`Tim <tim@example.com>`, `<tim@example.com>`) is the address inside it.
 */
export function senderAddress(from: string): string | undefined {
  const text = from.trim();
  const address = text.includes('<') ? (headerAddress(text) ?? text) : text;
  const { local, domain } = splitAddress(address);
  return local && domain && !/\s/.test(address) ? address.toLowerCase() : undefined;
}

/**
 * Every spelling of the sender a `from` criterion names exactly, as ingest may have stored it (lower case): one for
 * a plain ASCII domain, the A-label and U-label forms (and the domain as typed) for an internationalised one;
 * undefined when `from` is a part of an address ({@link senderAddress}).
 */
export function senderSpellings(from: string): string[] | undefined {
  const exact = senderAddress(from);
  return exact === undefined ? undefined : addressSpellings(exact);
}

/** Whether `haystack` holds any of `spellings` (lower case, from addressSpellings), case-insensitively. */
const containsAny = (haystack: string | undefined, spellings: readonly string[]) => {
  const folded = (haystack ?? '').toLowerCase();
  return spellings.some((spelling) => folded.includes(spelling));
};

const containsFolded = (haystack: string | undefined, needle: string) =>
  (haystack ?? '').toLowerCase().includes(needle.toLowerCase());

/** The rule: does `row` match every criterion of `query`? (Criteria left out match everything.) */
export function matchesSearch(row: DeliveryRow, query: SearchQuery): boolean {
  if (query.mailboxes && !query.mailboxes.includes(row.mailbox)) return false;
  const received = new Date(row.receivedAt);
  if (query.since && received < query.since) return false;
  if (query.until && received >= query.until) return false;
  if (query.from !== undefined && !matchesSender(row, query.from)) return false;
  if (query.to !== undefined) {
    const spellings = addressSpellings(query.to);
    if (![...row.to, ...row.cc, ...row.envelopeRecipients].some((a) => containsAny(a, spellings)))
      return false;
  }
  if (query.subject !== undefined && !containsFolded(row.subject, query.subject)) return false;
  if (query.hasAttachment !== undefined && row.attachments.length > 0 !== query.hasAttachment) return false;
  if (query.messageId !== undefined && !messageIdForms(query.messageId).includes(row.messageId ?? ''))
    return false;
  return true;
}

// The same spellings the DynamoDB adapter puts in its key conditions and filter expressions.
function matchesSender(row: DeliveryRow, from: string): boolean {
  const exact = senderSpellings(from);
  return exact !== undefined
    ? exact.includes(row.fromAddress?.toLowerCase() ?? '')
    : containsAny(row.fromAddress, addressSpellings(from));
}

/** Newest received first; ties broken by mailbox, then message key, so output is stable. */
export function compareNewestFirst(a: DeliveryRow, b: DeliveryRow): number {
  return (
    b.receivedAt.localeCompare(a.receivedAt) ||
    a.mailbox.localeCompare(b.mailbox) ||
    a.messageKey.localeCompare(b.messageKey)
  );
}
