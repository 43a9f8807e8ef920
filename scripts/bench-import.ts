// Benchmark section "import": the SpamAssassin corpus as one mbox (6,046 messages, each with its envelope line,
// mboxrd-escaped), imported through the local stack (s3rver, DynamoDB Local, the ingest Lambda handler) at
// concurrency 1 and at the default, each into a fresh archive, in the same run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalArchive } from '../cli/local-stack';
import { escapeMboxrd } from '../shared/bundle/mbox';
import type { ArchiverConfig } from '../shared/config';
import { DEFAULT_IMPORT_CONCURRENCY, importMessages } from '../shared/history/import';
import { findLineEnd } from '../shared/lines';

export interface ImportBenchRow {
  metric: string;
  value: number;
  unit: string;
  target?: string;
  met?: boolean;
}

/** One mbox of every message: its own envelope line kept, the rest mboxrd-escaped, an empty line after each. */
export function corpusMbox(messages: Buffer[], path: string): number {
  const parts: Buffer[] = [];
  for (const message of messages) {
    const first = findLineEnd(message, 0);
    const startsWithEnvelope = message.toString('latin1', 0, 5) === 'From ' && first;
    const envelope = startsWithEnvelope
      ? message.subarray(0, first.end)
      : Buffer.from('From MAILER-DAEMON Thu Jan  1 00:00:00 1970');
    const rest = startsWithEnvelope ? message.subarray(first.next) : message;
    parts.push(envelope, Buffer.from('\n'), escapeMboxrd(rest));
    if (rest[rest.length - 1] !== 10) parts.push(Buffer.from('\n'));
    parts.push(Buffer.from('\n'));
  }
  const mbox = Buffer.concat(parts);
  writeFileSync(path, mbox);
  return mbox.length;
}

export async function importBench(
  work: string,
  messages: Buffer[],
  config: ArchiverConfig,
): Promise<{ rows: ImportBenchRow[]; notes: string[] }> {
  const mbox = join(work, 'spam-assassin.mbox');
  const bytes = corpusMbox(messages, mbox);
  const mailbox = Object.keys(config.mailboxes)[0] as string;
  const rates: Record<number, number> = {};
  const notes: string[] = [];
  for (const concurrency of [1, DEFAULT_IMPORT_CONCURRENCY]) {
    const archive = await startLocalArchive(config, { home: join(work, `home-${concurrency}`) });
    try {
      const start = process.hrtime.bigint();
      const report = await importMessages(config, archive, [mbox], { mailbox, concurrency });
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const done = report.archived + report.duplicates;
      rates[concurrency] = done / seconds;
      console.log(
        `  concurrency ${concurrency}: ${done} messages in ${seconds.toFixed(1)} s (${report.failed.length} failed, ${report.skipped.length} skipped)`,
      );
      if (report.failed.length > 0 || done !== messages.length)
        notes.push(
          `Import at concurrency ${concurrency}: ${done} of ${messages.length} messages; failed: ${report.failed
            .slice(0, 3)
            .map((f) => `${f.origin}: ${f.reason}`)
            .join('; ')}`,
        );
    } finally {
      await archive.close();
    }
  }
  const serial = rates[1] ?? 0;
  const parallel = rates[DEFAULT_IMPORT_CONCURRENCY] ?? 0;
  notes.push(
    `Import: the SpamAssassin corpus as one ${(bytes / 1024 / 1024).toFixed(1)} MB mbox (${messages.length} messages) into a fresh local archive each time; concurrency ${DEFAULT_IMPORT_CONCURRENCY} is the default of \`ingest\`.`,
  );
  return {
    rows: [
      { metric: 'mbox import, concurrency 1', value: serial, unit: 'msg/s' },
      {
        metric: `mbox import, concurrency ${DEFAULT_IMPORT_CONCURRENCY} (default)`,
        value: parallel,
        unit: 'msg/s',
      },
      {
        metric: 'default / concurrency 1',
        value: parallel / serial,
        unit: 'x',
        target: '>= 5x',
        met: parallel / serial >= 5,
      },
    ],
    notes,
  };
}
