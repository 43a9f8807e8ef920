// Benchmark section "requests": the S3, DynamoDB and SQS requests one received message costs end to end on the
// local stack (SES's S3 write and notification, the ingest Lambda handler, the delivery log, the forward to one
// Gmail target through the sink), counted by SDK middleware on the very clients the handlers use, per kind.
// Locally the two queues are in-process: the SQS requests are what the AWS path makes for the same work (the
// forward queue's SendMessageBatch, one per ingest, counted at the ForwardQueue port; and per message on each
// queue the Lambda event source mapping's ReceiveMessage and DeleteMessageBatch, batched up to 10 on AWS, 1 here).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { HandlerExecutionContext, InitializeHandler } from '@smithy/types';
import type { AwsClients } from '../shared/adapters/clients';
import type { ArchiverConfig } from '../shared/config';

export interface RequestsRow {
  metric: string;
  value: number;
  unit: string;
}

/** Counts every command each client sends, by `<service> <command>`. */
function countRequests(clients: AwsClients, counts: Map<string, number>): void {
  const counter =
    (service: string) =>
    <Input extends object, Output extends object>(
      next: InitializeHandler<Input, Output>,
      context: HandlerExecutionContext,
    ): InitializeHandler<Input, Output> =>
    async (args) => {
      const name = `${service} ${String(context.commandName).replace(/Command$/, '')}`;
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
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
  const archive = await startLocalArchive(config, {
    home,
    forwarding: { smarthost: { host: sink.host, port: sink.port }, home },
  });
  const counts = new Map<string, number>();
  let queued = 0;
  try {
    const queue = archive.forwarding?.queue;
    if (!queue) throw new Error('the local archive has no forward queue');
    const enqueue = queue.enqueue.bind(queue);
    queue.enqueue = async (requests) => {
      if (requests.length > 0) queued += 1;
      return enqueue(requests);
    };
    // One warm-up message (the table and bucket checks, the first folder's creation) before counting.
    const sample = messages.slice(0, 51);
    const [first, ...rest] = sample;
    if (!first) throw new Error('no messages');
    const deliver = async (raw: Buffer) =>
      archive.deliver(
        await receiveRawMessage(archive, {
          raw,
          envelopeFrom: 'sender@example.org',
          recipients: ['alice@example.com'],
        }),
      );
    await deliver(first);
    countRequests(archive.clients, counts);
    queued = 0;
    for (const raw of rest) await deliver(raw);
    const n = rest.length;
    const rows: RequestsRow[] = [];
    const per = (prefix: string) =>
      [...counts].filter(([k]) => k.startsWith(prefix)).reduce((sum, [, v]) => sum + v, 0) / n;
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
    const detail = [...counts]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${(v / n).toFixed(2)}`)
      .join(', ');
    return {
      rows,
      sqs,
      perKind: Object.fromEntries([...counts].map(([k, v]) => [k, v / n])),
      notes: [
        `Requests per received message (${n} corpus messages to alice@example.com, forwarded to one Gmail target, after one warm-up; SDK middleware on the handlers' own clients): ${detail}; SQS on AWS ${sqs.toFixed(2)} (ingest queue receive + delete; forward queue send, receive, delete per ingest that forwards, unbatched: AWS batches up to 10, so fewer).`,
      ],
    };
  } finally {
    await archive.close();
    await sink.stop();
  }
}
