// MailIndex and ForwardLedger in memory, with the same conditional semantics as the DynamoDB adapter: for
// benchmarks of the core without a database, and for tests of the core's logic.
import {
  type ForwardEntry,
  type ForwardEntryKey,
  type ForwardState,
  isClaimable,
  leaseUntil,
  type SendResult,
} from '../forwarding/ledger';
import { compareUtf8 } from '../index/key-order';
import { DYNAMODB_ITEM_LIMIT_BYTES, itemSizeBytes, RowTooLargeError } from '../index/row-budget';
import {
  type DeliveryRow,
  deliveryItem,
  type ExportPart,
  type ExportRecord,
  type FolderState,
  forwardSkAfter,
  indexKeys,
} from '../index/schema';
import type { ForwardLedger, IndexReads, ListQuery, MailIndex } from '../ports';
import type { Folder } from '../receiving/routing';

export class MemoryMailIndex implements MailIndex, ForwardLedger {
  readonly rows = new Map<string, DeliveryRow>();
  readonly folderStates = new Map<string, FolderState>();
  readonly exports = new Map<string, ExportRecord>();
  readonly forwards = new Map<string, ForwardEntry>();
  /** Content markers: `<mailbox>\n<contentSha256>` -> message key. */
  readonly contents = new Map<string, string>();
  private readonly sentCopies = new Map<string, string>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  async getDelivery(mailbox: string, messageKey: string) {
    return this.rows.get(`${mailbox}\n${messageKey}`);
  }

  async allocateUid(mailbox: string, folder: Folder) {
    const key = `${mailbox}\n${folder}`;
    const state = this.folderStates.get(key) ?? {
      mailbox,
      folder,
      uidValidity: Math.floor(this.now().getTime() / 1000),
      lastUid: 0,
    };
    state.lastUid += 1;
    this.folderStates.set(key, state);
    return { uid: state.lastUid, uidValidity: state.uidValidity };
  }

  async restoreUid(mailbox: string, folder: Folder, uid: number, uidValidity: number) {
    const key = `${mailbox}\n${folder}`;
    const state = this.folderStates.get(key);
    if (!state) {
      this.folderStates.set(key, { mailbox, folder, uidValidity, lastUid: uid });
      return true;
    }
    if (state.uidValidity !== uidValidity) return false;
    state.lastUid = Math.max(state.lastUid, uid);
    return true;
  }

  async *allDeliveries() {
    yield* this.rows.values();
  }

  async *rawObjectRows(mailbox: string, afterSesMessageId?: string) {
    yield* [...this.rows.values()]
      .filter(
        (r) =>
          r.mailbox === mailbox &&
          (afterSesMessageId === undefined || compareUtf8(r.sesMessageId, afterSesMessageId) > 0),
      )
      .sort((a, b) => compareUtf8(a.sesMessageId, b.sesMessageId) || compareUtf8(a.messageKey, b.messageKey))
      .map((r) => ({ mailbox: r.mailbox, messageKey: r.messageKey, sesMessageId: r.sesMessageId }));
  }

  async *mailboxRows(mailbox: string, afterMessageKey?: string) {
    yield* [...this.rows.values()]
      .filter(
        (r) =>
          r.mailbox === mailbox &&
          (afterMessageKey === undefined || compareUtf8(r.messageKey, afterMessageKey) > 0),
      )
      .sort((a, b) => compareUtf8(a.messageKey, b.messageKey));
  }

  async putDelivery(row: DeliveryRow): Promise<'created' | 'exists'> {
    const key = `${row.mailbox}\n${row.messageKey}`;
    if (this.rows.has(key)) return 'exists';
    const size = itemSizeBytes(deliveryItem(row));
    if (size > DYNAMODB_ITEM_LIMIT_BYTES)
      throw new RowTooLargeError(`Item size has exceeded the maximum allowed size (${size} bytes)`);
    this.rows.set(key, structuredClone(row));
    return 'created';
  }

  async claimContent(mailbox: string, contentSha256: string, messageKey: string): Promise<string> {
    const key = `${mailbox}\n${contentSha256}`;
    const holder = this.contents.get(key);
    if (holder !== undefined) return holder;
    this.contents.set(key, messageKey);
    return messageKey;
  }

  async contentHolder(mailbox: string, contentSha256: string): Promise<string | undefined> {
    return this.contents.get(`${mailbox}\n${contentSha256}`);
  }

  async *listDeliveries(mailbox: string, query: ListQuery = {}) {
    const rows = [...this.rows.values()]
      .filter(
        (r) =>
          r.mailbox === mailbox &&
          (!query.folder || r.folder === query.folder) &&
          (!query.since || new Date(r.receivedAt) >= query.since) &&
          (!query.until || new Date(r.receivedAt) < query.until),
      )
      .sort((a, b) => b.receivedAt.localeCompare(a.receivedAt));
    const listed = rows.slice(0, query.limit ?? rows.length);
    countRead(query.reads, listed.length);
    yield* listed;
  }

  async countDeliveries(mailbox: string, folder: string, reads?: IndexReads) {
    // Every folder here keeps its count: its folder item is what is read.
    countRead(reads, 1);
    return [...this.rows.values()].filter((r) => r.mailbox === mailbox && r.folder === folder).length;
  }

  async *folderDeliveries(mailbox: string, folder: string) {
    yield* [...this.rows.values()]
      .filter((r) => r.mailbox === mailbox && r.folder === folder)
      .sort((a, b) => a.uid - b.uid);
  }

