// The byte budget of an index row. DynamoDB refuses an item over 400 KB, counted in UTF-8 bytes of attribute
// names and values (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html);
// the parse limits count characters, and a CJK or emoji header is 3-4 bytes per character. A row refused is a
// message kept in S3 but never indexed, forwarded or exported, so every text field and list of a row is cut to
// a byte budget here (what was cut is recorded in the row), and a row that is still refused is replaced by a
// minimal one that keeps the message listed, forwarded and exported. The raw bytes are never touched.
import type { DeliveryRow } from './schema';

/** DynamoDB's item size limit, in bytes (names and values, UTF-8). */
export const DYNAMODB_ITEM_LIMIT_BYTES = 400 * 1024;

/** Byte limits of a row's variable parts (UTF-8). */
export interface RowBudget {
  /** The Subject. */
  subjectBytes: number;
  /** One short value: the Date header, Message-ID, In-Reply-To, one reference, address, file name or recipient. */
  valueBytes: number;
  /** Each list (references, from, to, cc, attachments, envelope recipients), all its values together. */
  listBytes: number;
  parseErrorBytes: number;
  /** The whole stored item (keys included): a row estimated above it is written minimal straight away. */
  itemBytes: number;
}

/**
 * Worst case of the per-field limits: 4 KB + 4 x 1 KB + 6 lists x 24 KB + 2 KB = 154 KB of text, well under
 * DynamoDB's 400 KB (the item budget, 300 KB, leaves room for the fixed fields and the estimate's error).
 */
export const defaultRowBudget: RowBudget = {
  subjectBytes: 4 * 1024,
  valueBytes: 1024,
  listBytes: 24 * 1024,
  parseErrorBytes: 2 * 1024,
  itemBytes: 300 * 1024,
};

/** DynamoDB refused a row for its size (the adapter translates the service's ValidationException into this). */
export class RowTooLargeError extends Error {
  override name = 'RowTooLargeError';
}

/** Marks a cut string: one character, 3 bytes, counted inside the budget. */
const CUT_MARK = '…';

export const utf8Bytes = (value: string): number => Buffer.byteLength(value, 'utf8');

/** The longest prefix of `value` within `maxBytes` UTF-8 bytes, never splitting a character, marked as cut. */
export function truncateUtf8(value: string, maxBytes: number): string {
  // A UTF-16 code unit is at most 3 UTF-8 bytes (a surrogate pair, two units, is 4): most values need no count.
  if (value.length * 3 <= maxBytes || utf8Bytes(value) <= maxBytes) return value;
  const room = Math.max(0, maxBytes - utf8Bytes(CUT_MARK));
  let bytes = 0;
  let end = 0;
  for (const char of value) {
    const size = utf8Bytes(char);
    if (bytes + size > room) break;
    bytes += size;
    end += char.length;
  }
  return `${value.slice(0, end)}${CUT_MARK}`;
}

/**
 * DynamoDB's size of a value as the document client stores it: strings by UTF-8 length, numbers up to 21 bytes,
 * lists and maps 3 bytes plus 1 per element plus (maps) their names. An upper bound for what rows hold.
 */
export function itemSizeBytes(value: unknown): number {
  if (value === undefined) return 0;
  if (value === null || typeof value === 'boolean') return 1;
  if (typeof value === 'number') return 21;
  if (typeof value === 'string') return utf8Bytes(value);
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, v) => sum + 1 + itemSizeBytes(v), 0);
  if (typeof value === 'object') {
    return (
      3 +
      Object.entries(value).reduce(
        (sum, [name, v]) => (v === undefined ? sum : sum + 1 + utf8Bytes(name) + itemSizeBytes(v)),
        0,
      )
    );
  }
  return utf8Bytes(String(value));
}

/** Keeps the first values of a list (each cut to `valueBytes`) while the list stays within `listBytes`. */
function capList<T>(
  values: readonly T[],
  size: (value: T) => number,
  cut: (value: T) => T,
  listBytes: number,
): { kept: T[]; cut: boolean } {
  const kept: T[] = [];
  let bytes = 3;
  let changed = false;
  for (const value of values) {
    const fitted = cut(value);
    if (fitted !== value) changed = true;
    const cost = 1 + size(fitted);
    if (bytes + cost > listBytes) return { kept, cut: true };
    bytes += cost;
    kept.push(fitted);
  }
  return { kept, cut: changed };
}

/**
 * The row cut to the budget: each text field to its byte limit, each list to its first values within the list
 * limit. `truncated` names every field that was cut (the raw message and the envelope sidecar keep it whole);
 * `envelopeRecipientCount` keeps the full count when recipients were cut. The stored item is still estimated
 * by `itemSizeBytes`: over `itemBytes`, the caller writes `minimalRow` instead.
 */
