// Invoked asynchronously by `mail-archiver export --target aws`: builds the bundle straight into an S3
// multipart upload under exports/, recording progress and the result in the index for the CLI to follow.
import { PassThrough } from 'node:stream';
import type { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import { runExportJob } from '../../shared/export-job';
import { EXPORT_PREFIX, type ExportRecord } from '../../shared/index-schema';
import type { MailIndex, RawMailStore } from '../../shared/ports';

const exportEvent = z.object({
  mailbox: z.string().min(3),
  format: z.enum(['maildir', 'mboxrd']).default('maildir'),
  incremental: z.boolean().default(false),
  exportId: z.string().regex(/^[0-9TZ]+-[0-9a-f]+$/),
});

export interface ExportHandlerDeps {
  index: MailIndex;
  store: RawMailStore;
  bucket: string;
  logger: Pick<Logger, 'info'>;
}

export function bundleKey(mailbox: string, exportId: string): string {
  return `${EXPORT_PREFIX}${encodeURIComponent(mailbox)}/${exportId}.tar.gz`;
}

export function createExportHandler(deps: ExportHandlerDeps) {
  return async (
    event: unknown,
  ): Promise<Pick<ExportRecord, 'exportId' | 'state' | 'parts' | 'messagesDone'>> => {
    const request = exportEvent.parse(event);
    const record = await runExportJob(deps, request, (exportId) => {
      const key = bundleKey(request.mailbox, exportId);
      const stream = new PassThrough();
      return {
        key,
        stream,
        done: deps.store.upload({ bucket: deps.bucket, key }, stream, 'application/gzip'),
      };
    });
    deps.logger.info('export done', {
      exportId: record.exportId,
      messages: record.messagesDone,
      bytes: record.parts[0]?.bytes,
      rawBytes: record.result.rawBytes,
    });
    return {
      exportId: record.exportId,
      state: record.state,
      parts: record.parts,
      messagesDone: record.messagesDone,
    };
  };
}
