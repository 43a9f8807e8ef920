// Benchmark section "requests": the S3, DynamoDB and SQS requests one received message costs end to end on the
// local stack (SES's S3 write and notification, the ingest Lambda handler, the delivery log, the forward to one
// Gmail target through the sink), counted by SDK middleware on the very clients the handlers use, per kind.
// Locally the two queues are in-process: the SQS requests are what the AWS path makes for the same work (the
// forward queue's SendMessageBatch, one per ingest, counted at the ForwardQueue port; and per message on each
// queue the Lambda event source mapping's ReceiveMessage and DeleteMessageBatch, batched up to 10 on AWS, 1 here).
// Also the bytes the handlers' own log lines come to (CloudWatch Logs bills ingestion by the byte): ingest and the
// forward log through the Powertools Logger and Metrics their Lambdas build, writing into a counter here.
import { Console } from 'node:console';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { HandlerExecutionContext, InitializeHandler } from '@smithy/types';
import type { AwsClients } from '../shared/adapters/clients';
import type { ArchiverConfig } from '../shared/config';
import { INGEST_SERVICE, MESSAGES_RECEIVED_METRIC, METRICS_NAMESPACE } from '../shared/metrics';

export interface RequestsRow {
  metric: string;
  value: number;
  unit: string;
}

/** What one received message costs on AWS, per message: requests by kind, and DynamoDB's capacity units. */
export interface MeasuredRequests {
  /** `<service> <command>` (S3 also `<first key segment>/`) -> requests per message, SES's own write included. */
  perKind: Record<string, number>;
  /** SQS requests per message on the AWS path. */
  sqs: number;
  /** DynamoDB write and read capacity units per message, as DynamoDB reported them (ReturnConsumedCapacity). */
  wru: number;
  rru: number;
  /**
   * The ingest handler's own wall seconds per message: the local archive's deliver (the handler) less the time in
   * the forward queue's enqueue, where locally the forward runs inline and on AWS a SendMessageBatch is all it is.
   */
  ingestSeconds: number;
  /** Wall seconds per message in that enqueue: the local forward through SMTP to the sink (not SES). */
  localForwardSeconds: number;
  /**
   * The handlers' own log output per message, bytes and lines (each line one CloudWatch Logs event): ingest's
   * Logger lines and its metrics line (EMF), the forward's Logger lines. The gatekeeper logs nothing for a
   * recipient it knows; Lambda's own START/END/REPORT lines are not in here.
   */
  logBytes: number;
  logLines: number;
}

/** Bytes and lines written to a Powertools Logger or Metrics whose output goes here. */
interface LogCounter {
  bytes: number;
  lines: number;
  on: boolean;
}

/** A Console writing into `counter` (while it is on): what Powertools prints, counted instead of shown. */
function countingConsole(counter: LogCounter): Console {
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      if (counter.on) {
        const text = chunk.toString();
        counter.bytes += Buffer.byteLength(text);
        counter.lines += text.split('\n').filter((l) => l.length > 0).length;
      }
      done();
    },
  });
  return new Console({ stdout: sink, stderr: sink });
}

/**
 * Powertools' Logger and Metrics print through a `console` of their own (a Console on process.stdout, as on
 * Lambda); the bench swaps in the counting one. Not part of their typed API, hence the cast.
 */
function printInto<T extends Logger | Metrics>(tool: T, counter: LogCounter): T {
  (tool as unknown as { console: Console }).console = countingConsole(counter);
  return tool;
}

/**
 * The trace header Lambda sets for an invocation when tracing is active, which Powertools' Logger adds to every
 * line as xray_trace_id (the stack sets Tracing.ACTIVE on every function): set while counting so the lines are
 * as long as on AWS.
 */
const SAMPLE_TRACE_HEADER =
  'Root=1-6750d2c4-3f1e9a7b5c2d4e6f8a0b1c2d;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a4b3c2d1:0';

const READS = /^DynamoDB (GetItem|BatchGetItem|Query|Scan|TransactGetItems)$/;

interface Tally {
  counts: Map<string, number>;
  /** Capacity units by kind (DynamoDB only), summed over the counted messages. */
  units: Map<string, number>;
  wru: number;
  rru: number;
  /** Off while the bench stores a message the way SES does (counted apart: SES's write is not locked by it). */
  on: boolean;
}

/**
 * Counts every command each client sends while `tally.on`, by `<service> <command>` (S3 by the key's first
 * segment too: `incoming/`, `envelopes/`, `delivery-log/`), and asks DynamoDB for the capacity each request
 * consumed (ReturnConsumedCapacity INDEXES: the table's units and each index's, summed).
 */
