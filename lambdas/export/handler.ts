// Invoked asynchronously by `mail-archiver export --target aws`. The first invocation plans the export and
// records it; when the mailbox is larger than one invocation exports safely within 15 minutes it invokes
// itself once per further part, so the parts are built in parallel. Each part streams straight into an S3
// multipart upload under exports/; the CLI follows the record in the index, downloads and joins the parts.
import { PassThrough } from 'node:stream';
import type { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import { checkRecipient } from '../../shared/bundle/age';
import type { BundleProofs } from '../../shared/bundle/export';
import { type OpenSink, runExportPart, startExport } from '../../shared/bundle/export-job';
import { errorMessage, errorName } from '../../shared/errors';
import { type ExportRecord, exportBundleKey } from '../../shared/index/schema';
import type { MailIndex, RawMailStore } from '../../shared/ports';

const exportId = z.string().regex(/^[0-9TZ]+-[0-9a-f]+$/);

const exportEvent = z.union([
  z.object({ mailbox: z.string().min(3), exportId, part: z.number().int().min(1) }).strict(),
  z
    .object({
      mailbox: z.string().min(3),
      format: z.enum(['maildir', 'mboxrd']).default('maildir'),
      incremental: z.boolean().default(false),
      exportId,
      parts: z.number().int().min(1).max(100).optional(),
      /** age X25519 public keys to encrypt every part to: the function never receives a key that decrypts. */
      recipients: z.array(z.string()).min(1).max(100).optional(),
    })
    .strict(),
]);

export type ExportEvent = z.input<typeof exportEvent>;

/**
 * What Lambda sends to the function's on-failure destination when an asynchronous invocation failed for good
 * (an error, Lambda's 15-minute timeout, the process killed; retries are off): the original event and the error.
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
 */
const failureRecord = z.object({
  requestContext: z.object({
    condition: z.string(),
    functionArn: z.string().optional(),
    approximateInvokeCount: z.number().optional(),
  }),
  requestPayload: z.object({ mailbox: z.string(), exportId, part: z.number().optional() }).passthrough(),
  responsePayload: z
    .object({ errorType: z.string().optional(), errorMessage: z.string().optional() })
    .passthrough()
    .nullish(),
});

export type ExportFailureRecord = z.input<typeof failureRecord>;

export interface PartRequest {
  mailbox: string;
  exportId: string;
  part: number;
}

export type PartOutcome = Pick<ExportRecord, 'exportId' | 'state' | 'partCount'>;

export interface ExportHandlerDeps {
  index: MailIndex;
  store: RawMailStore;
  bucket: string;
  /** The transparency log the bundles carry proofs from. @default no proofs */
  proofs?: BundleProofs;
  logger: Pick<Logger, 'info'>;
  /** Starts another invocation of this function (asynchronously) for one part. */
  dispatch: (event: ExportEvent) => Promise<void>;
  /** Builds one part of a recorded export: in a bounded worker thread in Lambda, in this thread by default. */
  buildPart?: (request: PartRequest) => Promise<PartOutcome>;
  maxRawBytesPerPart?: number;
}

/** Builds one part of a recorded export, streaming it into an S3 multipart upload under exports/. */
export function createPartBuilder(deps: Pick<ExportHandlerDeps, 'index' | 'store' | 'bucket' | 'proofs'>) {
  return async ({ mailbox, exportId, part }: PartRequest): Promise<PartOutcome> => {
    const record = await deps.index.getExport(mailbox, exportId);
    if (!record) throw new Error(`export ${exportId} of ${mailbox} is not recorded`);
    const encrypted = Boolean(record.recipients?.length);
    const openSink: OpenSink = (id, index, count) => {
      const key = exportBundleKey(mailbox, id, index, count, encrypted);
      const stream = new PassThrough();
      return {
        key,
        stream,
        done: deps.store
          .upload(
            { bucket: deps.bucket, key },
            stream,
            encrypted ? 'application/octet-stream' : 'application/gzip',
          )
          .then(() => {}),
      };
    };
    const after = await runExportPart(deps, record, part, openSink);
    return { exportId, state: after.state, partCount: record.partCount };
  };
}

/**
 * The export Lambda's handler, invoked asynchronously (`InvocationType: Event`) by the CLI and by itself. The
 * first event (`{ mailbox, format, incremental, exportId, parts?, recipients? }`, validated) plans the export
 * (encrypted with age to `recipients`, public keys only, when given), records it in
 * the index and starts one invocation per further part; a part event (`{ mailbox, exportId, part }`) builds that
 * part into S3 under exports/. Returns the part's outcome; throws when the event does not parse or the part
 * fails (the failure is recorded on the export first), so that Lambda's asynchronous retries apply.
 */
export function createExportHandler(deps: ExportHandlerDeps) {
  const buildPart = deps.buildPart ?? createPartBuilder(deps);

  return async (event: unknown): Promise<PartOutcome> => {
    const failed = failureRecord.safeParse(event);
    if (failed.success) return recordFailure(deps, failed.data);
    const request = exportEvent.parse(event);
    let record: ExportRecord | undefined;
    let part = 0;
    if ('part' in request) {
      record = await deps.index.getExport(request.mailbox, request.exportId);
      if (!record) throw new Error(`export ${request.exportId} of ${request.mailbox} is not recorded`);
      part = request.part;
    } else {
      const { recipients, ...rest } = request;
      const started = await startExport(deps, {
        ...rest,
        maxRawBytesPerPart: deps.maxRawBytesPerPart,
        ...(recipients ? { encryption: { recipients: recipients.map((r) => checkRecipient(r)) } } : {}),
      });
      record = started;
      for (let i = 1; i < (started.partCount ?? 1); i++) {
        try {
          await deps.dispatch({ mailbox: started.mailbox, exportId: started.exportId, part: i });
        } catch (error) {
          // A part that never starts would leave the export running for ever: it failed, and says why.
          await deps.index.failExport(
            started.mailbox,
            started.exportId,
            `could not start part ${i + 1}/${started.partCount}: ${errorName(error)}: ${errorMessage(error)}`,
          );
          throw error;
        }
      }
    }
    const { mailbox, exportId } = record;
    const outcome = await buildPart({ mailbox, exportId, part }).catch(async (error: Error) => {
      // A part that failed records its error itself; one whose worker died (out of memory) could not.
      if ((await deps.index.getExport(mailbox, exportId))?.state === 'running') {
        await deps.index.failExport(
          mailbox,
          exportId,
          `part ${part + 1}/${record.partCount ?? 1}: ${error.message}`,
        );
      }
      throw error;
    });
    deps.logger.info('export part done', {
      exportId,
      part,
      partCount: record.partCount,
      state: outcome.state,
    });
    return outcome;
  };
}

/**
 * An invocation died (timeout, crash, an error thrown before the part could record it): the export is marked
 * failed with the cause Lambda reported, so that the CLI stops waiting at once. A finished or already failed
 * export is left as it is.
 */
async function recordFailure(
  deps: Pick<ExportHandlerDeps, 'index' | 'logger'>,
  failure: z.output<typeof failureRecord>,
): Promise<PartOutcome> {
  const { mailbox, exportId, part } = failure.requestPayload;
  const record = await deps.index.getExport(mailbox, exportId);
  if (!record) throw new Error(`export ${exportId} of ${mailbox} is not recorded`);
  if (record.state === 'running') {
    const which = part === undefined ? 'its first invocation' : `part ${part + 1}/${record.partCount ?? 1}`;
    const error = failure.responsePayload;
    const cause = [error?.errorType, error?.errorMessage].filter(Boolean).join(': ') || 'no error reported';
    await deps.index.failExport(
      mailbox,
      exportId,
      `${which} died (${failure.requestContext.condition}): ${cause}`,
    );
  }
  deps.logger.info('export invocation failed', {
    exportId,
    part,
    condition: failure.requestContext.condition,
  });
  const after = await deps.index.getExport(mailbox, exportId);
  return { exportId, state: after?.state ?? 'failed', partCount: record.partCount };
}
