// An export as a job: snapshots what it covers (so every part and every later incremental agrees), records
// progress and the result in the index (so the CLI can follow an export running in Lambda), and can split the
// work into parts that run in parallel, each writing its own bundle to the sink it is given.
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { errorMessage } from '../errors';
import { type ExportPart, type ExportRecord, newExportId } from '../index/schema';
import type { BundleEncryption } from './age';
import { type ExportDeps, exportMailbox, summarizeExport } from './export';
import type { BundleFormat } from './manifest';

export interface ExportJobRequest {
  mailbox: string;
  format: BundleFormat;
  incremental: boolean;
  exportId?: string;
  readConcurrency?: number;
  /** Parts to split the work into; by default as many as `maxRawBytesPerPart` requires. */
  parts?: number;
  /** The raw bytes one part may cover (what one Lambda invocation exports well within its 15 minutes). */
  maxRawBytesPerPart?: number;
  now?: () => Date;
  /**
   * Encrypt with age. Recipients are recorded on the export (every part, also in another invocation, encrypts to
   * them); a passphrase is not, and applies only to this process's runExportJob.
   */
  encryption?: BundleEncryption;
}

export interface BundleSink {
  /** Where the bundle goes (an S3 key, a file path), recorded in the index. */
  key: string;
  stream: Writable;
  /** Resolves once the bundle is durably stored (e.g. the multipart upload completed). */
  done: Promise<void>;
}

export type OpenSink = (exportId: string, part: number, partCount: number) => BundleSink;

/**
 * Raw bytes one export invocation takes: under half of what 15 minutes hold at the slowest rate the benchmark
 * measured, leaving room for slower S3 reads and a slower vCPU (the figures: docs/disaster-recovery.md).
 */
export const DEFAULT_MAX_RAW_BYTES_PER_PART = 10 * 1024 ** 3;

export function createExportId(now = new Date()): string {
  return newExportId(now, randomBytes(3).toString('hex'));
}

/** Plans an export and records it as running: the snapshot of UIDs, the incremental base, the part count. */
export async function startExport(deps: ExportDeps, request: ExportJobRequest): Promise<ExportRecord> {
  const started = (request.now ?? (() => new Date()))();
  const base = request.incremental
    ? await deps.index.latestExport(request.mailbox, request.format)
    : undefined;
  const after = base?.lastUids;
  const summary = await summarizeExport(deps, { mailbox: request.mailbox, ...(after ? { after } : {}) });
  const maxPerPart = request.maxRawBytesPerPart ?? DEFAULT_MAX_RAW_BYTES_PER_PART;
  const partCount = Math.max(1, request.parts ?? Math.ceil(summary.rawBytes / maxPerPart));
  const record: ExportRecord = {
    mailbox: request.mailbox,
    exportId: request.exportId ?? createExportId(started),
    createdAt: started.toISOString(),
    updatedAt: started.toISOString(),
    state: 'running',
    format: request.format,
    incremental: base !== undefined,
    ...(after ? { after } : {}),
    lastUids: summary.lastUids,
    messagesDone: 0,
    messagesTotal: summary.messages,
    partCount,
    partResults: {},
    partProgress: {},
    parts: [],
    ...(request.encryption && 'recipients' in request.encryption
      ? { recipients: request.encryption.recipients }
      : {}),
  };
  await deps.index.putExport(record);
  return record;
}

/** Builds one part of a started export and records it; the part that completes the set marks the export done. */
export async function runExportPart(
  deps: ExportDeps,
  record: ExportRecord,
  part: number,
  openSink: OpenSink,
  options: {
    readConcurrency?: number;
    onProgress?: (messages: number) => void;
    /** Default: to the export's recorded recipients, if any. */
    encryption?: BundleEncryption | 'none';
  } = {},
): Promise<ExportRecord> {
  const encryption =
    options.encryption === 'none'
      ? undefined
      : (options.encryption ?? (record.recipients ? { recipients: record.recipients } : undefined));
  const partCount = record.partCount ?? 1;
  const sink = openSink(record.exportId, part, partCount);
  // Progress goes to the index every few seconds, chained so that none lands after the result.
  let lastSaved = Date.now();
  let saving: Promise<void> = Promise.resolve();
  sink.done.catch(() => undefined); // awaited below on success; on failure the export's own error is reported
  try {
    const result = await exportMailbox(
      deps,
      {
        mailbox: record.mailbox,
        format: record.format,
        ...(record.after ? { after: record.after } : {}),
        ...(record.lastUids ? { upTo: record.lastUids } : {}),
        ...(partCount > 1 ? { part: { index: part, count: partCount } } : {}),
        readConcurrency: options.readConcurrency,
        expectedTotal: record.messagesTotal,
        now: new Date(record.createdAt),
        ...(encryption ? { encryption } : {}),
        onProgress: (p) => {
          options.onProgress?.(p.messages);
          if (Date.now() - lastSaved < 2000) return;
          lastSaved = Date.now();
          saving = saving
            .then(() => deps.index.recordExportProgress(record.mailbox, record.exportId, part, p.messages))
            .catch(() => undefined);
        },
      },
      sink.stream,
    );
    await sink.done;
    await saving;
    const finished: ExportPart = {
      key: sink.key,
      bytes: result.bytes,
      sha256: result.sha256,
      messages: result.messages,
      rawBytes: result.rawBytes,
    };
    return await deps.index.recordExportPart(record.mailbox, record.exportId, part, finished);
  } catch (error) {
    sink.stream.destroy();
    await deps.index.failExport(
      record.mailbox,
      record.exportId,
      `part ${part + 1}/${partCount}: ${errorMessage(error)}`,
    );
    throw error;
  }
}

/**
 * Runs a whole export in this process, its parts in parallel. With `request.encryption`, a one-part export is
 * encrypted as it is written; the parts of a split one are written plain, for the caller to join and encrypt
 * (joinBundles): encrypted parts could not be joined without a key that opens them.
 */
export async function runExportJob(
  deps: ExportDeps,
  request: ExportJobRequest,
  openSink: OpenSink,
  onProgress?: (done: number, total: number) => void,
): Promise<ExportRecord> {
  const record = await startExport(deps, request);
  const partCount = record.partCount ?? 1;
  const encryption = partCount === 1 ? request.encryption : undefined;
  const done = new Array<number>(partCount).fill(0);
  const results = await Promise.all(
    done.map((_, i) =>
      runExportPart(deps, record, i, openSink, {
        readConcurrency: request.readConcurrency,
        encryption: encryption ?? 'none',
        onProgress: (messages) => {
          done[i] = messages;
          onProgress?.(
            done.reduce((a, b) => a + b, 0),
            record.messagesTotal,
          );
        },
      }),
    ),
  );
  const final =
    results.find((r) => r.state === 'done') ?? (await deps.index.getExport(record.mailbox, record.exportId));
  if (final?.state !== 'done') throw new Error(`export ${record.exportId} did not complete`);
  return final;
}