function countRequests(clients: AwsClients, tally: Tally): void {
  const counter =
    (service: 'S3' | 'DynamoDB') =>
    <Input extends object, Output extends object>(
      next: InitializeHandler<Input, Output>,
      context: HandlerExecutionContext,
    ): InitializeHandler<Input, Output> =>
    async (args) => {
      if (!tally.on) return next(args);
      const input = args.input as { Key?: unknown; ReturnConsumedCapacity?: string };
      const family = service === 'S3' && typeof input.Key === 'string' ? ` ${input.Key.split('/')[0]}/` : '';
      const name = `${service} ${String(context.commandName).replace(/Command$/, '')}${family}`;
      tally.counts.set(name, (tally.counts.get(name) ?? 0) + 1);
      if (service === 'DynamoDB') input.ReturnConsumedCapacity = 'INDEXES';
      const result = await next(args);
      // One entry per table (a list for transactions and batches); CapacityUnits is the entry's total.
      const consumed = (result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
      const units = ([consumed ?? []].flat() as { CapacityUnits?: number }[]).reduce(
        (sum, c) => sum + (c.CapacityUnits ?? 0),
        0,
      );
      if (service === 'DynamoDB') tally.units.set(name, (tally.units.get(name) ?? 0) + units);
      if (READS.test(name)) tally.rru += units;
      else tally.wru += units;
      return result;
    };
  const options = { step: 'initialize', name: 'benchRequestCounter' } as const;
  clients.s3.middlewareStack.add(counter('S3'), options);
  clients.dynamodb.middlewareStack.add(counter('DynamoDB'), options);
}

export async function requestsBench(work: string, messages: Buffer[], config: ArchiverConfig) {
  const { startLocalArchive, receiveRawMessage } = await import('../cli/local/archive');
  const { startForwardSink } = await import('../cli/local/forwarding');
  mkdirSync(work, { recursive: true });
  const home = join(work, 'home');
  const sink = await startForwardSink({ dir: join(work, 'sink') });
  // The loggers the Lambdas' composition roots build (lambdas/ingest/index.ts, lambdas/forward/index.ts).
  const logs: LogCounter = { bytes: 0, lines: 0, on: false };
  const archive = await startLocalArchive(config, {
    home,
    forwarding: { smarthost: { host: sink.host, port: sink.port }, home },
    logger: printInto(new Logger({ serviceName: INGEST_SERVICE }), logs),
  });
  const traceHeader = process.env._X_AMZN_TRACE_ID;
  const tally: Tally = { counts: new Map(), units: new Map(), wru: 0, rru: 0, on: false };
  let queued = 0;
  // Nanoseconds in deliver and in the forward queue's enqueue, over the counted messages.
  let delivering = 0n;
  let enqueuing = 0n;
  try {
    const queue = archive.forwarding?.queue;
    if (!queue || !archive.forwarding) throw new Error('the local archive has no forward queue');
    archive.forwarding.deps.logger = printInto(new Logger({ serviceName: 'mail-archiver-forward' }), logs);
    const enqueue = queue.enqueue.bind(queue);
    queue.enqueue = async (requests) => {
      if (requests.length > 0) queued += 1;
      const started = process.hrtime.bigint();
      try {
        return await enqueue(requests);
      } finally {
        enqueuing += process.hrtime.bigint() - started;
      }
    };
    // One warm-up message (the table and bucket checks, the first folder's creation) before counting.
    const sample = messages.slice(0, 51);
    const [first, ...rest] = sample;
    if (!first) throw new Error('no messages');
    countRequests(archive.clients, tally);
    const deliver = async (raw: Buffer, counted: boolean) => {
      // SES's own write (one PutObject, billed to the bucket's owner) is added below: locally it goes through
      // the locking store, which SES's write on AWS does not (ingest locks the version it reads).
      const notification = await receiveRawMessage(archive, {
        raw,
        envelopeFrom: 'sender@example.org',
        recipients: ['alice@example.com'],
      });
      tally.on = counted;
      logs.on = counted;
      const started = process.hrtime.bigint();
      await archive.deliver(notification);
      delivering += process.hrtime.bigint() - started;
      tally.on = false;
      logs.on = false;
    };
    process.env._X_AMZN_TRACE_ID = SAMPLE_TRACE_HEADER;
    await deliver(first, false);
    queued = 0;
    delivering = 0n;
    enqueuing = 0n;
    for (const raw of rest) await deliver(raw, true);
    const n = rest.length;
    // Ingest's metrics line: the local archive's handler has no Metrics, so the one line its Lambda prints per
    // invocation that received mail (lambdas/ingest/handler.ts: one addMetric, one publishStoredMetrics) is
    // printed here by the same calls, once per message (one message an invocation at mail rates).
    const emf: LogCounter = { bytes: 0, lines: 0, on: true };
    const metrics = printInto(
      new Metrics({ namespace: METRICS_NAMESPACE, serviceName: INGEST_SERVICE }),
      emf,
    );
    metrics.addMetric(MESSAGES_RECEIVED_METRIC, MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
    const logBytes = logs.bytes / n + emf.bytes;
    const logLines = logs.lines / n + emf.lines;
    const perKind: Record<string, number> = { 'S3 PutObject incoming/ (SES)': 1 };
    for (const [kind, count] of tally.counts) perKind[kind] = count / n;
    const rows: RequestsRow[] = [];
    const per = (prefix: string) =>
      Object.entries(perKind)
        .filter(([k]) => k.startsWith(prefix))
        .reduce((sum, [, v]) => sum + v, 0);
    // SQS on AWS per message: the ingest queue's receive and delete, the forward queue's send, receive, delete.
    const sqs = 2 + (queued / n) * 3;
    for (const [kind, value] of [
      ['S3', per('S3 ')],
      ['DynamoDB', per('DynamoDB ')],
      ['SQS (the AWS path; in-process here)', sqs],
    ] as const)
      rows.push({ metric: `${kind} requests per received message`, value, unit: 'requests' });
    rows.push({
      metric: 'all requests per received message',
      value: per('S3 ') + per('DynamoDB ') + sqs,
      unit: 'requests',
    });
    const wru = tally.wru / n;
    const rru = tally.rru / n;
    rows.push({ metric: 'DynamoDB write capacity units per received message', value: wru, unit: 'WRU' });
    rows.push({ metric: 'DynamoDB read capacity units per received message', value: rru, unit: 'RRU' });
    const detail = Object.entries(perKind)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => {
        const units = tally.units.get(k);
        return `${k} ${v.toFixed(2)}${units === undefined ? '' : ` (${(units / n).toFixed(1)} units)`}`;
      })
      .join(', ');
    const ingestSeconds = Number(delivering - enqueuing) / 1e9 / n;
    const localForwardSeconds = Number(enqueuing) / 1e9 / n;
    rows.push({
      metric: "ingest handler's own wall time per message (deliver less the inline forward)",
      value: ingestSeconds * 1000,
      unit: 'ms',
    });
    rows.push({
      metric: "handlers' own log bytes per message (ingest and forward, Powertools)",
      value: logBytes,
      unit: 'bytes',
    });
    const measured: MeasuredRequests = {
      perKind,
      sqs,
      wru,
      rru,
      ingestSeconds,
      localForwardSeconds,
      logBytes,
      logLines,
    };
    return {
      rows,
      ...measured,
      notes: [
        `Requests per received message (${n} corpus messages to alice@example.com, forwarded to one Gmail target, after one warm-up; SDK middleware on the handlers' own clients; SES's own write of the raw message counted as the one PutObject it is on AWS): ${detail}; DynamoDB ${wru.toFixed(1)} WRU and ${rru.toFixed(1)} RRU as it reported them (ReturnConsumedCapacity INDEXES); SQS on AWS ${sqs.toFixed(2)} (ingest queue receive + delete; forward queue send, receive, delete per ingest that forwards, unbatched: AWS batches up to 10, so fewer).`,
        `Ingest's own time: ${(ingestSeconds * 1000).toFixed(1)} ms of wall time per message in the ingest handler (the local archive's deliver, ${((ingestSeconds + localForwardSeconds) * 1000).toFixed(1)} ms, less ${(localForwardSeconds * 1000).toFixed(1)} ms in the forward queue's enqueue, where the local stack forwards inline through SMTP to the sink; on AWS that enqueue is one SQS SendMessageBatch), one message at a time against s3rver and DynamoDB Local on this machine.`,
        `Handlers' own log output: ${logBytes.toFixed(0)} bytes in ${logLines.toFixed(1)} lines per message, counted from the Powertools Logger (ingest's 'message archived', the forward's 'forward request handled') and Metrics (ingest's one EMF line) the Lambdas build, printing into a counter, with an X-Ray trace header set as Lambda sets it (each line carries xray_trace_id); the gatekeeper logs nothing for a known recipient.`,
      ],
    };
  } finally {
    if (traceHeader === undefined) delete process.env._X_AMZN_TRACE_ID;
    else process.env._X_AMZN_TRACE_ID = traceHeader;
    await archive.close();
    await sink.stop();
  }
}