export function fitRowToBudget<R extends Omit<DeliveryRow, 'verdicts'>>(
  row: R,
  budget: RowBudget = defaultRowBudget,
): R {
  const truncated: string[] = [...(row.truncated ?? [])];
  const text = (field: string, value: string | undefined, maxBytes: number) => {
    if (value === undefined) return undefined;
    const fitted = truncateUtf8(value, maxBytes);
    if (fitted !== value && !truncated.includes(field)) truncated.push(field);
    return fitted;
  };
  const list = (field: string, values: readonly string[]) => {
    const result = capList(values, utf8Bytes, (v) => truncateUtf8(v, budget.valueBytes), budget.listBytes);
    if (result.cut && !truncated.includes(field)) truncated.push(field);
    return result.kept;
  };
  const attachments = capList(
    row.attachments,
    itemSizeBytes,
    (a) => {
      const filename = truncateUtf8(a.filename, budget.valueBytes);
      const contentType = truncateUtf8(a.contentType, budget.valueBytes);
      return filename === a.filename && contentType === a.contentType ? a : { ...a, filename, contentType };
    },
    budget.listBytes,
  );
  if (attachments.cut) truncated.push('attachments');
  const envelopeRecipients = list('envelopeRecipients', row.envelopeRecipients);
  const fitted: R = {
    ...row,
    subject: text('subject', row.subject, budget.subjectBytes),
    dateHeader: text('dateHeader', row.dateHeader, budget.valueBytes),
    messageId: text('messageId', row.messageId, budget.valueBytes),
    inReplyTo: text('inReplyTo', row.inReplyTo, budget.valueBytes),
    fromAddress: text('fromAddress', row.fromAddress, budget.valueBytes),
    parseError: text('parseError', row.parseError, budget.parseErrorBytes),
    references: list('references', row.references),
    from: list('from', row.from),
    to: list('to', row.to),
    cc: list('cc', row.cc),
    attachments: attachments.kept,
    envelopeRecipients,
    ...(row.keywords ? { keywords: list('keywords', row.keywords) } : {}),
    ...(envelopeRecipients.length < row.envelopeRecipients.length
      ? { envelopeRecipientCount: row.envelopeRecipients.length }
      : {}),
  };
  for (const key of Object.keys(fitted) as (keyof R)[]) {
    if (fitted[key] === undefined) delete fitted[key];
  }
  return truncated.length > 0 ? { ...fitted, truncated } : fitted;
}

const DROPPED_BY_MINIMAL = [
  'subject',
  'dateHeader',
  'messageId',
  'inReplyTo',
  'fromAddress',
  'parseError',
  'from',
  'to',
  'cc',
  'references',
  'attachments',
  'envelopeRecipients',
] as const satisfies readonly (keyof DeliveryRow)[];

/**
 * The smallest row that still lists, forwards and exports the message: its keys, place (folder, UID, flags),
 * raw location, size, line endings, dates and the first envelope recipient (the forwarder addresses it); the
 * headers and lists are left out and `minimal` says why. Its size is bounded by the ids it holds (well under 2 KB).
 */
export function minimalRow<R extends DeliveryRow>(row: R, reason: string): DeliveryRow {
  const first = row.envelopeRecipients[0];
  return {
    mailbox: row.mailbox,
    folder: row.folder,
    uid: row.uid,
    uidValidity: row.uidValidity,
    flags: row.flags,
    messageKey: row.messageKey,
    sha256: row.sha256,
    ...(row.contentSha256 ? { contentSha256: row.contentSha256 } : {}),
    sesMessageId: row.sesMessageId,
    location: row.location,
    size: row.size,
    lineEndings: row.lineEndings,
    receivedAt: row.receivedAt,
    ...(row.receivedAtSource ? { receivedAtSource: row.receivedAtSource } : {}),
    ...(row.date ? { date: row.date } : {}),
    from: [],
    to: [],
    cc: [],
    references: [],
    attachments: [],
    verdicts: row.verdicts,
    ...(row.expiresAt !== undefined ? { expiresAt: row.expiresAt } : {}),
    envelopeRecipients: first ? [truncateUtf8(first, 320)] : [],
    envelopeRecipientCount: row.envelopeRecipientCount ?? row.envelopeRecipients.length,
    minimal: truncateUtf8(reason, 512),
    truncated: DROPPED_BY_MINIMAL.filter((field) => {
      const value = row[field];
      return Array.isArray(value)
        ? value.length > (field === 'envelopeRecipients' ? 1 : 0)
        : value !== undefined;
    }),
    archivedAt: row.archivedAt,
    schemaVersion: row.schemaVersion,
  };
}
