// The small interfaces the core talks through. Adapters in shared/adapters implement them with the AWS SDK
// (against AWS or the local services); the core never imports the SDK.
import type { DeliveryRow, ExportPart, ExportRecord, FolderState, RawLocation } from './index-schema';
import type { Folder } from './routing';

export interface RawMailStore {
  /** The exact stored bytes, streamed. */
  read(location: RawLocation): Promise<AsyncIterable<Uint8Array>>;
  write(location: RawLocation, body: Uint8Array): Promise<void>;
  exists(location: RawLocation): Promise<boolean>;
  /** Streams a body into an object (multipart, so any size with flat memory). */
  upload(location: RawLocation, body: import('node:stream').Readable, contentType: string): Promise<void>;
  list(bucket: string, prefix: string): AsyncIterable<{ key: string; size: number }>;
}

export interface ListQuery {
  folder?: string;
  /** Newest first. */
  limit?: number;
}

export interface MailIndex {
  getDelivery(mailbox: string, messageKey: string): Promise<DeliveryRow | undefined>;
  /** Hands out the next UID of a folder, creating the folder (and its UIDVALIDITY) on first use. */
  allocateUid(mailbox: string, folder: Folder): Promise<{ uid: number; uidValidity: number }>;
  /**
   * Reindex: gives a folder's UID back to a message, when the folder still has that UIDVALIDITY (or does not
   * exist yet, and is then created with it); raises the folder's last UID to at least that UID. False otherwise.
   */
  restoreUid(mailbox: string, folder: Folder, uid: number, uidValidity: number): Promise<boolean>;
  /** Every delivery row, all mailboxes (reconcile). */
  allDeliveries(): AsyncIterable<DeliveryRow>;
  /** Writes a row unless one exists for (mailbox, messageKey): at-least-once delivery makes this the norm. */
  putDelivery(row: DeliveryRow): Promise<'created' | 'exists'>;
  /** Rows of a mailbox, newest received first. */
  listDeliveries(mailbox: string, query?: ListQuery): AsyncIterable<DeliveryRow>;
  /** Rows of one folder in UID order. */
  folderDeliveries(mailbox: string, folder: string): AsyncIterable<DeliveryRow>;
  folders(mailbox: string): Promise<FolderState[]>;
  /** Every mailbox that has a row, including ones no longer configured. */
  mailboxes(): Promise<string[]>;
  putExport(record: ExportRecord): Promise<void>;
  /** Records a finished part atomically; the call that completes the set marks the export done. */
  recordExportPart(mailbox: string, exportId: string, index: number, part: ExportPart): Promise<ExportRecord>;
  recordExportProgress(mailbox: string, exportId: string, index: number, messages: number): Promise<void>;
  failExport(mailbox: string, exportId: string, error: string): Promise<void>;
  getExport(mailbox: string, exportId: string): Promise<ExportRecord | undefined>;
  /** The newest finished export of a mailbox in a format: the base of an incremental one. */
  latestExport(mailbox: string, format: ExportRecord['format']): Promise<ExportRecord | undefined>;
}

/** Where archived messages wait to be forwarded (SQS on AWS, in-process locally). */
export interface ForwardQueue {
  enqueue(requests: { mailbox: string; messageKey: string }[]): Promise<void>;
}
