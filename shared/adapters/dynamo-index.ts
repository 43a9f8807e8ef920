// The whole index on its one DynamoDB table (AWS or DynamoDB Local): the three port adapters over one document
// client, for the callers that need more than one port (the CLI, the forward Lambda, the local stack).
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ForwardEntry, ForwardEntryKey, ForwardState } from '../forwarding/ledger';
import type { DeliveryRow, ExportPart, ExportRecord, FolderState } from '../index/schema';
import type { ForwardLedger, IndexReads, ListQuery, MailIndex } from '../ports';
import type { Folder } from '../receiving/routing';
import { DynamoDeliveryIndex } from './dynamo-delivery-index';
import { DynamoExportLog } from './dynamo-export-log';
import { DynamoForwardLedger } from './dynamo-forward-ledger';
import { IndexTable } from './dynamo-table';

export class DynamoMailIndex implements MailIndex, ForwardLedger {
  readonly deliveries: DynamoDeliveryIndex;
  readonly exports: DynamoExportLog;
  readonly ledger: DynamoForwardLedger;

  constructor(client: DynamoDBClient, tableName: string, now: () => Date = () => new Date()) {
    const table = new IndexTable(client, tableName, now);
    this.deliveries = new DynamoDeliveryIndex(table);
    this.exports = new DynamoExportLog(table);
    this.ledger = new DynamoForwardLedger(table);
  }

  getDelivery(mailbox: string, messageKey: string): Promise<DeliveryRow | undefined> {
    return this.deliveries.getDelivery(mailbox, messageKey);
  }
  allocateUid(mailbox: string, folder: Folder): Promise<{ uid: number; uidValidity: number }> {
    return this.deliveries.allocateUid(mailbox, folder);
  }
  restoreUid(mailbox: string, folder: Folder, uid: number, uidValidity: number): Promise<boolean> {
    return this.deliveries.restoreUid(mailbox, folder, uid, uidValidity);
  }
  allDeliveries(): AsyncIterable<DeliveryRow> {
    return this.deliveries.allDeliveries();
  }
  rawObjectRows(mailbox: string, afterSesMessageId?: string) {
    return this.deliveries.rawObjectRows(mailbox, afterSesMessageId);
  }
  mailboxRows(mailbox: string, afterMessageKey?: string) {
    return this.deliveries.mailboxRows(mailbox, afterMessageKey);
  }
  putDelivery(row: DeliveryRow): Promise<'created' | 'exists'> {
    return this.deliveries.putDelivery(row);
  }
  claimContent(mailbox: string, contentSha256: string, messageKey: string): Promise<string> {
    return this.deliveries.claimContent(mailbox, contentSha256, messageKey);
  }
  contentHolder(mailbox: string, contentSha256: string): Promise<string | undefined> {
    return this.deliveries.contentHolder(mailbox, contentSha256);
  }
  listDeliveries(mailbox: string, query?: ListQuery): AsyncIterable<DeliveryRow> {
    return this.deliveries.listDeliveries(mailbox, query);
  }
  folderDeliveries(mailbox: string, folder: string): AsyncIterable<DeliveryRow> {
    return this.deliveries.folderDeliveries(mailbox, folder);
  }
  countDeliveries(mailbox: string, folder: string, reads?: IndexReads): Promise<number> {
    return this.deliveries.countDeliveries(mailbox, folder, reads);
  }
  folders(mailbox: string, reads?: IndexReads): Promise<FolderState[]> {
    return this.deliveries.folders(mailbox, reads);
  }
  mailboxes(reads?: IndexReads): Promise<string[]> {
    return this.deliveries.mailboxes(reads);
  }

  putExport(record: ExportRecord): Promise<void> {
    return this.exports.putExport(record);
  }
  recordExportPart(
    mailbox: string,
    exportId: string,
    part: number,
    result: ExportPart,
  ): Promise<ExportRecord> {
    return this.exports.recordExportPart(mailbox, exportId, part, result);
  }
  recordExportProgress(mailbox: string, exportId: string, part: number, messages: number): Promise<void> {
    return this.exports.recordExportProgress(mailbox, exportId, part, messages);
  }
  failExport(mailbox: string, exportId: string, error: string): Promise<void> {
    return this.exports.failExport(mailbox, exportId, error);
  }
  getExport(mailbox: string, exportId: string): Promise<ExportRecord | undefined> {
    return this.exports.getExport(mailbox, exportId);
  }
  latestExport(mailbox: string, format: ExportRecord['format']): Promise<ExportRecord | undefined> {
    return this.exports.latestExport(mailbox, format);
  }

  claimForward(entry: ForwardEntryKey, now: Date, redrive: boolean): Promise<boolean> {
    return this.ledger.claimForward(entry, now, redrive);
  }
  settleForward(...args: Parameters<ForwardLedger['settleForward']>): Promise<void> {
    return this.ledger.settleForward(...args);
  }
  skipForward(entry: ForwardEntryKey, reason: string, now: Date): Promise<void> {
    return this.ledger.skipForward(entry, reason, now);
  }
  listForwards(mailbox: string, state?: ForwardState, afterMessageKey?: string): AsyncIterable<ForwardEntry> {
    return this.ledger.listForwards(mailbox, state, afterMessageKey);
  }
  messageForwards(mailbox: string, messageKey: string): Promise<ForwardEntry[]> {
    return this.ledger.messageForwards(mailbox, messageKey);
  }
  recordFeedback(...args: Parameters<ForwardLedger['recordFeedback']>): Promise<boolean> {
    return this.ledger.recordFeedback(...args);
  }
}
