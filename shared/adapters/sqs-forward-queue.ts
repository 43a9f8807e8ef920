// ForwardQueue on SQS, and parking a request in the forward dead-letter queue.
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { ForwardRequest } from '../forwarding/forward';
import type { ForwardQueue } from '../ports';

export class SqsForwardQueue implements ForwardQueue {
  constructor(
    private readonly queueUrl: string,
    private readonly sqs = new SQSClient({}),
  ) {}

  async enqueue(requests: ForwardRequest[]): Promise<void> {
    for (let i = 0; i < requests.length; i += 10) {
      const batch = requests.slice(i, i + 10);
      const result = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: batch.map((request, j) => ({ Id: String(j), MessageBody: JSON.stringify(request) })),
        }),
      );
      if (result.Failed?.length)
        throw new Error(
          `could not queue ${result.Failed.length} forward requests: ${result.Failed[0]?.Message}`,
        );
    }
  }

  /** Parks a request that failed permanently; `redrive` sends it again. */
  async park(request: ForwardRequest, reason: string): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(request),
        MessageAttributes: { reason: { DataType: 'String', StringValue: reason.slice(0, 1000) } },
      }),
    );
  }
}