  async folders(mailbox: string, reads?: IndexReads) {
    // Every folder here keeps its count (as a folder made by the DynamoDB adapter since counts were kept).
    const states = [...this.folderStates.values()].filter((f) => f.mailbox === mailbox);
    countRead(reads, states.length);
    return states.map((f) => ({
      ...f,
      messages: [...this.rows.values()].filter((r) => r.mailbox === mailbox && r.folder === f.folder).length,
    }));
  }

  async mailboxes(reads?: IndexReads) {
    const mailboxes = [...new Set([...this.folderStates.values()].map((f) => f.mailbox))].sort();
    countRead(reads, mailboxes.length);
    return mailboxes;
  }

  async putExport(record: ExportRecord) {
    this.exports.set(`${record.mailbox}\n${record.exportId}`, structuredClone(record));
  }

  async getExport(mailbox: string, exportId: string) {
    const record = this.exports.get(`${mailbox}\n${exportId}`);
    return record ? structuredClone(record) : undefined;
  }

  async latestExport(mailbox: string, format: ExportRecord['format']) {
    return [...this.exports.values()]
      .filter((r) => r.mailbox === mailbox && r.format === format && r.state === 'done')
      .sort((a, b) => b.exportId.localeCompare(a.exportId))[0];
  }

  async recordExportPart(mailbox: string, exportId: string, part: number, result: ExportPart) {
    const record = this.exports.get(`${mailbox}\n${exportId}`);
    if (!record) throw new Error(`no export ${exportId}`);
    record.partResults = { ...record.partResults, [String(part)]: result };
    const count = record.partCount ?? 1;
    if (record.state === 'running' && Object.keys(record.partResults).length === count) {
      record.parts = Array.from({ length: count }, (_, i) => record.partResults?.[String(i)] as ExportPart);
      record.messagesDone = record.parts.reduce((n, p) => n + p.messages, 0);
      record.state = 'done';
    }
    return structuredClone(record);
  }

  async recordExportProgress(mailbox: string, exportId: string, part: number, messages: number) {
    const record = this.exports.get(`${mailbox}\n${exportId}`);
    if (record) record.partProgress = { ...record.partProgress, [String(part)]: messages };
  }

  async failExport(mailbox: string, exportId: string, error: string) {
    const record = this.exports.get(`${mailbox}\n${exportId}`);
    if (record) Object.assign(record, { state: 'failed', error });
  }

  private forwardKey(e: ForwardEntryKey) {
    return `${e.mailbox}\n${e.messageKey}\n${e.target}`;
  }

  async claimForward(e: ForwardEntryKey, now: Date, redrive: boolean) {
    const existing = this.forwards.get(this.forwardKey(e));
    if (!isClaimable(existing, now, redrive)) return false;
    this.forwards.set(this.forwardKey(e), {
      ...e,
      ...existing,
      state: 'sending',
      attempts: (existing?.attempts ?? 0) + 1,
      leaseUntil: leaseUntil(now),
      updatedAt: now.toISOString(),
    });
    return true;
  }

  async settleForward(e: ForwardEntryKey, result: SendResult, now: Date) {
    const entry = this.forwards.get(this.forwardKey(e));
    if (!entry) throw new Error('settling an unclaimed forward');
    delete entry.leaseUntil;
    if (result.state === 'sent') {
      delete entry.error;
      delete entry.permanent;
    }
    Object.assign(entry, result, { updatedAt: now.toISOString() });
    if (result.state === 'sent' && 'sesMessageId' in result) {
      this.sentCopies.set(result.sesMessageId, this.forwardKey(e));
    }
  }

  async skipForward(e: ForwardEntryKey, reason: string, now: Date) {
    const existing = this.forwards.get(this.forwardKey(e));
    if (existing && existing.state !== 'pending') return;
    this.forwards.set(this.forwardKey(e), {
      ...e,
      state: 'skipped',
      reason,
      attempts: 0,
      updatedAt: now.toISOString(),
    });
  }

  async *listForwards(mailbox: string, state?: ForwardState, afterMessageKey?: string) {
    // In the table's sort-key order (FORWARD#<messageKey>#<target>).
    const sk = (f: ForwardEntry) => indexKeys.forwardSk(f.messageKey, f.target);
    yield* [...this.forwards.values()]
      .filter(
        (f) =>
          f.mailbox === mailbox &&
          (!state || f.state === state) &&
          (afterMessageKey === undefined || compareUtf8(sk(f), forwardSkAfter(afterMessageKey)) > 0),
      )
      .sort((a, b) => compareUtf8(sk(a), sk(b)));
  }

  async messageForwards(mailbox: string, messageKey: string) {
    const out: ForwardEntry[] = [];
    for await (const f of this.listForwards(mailbox)) if (f.messageKey === messageKey) out.push(f);
    return out;
  }

  async recordFeedback(sesMessageId: string, state: 'bounced' | 'complained', feedback: string, now: Date) {
    const key = this.sentCopies.get(sesMessageId);
    const entry = key ? this.forwards.get(key) : undefined;
    if (!entry) return false;
    Object.assign(entry, { state, feedback, updatedAt: now.toISOString() });
    return true;
  }
}

/** What the DynamoDB adapters count from ScannedCount: here every item read is returned. */
function countRead(reads: IndexReads | undefined, items: number): void {
  if (!reads) return;
  reads.read += items;
  reads.returned += items;
}
