// The cost section's memory rows: the peak RSS and CPU time of the ingest and forward functions' work, on a typical
// message and on the largest SES takes (40 MB: Amazon SES Developer Guide, "Service quotas in Amazon SES"), each in a
// fresh process (lambda-memory-child.ts, bundled as the Lambdas are and run by plain node with the heap flags Lambda's
// runtime gives the function's memory), judged against the memory the stack gives the function
// (cdk/constructs/lambda-memory.ts). The forward's SES v2 SendEmail goes through the real SDK client to a stand-in
// endpoint in this process that reads the request and answers with a message id.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { FORWARD_MEMORY_MB, INGEST_MEMORY_MB } from '../../cdk/constructs/lambda-memory';
import { MAX_FORWARD_BYTES } from '../../shared/forwarding/policy';
import { rawMailKey } from '../../shared/index/schema';
import { buildNodeBundle } from '../../test/support/bundles';
import { CORPORA_DIR } from '../../test/support/corpora';
import type { BenchRow } from './row';

const ROOT = resolve(import.meta.dirname, '..', '..');
const MB = 1024 * 1024;
/** A real Yahoo message with a PNG attachment (base64), the one the largest message is grown from. */
export const LARGEST_SOURCE = 'flanker/tests/fixtures/messages/russian-attachment-yahoo.eml';
/** The peak may take at most this share of the function's memory (the rest is headroom). */
const MAX_SHARE = 0.6;
/** Memory at which Lambda gives a function one vCPU (AWS Lambda Developer Guide, "Configuring Lambda function memory"). */
const ONE_VCPU_MB = 1769;
/**
 * The records each function's event source hands one invocation (batchSize of its SqsEventSource in
 * cdk/constructs/ingest-pipeline.ts and forwarding.ts); the handlers' batch processor runs them at once.
 */
const BATCH = { ingest: 10, forward: 5 } as const;

/**
 * `source` (a real message with a base64 attachment) grown to `size` bytes by repeating the attachment's full
 * base64 lines (its last line, which may carry padding, stays last), with CRLF line ends as SES stores mail
 * received over SMTP. Throws when the source has no base64 part.
 */
export function grownMessage(source: Buffer, size: number): Buffer {
  const lines = source.toString('latin1').replace(/\r\n/g, '\n').split('\n');
  const encoding = lines.findLastIndex((line) => /^content-transfer-encoding:\s*base64\s*$/i.test(line));
  const bodyStart = lines.indexOf('', encoding) + 1;
  const bodyEnd = lines.findIndex((line, i) => i >= bodyStart && (line.startsWith('--') || line === ''));
  const full = lines
    .slice(bodyStart, bodyEnd - 1)
    .filter((line) => line.length % 4 === 0 && !line.includes('='));
  if (encoding < 0 || full.length === 0) throw new Error('the source message has no base64 part to grow');
  const head = `${lines.slice(0, bodyEnd - 1).join('\r\n')}\r\n`;
  const tail = `${lines.slice(bodyEnd - 1).join('\r\n')}`;
  const filler: string[] = [];
  let length = head.length + tail.length;
  for (let i = 0; length + (full[i % full.length] as string).length + 2 <= size; i++) {
    const line = full[i % full.length] as string;
    filler.push(line);
    length += line.length + 2;
  }
  return Buffer.from(head + filler.join('\r\n') + (filler.length > 0 ? '\r\n' : '') + tail, 'latin1');
}

/** Node's heap flags as Lambda's runtime sets them for `memoryMb` (a twentieth for the young generation). */
const lambdaHeapFlags = (memoryMb: number) => [
  `--max-semi-space-size=${Math.floor(memoryMb / 20)}`,
  `--max-old-space-size=${Math.round(memoryMb * 0.9)}`,
];

interface ChildResult {
  peakKb: number;
  baselineKb: number;
  seconds: number;
  cpuSeconds: number;
}

/**
 * Peak RSS and CPU seconds of each function's work, as bench rows and notes: on the median-sized message of
 * `messages` (the typical one), on one message just under 40 MB, and on a batch of them. `configFile` is relative
 * to the repository. Rows are left out, saying so in a note, when the corpora (MAIL_ARCHIVER_CORPORA) are absent.
 */
