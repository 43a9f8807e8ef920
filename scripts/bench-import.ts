// Benchmark section "import": the SpamAssassin corpus as one mbox (6,046 messages, each with its envelope line,
// mboxrd-escaped), imported through the local stack (s3rver, DynamoDB Local, the ingest Lambda handler) at
// concurrency 1 and at the default, each into a fresh archive, in the same run; the CPU each message costs; and
// the same pair with a simulated network round trip on every request.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startLocalArchive } from '../cli/local/archive';
import { escapeMboxrd } from '../shared/bundle/mbox';
import type { ArchiverConfig } from '../shared/config';
import { DEFAULT_IMPORT_CONCURRENCY, importMessages } from '../shared/history/import';
import { findLineEnd } from '../shared/mail/lines';

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

/** CPU seconds (user + system) the DynamoDB Local JVM serving `home` has used; undefined off Linux. */
function dynamoLocalCpuSeconds(home: string): number | undefined {
  try {
    const pid = execFileSync('pgrep', ['-f', '--', `-dbPath ${join(home, 'dynamodb')}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .trim()
      .split('\n')[0];
    const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Delays every request of the archive's AWS SDK clients by `ms`, as a network round trip would. */
function addRoundTrip(clients: object, ms: number): void {
  for (const client of Object.values(clients) as { middlewareStack?: MiddlewareStackLike }[]) {
    client.middlewareStack?.add(
      (next) => async (args) => {
        await delay(ms);
        return next(args);
      },
      { step: 'finalizeRequest', name: 'benchRoundTrip' },
    );
  }
}
interface MiddlewareStackLike {
  add(
    middleware: (next: (args: unknown) => Promise<unknown>) => (args: unknown) => Promise<unknown>,
    options: { step: 'finalizeRequest'; name: string },
  ): void;
}

interface ImportRun {
  rate: number;
  /** CPU milliseconds per message: this process (importer, ingest handler, s3rver) and DynamoDB Local. */
  nodeCpuMs: number;
  dynamoCpuMs?: number;
}

async function importOnce(
  home: string,
  mbox: string,
  expected: number,
  config: ArchiverConfig,
  concurrency: number,
  notes: string[],
  roundTripMs = 0,
): Promise<ImportRun> {
  const mailbox = Object.keys(config.mailboxes)[0] as string;
  const archive = await startLocalArchive(config, { home });
  try {
    if (roundTripMs > 0) addRoundTrip(archive.clients, roundTripMs);
    const javaBefore = dynamoLocalCpuSeconds(home);
    const cpuBefore = process.cpuUsage();
    const start = process.hrtime.bigint();
    const report = await importMessages(config, archive, [mbox], { mailbox, concurrency });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    const javaAfter = dynamoLocalCpuSeconds(home);
    const done = report.archived + report.duplicates;
    const run: ImportRun = { rate: done / seconds, nodeCpuMs: (cpu.user + cpu.system) / 1000 / done };
    if (javaBefore !== undefined && javaAfter !== undefined)
      run.dynamoCpuMs = ((javaAfter - javaBefore) * 1000) / done;
    const latency = roundTripMs ? `, ${roundTripMs} ms round trip` : '';
    console.log(
      `  concurrency ${concurrency}${latency}: ${done} messages in ${seconds.toFixed(1)} s, ${run.rate.toFixed(1)} msg/s (${report.failed.length} failed, ${report.skipped.length} skipped); CPU per message: ${run.nodeCpuMs.toFixed(1)} ms node, ${run.dynamoCpuMs?.toFixed(1) ?? '?'} ms DynamoDB Local`,
    );
    if (report.failed.length > 0 || done !== expected)
      notes.push(
        `Import at concurrency ${concurrency}${latency}: ${done} of ${expected} messages; failed: ${report.failed
          .slice(0, 3)
          .map((f) => `${f.origin}: ${f.reason}`)
          .join('; ')}`,
      );
    return run;
  } finally {
    await archive.close();
  }
}

/** Messages of the corpus imported again with a simulated network round trip (the AWS-target shape). */
const ROUND_TRIP_MESSAGES = 400;
const ROUND_TRIP_MS = 10;

export async function importBench(
  work: string,
  messages: Buffer[],
  config: ArchiverConfig,
): Promise<{ rows: ImportBenchRow[]; notes: string[] }> {
  const mbox = join(work, 'spam-assassin.mbox');
  const bytes = corpusMbox(messages, mbox);
  const notes: string[] = [];
  const serial = await importOnce(join(work, 'home-1'), mbox, messages.length, config, 1, notes);
  const parallel = await importOnce(
    join(work, `home-${DEFAULT_IMPORT_CONCURRENCY}`),
    mbox,
    messages.length,
    config,
    DEFAULT_IMPORT_CONCURRENCY,
    notes,
  );
  const cores = cpus().length;
  const cpuMs = (run: ImportRun) => run.nodeCpuMs + (run.dynamoCpuMs ?? 0);
  // With every process busy at concurrency 1, concurrency can at best spread the same CPU over the cores.
  const ceiling = (cores * (1000 / serial.rate)) / cpuMs(parallel);
  notes.push(
    `Import: the SpamAssassin corpus as one ${(bytes / 1024 / 1024).toFixed(1)} MB mbox (${messages.length} messages) into a fresh local archive each time; concurrency ${DEFAULT_IMPORT_CONCURRENCY} is the default of \`import\`.`,
    `Import CPU per message (this process: importer, ingest handler, s3rver; plus the DynamoDB Local JVM): ${cpuMs(serial).toFixed(1)} ms at concurrency 1, ${cpuMs(parallel).toFixed(1)} ms at ${DEFAULT_IMPORT_CONCURRENCY}. The local stack is CPU-bound: at concurrency 1 a message takes ${(1000 / serial.rate).toFixed(1)} ms of wall time, so on ${cores} cores concurrency can gain at most about ${ceiling.toFixed(1)}x here.`,
  );

  const smallMbox = join(work, 'round-trip.mbox');
  corpusMbox(messages.slice(0, ROUND_TRIP_MESSAGES), smallMbox);
  const expected = Math.min(ROUND_TRIP_MESSAGES, messages.length);
  const slowSerial = await importOnce(
    join(work, 'rt-1'),
    smallMbox,
    expected,
    config,
    1,
    notes,
    ROUND_TRIP_MS,
  );
  const slowParallel = await importOnce(
    join(work, `rt-${DEFAULT_IMPORT_CONCURRENCY}`),
    smallMbox,
    expected,
    config,
    DEFAULT_IMPORT_CONCURRENCY,
    notes,
    ROUND_TRIP_MS,
  );
  notes.push(
    `Import with a simulated ${ROUND_TRIP_MS} ms round trip added to every S3 and DynamoDB request (${expected} messages; the shape of \`import --target aws\`, where requests wait on the network, not the CPU): not a measurement of AWS.`,
  );
  return {
    rows: [
      { metric: 'mbox import, concurrency 1', value: serial.rate, unit: 'msg/s' },
      {
        metric: `mbox import, concurrency ${DEFAULT_IMPORT_CONCURRENCY} (default)`,
        value: parallel.rate,
        unit: 'msg/s',
      },
      {
        metric: 'default / concurrency 1',
        value: parallel.rate / serial.rate,
        unit: 'x',
        target: '>= 5x',
        met: parallel.rate / serial.rate >= 5,
      },
      { metric: 'import CPU per message, concurrency 1', value: cpuMs(serial), unit: 'ms' },
      {
        metric: `import CPU per message, concurrency ${DEFAULT_IMPORT_CONCURRENCY}`,
        value: cpuMs(parallel),
        unit: 'ms',
      },
      {
        metric: `default / concurrency 1, simulated ${ROUND_TRIP_MS} ms round trip`,
        value: slowParallel.rate / slowSerial.rate,
        unit: 'x',
      },
    ],
    notes,
  };
}
