// An export as a job: decides the incremental base, records progress and the result in the index (so the CLI
// can follow an export running in Lambda), and writes the bundle to whatever sink it is given.
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { type BundleFormat, type ExportDeps, type ExportResult, exportMailbox } from './export';
import { type ExportRecord, newExportId } from './index-schema';

export interface ExportJobRequest {
  mailbox: string;
  format: BundleFormat;
  incremental: boolean;
  exportId?: string;
  readConcurrency?: number;
  now?: () => Date;
}

export interface BundleSink {
  /** Where the bundle goes (an S3 key, a file path), recorded in the index. */
  key: string;
  stream: Writable;
  /** Resolves once the bundle is durably stored (e.g. the multipart upload completed). */
  done: Promise<void>;
}

export function createExportId(now = new Date()): string {
  return newExportId(now, randomBytes(3).toString('hex'));
}

/** Runs one export; the returned record is also stored in the index (state done, or failed with the error). */
export async function runExportJob(
  deps: ExportDeps,
  request: ExportJobRequest,
  openSink: (exportId: string) => BundleSink,
  onProgress?: (record: ExportRecord) => void,
): Promise<ExportRecord & { result: ExportResult }> {
  const now = request.now ?? (() => new Date());
  const started = now();
  const base = request.incremental
    ? await deps.index.latestExport(request.mailbox, request.format)
    : undefined;
  const record: ExportRecord = {
    mailbox: request.mailbox,
    exportId: request.exportId ?? createExportId(started),
    createdAt: started.toISOString(),
    updatedAt: started.toISOString(),
    state: 'running',
    format: request.format,
    incremental: base !== undefined,
    ...(base?.lastUids ? { after: base.lastUids } : {}),
    messagesDone: 0,
    messagesTotal: 0,
    parts: [],
  };
  await deps.index.putExport(record);
  let lastSaved = Date.now();
  // Progress writes are chained so that none can land after the final record.
  let saving: Promise<void> = Promise.resolve();
  const sink = openSink(record.exportId);
  sink.done.catch(() => undefined); // awaited below on success; on failure the export's own error is reported
  try {
    const result = await exportMailbox(
      deps,
      {
        mailbox: request.mailbox,
        format: request.format,
        ...(record.after ? { after: record.after } : {}),
        readConcurrency: request.readConcurrency,
        now: started,
        onProgress: (p) => {
          record.messagesDone = p.messages;
          record.messagesTotal = p.total;
          onProgress?.(record);
          if (Date.now() - lastSaved > 2000) {
            lastSaved = Date.now();
            record.updatedAt = now().toISOString();
            const snapshot = { ...record };
            saving = saving.then(() => deps.index.putExport(snapshot)).catch(() => undefined);
          }
        },
      },
      sink.stream,
    );
    await sink.done;
    await saving;
    const done: ExportRecord = {
      ...record,
      state: 'done',
      updatedAt: now().toISOString(),
      messagesDone: result.manifest.messages.length,
      messagesTotal: result.manifest.messages.length,
      lastUids: result.lastUids,
      parts: [{ key: sink.key, bytes: result.bytes, sha256: result.sha256 }],
    };
    await deps.index.putExport(done);
    return { ...done, result };
  } catch (error) {
    sink.stream.destroy();
    await saving;
    await deps.index.putExport({
      ...record,
      state: 'failed',
      updatedAt: now().toISOString(),
      error: (error as Error).message,
    });
    throw error;
  }
}