export async function lambdaMemoryBench(work: string, messages: Buffer[], configFile: string) {
  const rows: BenchRow[] = [];
  const typical = [...messages].sort((a, b) => a.length - b.length)[Math.floor(messages.length / 2)];
  if (!typical) throw new Error('no messages');
  const source = join(CORPORA_DIR, LARGEST_SOURCE);
  if (!existsSync(source))
    return { rows, notes: [`Lambda memory rows SKIPPED: ${source} is not present (MAIL_ARCHIVER_CORPORA)`] };
  mkdirSync(work, { recursive: true });
  // A copy per batch record, each distinct (a header line of its own) so none is taken for another's duplicate;
  // the largest such that its rewritten copy still fits SES's 40 MB and is sent, not skipped.
  const largest = grownMessage(readFileSync(source), MAX_FORWARD_BYTES - 64 * 1024);
  const copy = (raw: Buffer, n: number) => Buffer.concat([Buffer.from(`X-Bench-Copy: ${n}\r\n`), raw]);
  const store = (key: string, raw: Buffer) => {
    const path = join(work, 'raw', rawMailKey(key));
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, raw);
  };
  store('typical', copy(typical, 0));
  const batch = Math.max(BATCH.ingest, BATCH.forward);
  for (let n = 0; n < batch; n++) store(`largest-${n}`, copy(largest, n));
  const bundle = join(work, 'lambda-memory-child.cjs');
  await buildNodeBundle(join(ROOT, 'scripts/bench/lambda-memory-child.ts'), bundle);

  let sent = 0;
  const ses = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ MessageId: `bench-${++sent}` }));
    });
  });
  ses.listen(0, '127.0.0.1');
  await once(ses, 'listening');
  const endpoint = `http://127.0.0.1:${(ses.address() as AddressInfo).port}`;
  // Asynchronous: the stand-in SES endpoint answers from this process's event loop while the child runs.
  const run = async (what: 'ingest' | 'forward', memoryMb: number, keys: string[]): Promise<ChildResult> => {
    // The ingest run's sidecars go, so that each run finds the store as SES left it.
    for (const entry of readdirSync(join(work, 'raw')))
      if (entry !== 'incoming') rmSync(join(work, 'raw', entry), { recursive: true, force: true });
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [...lambdaHeapFlags(memoryMb), bundle, what, work, join(ROOT, configFile), endpoint, ...keys],
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 16 * MB },
    );
    return JSON.parse(stdout.trim().split('\n').pop() as string) as ChildResult;
  };
  /** The median of three fresh processes by peak (one run varies by a few MB). */
  const median = async (what: 'ingest' | 'forward', memoryMb: number, keys: string[]) => {
    // The forward starts from the rows an ingest of the same messages wrote.
    if (what === 'forward') await run('ingest', memoryMb, keys);
    const runs: ChildResult[] = [];
    for (let i = 0; i < 3; i++) runs.push(await run(what, memoryMb, keys));
    return runs.sort((a, b) => a.peakKb - b.peakKb)[1] as ChildResult;
  };

  const notes: string[] = [];
  try {
    for (const [what, memoryMb] of [
      ['ingest', INGEST_MEMORY_MB],
      ['forward', FORWARD_MEMORY_MB],
    ] as const) {
      const cases = [
        { label: `a typical message (${(typical.length / 1024).toFixed(0)} KB)`, keys: ['typical'] },
        { label: `one ${(largest.length / MB).toFixed(1)} MB message`, keys: ['largest-0'] },
        {
          label: `a batch of ${BATCH[what]} such messages at once`,
          keys: Array.from({ length: BATCH[what] }, (_, n) => `largest-${n}`),
        },
      ];
      const figures: string[] = [];
      for (const [i, c] of cases.entries()) {
        const result = await median(what, memoryMb, c.keys);
        const peakMb = result.peakKb / 1024;
        // The margin is judged on the largest message and on a batch of them: the handler runs a batch at once.
        const judged = i > 0;
        rows.push({
          metric: `${what} function peak RSS, ${c.label} (of ${memoryMb} MB; median of 3)`,
          value: peakMb,
          unit: 'MB',
          ...(judged
            ? { target: `<= ${MAX_SHARE * 100}% of ${memoryMb} MB`, met: peakMb <= memoryMb * MAX_SHARE }
            : {}),
        });
        if (judged)
          rows.push({
            metric: `${what} function CPU time, ${c.label}`,
            value: result.cpuSeconds,
            unit: 's',
          });
        figures.push(
          `${c.label}: peak ${peakMb.toFixed(0)} MB (${((peakMb / memoryMb) * 100).toFixed(0)}% of ${memoryMb} MB; ${(result.baselineKb / 1024).toFixed(0)} MB before the work), ${result.seconds.toFixed(2)} s wall, ${result.cpuSeconds.toFixed(2)} s CPU here, at least ${((result.cpuSeconds * ONE_VCPU_MB) / memoryMb).toFixed(1)} s at ${memoryMb} MB (${(memoryMb / ONE_VCPU_MB).toFixed(2)} vCPU)`,
        );
      }
      notes.push(
        `Lambda memory, ${what} function (${memoryMb} MB, cdk/constructs/lambda-memory.ts), its core in a fresh process per run, bundled as the Lambdas are and run with the heap flags Lambda's runtime sets for ${memoryMb} MB (${lambdaHeapFlags(memoryMb).join(' ')}); the largest message is ${LARGEST_SOURCE} grown to just under SES's 40 MB by repeating its attachment's base64 lines${what === 'forward' ? ', forwarded with the rewrite and SES v2 SendEmail through the SDK to a local stand-in endpoint' : ''}: ${figures.join('; ')}.`,
      );
    }
  } finally {
    ses.close();
  }
  return { rows, notes };
}
