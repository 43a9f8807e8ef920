// ForwardQueue on SQS, parking a request in the forward dead-letter queue, and taking parked requests back out
// of it for a redrive.
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type ForwardRequest, parseForwardRequest } from '../forwarding/ledger';
import type { ForwardParking, ForwardQueue } from '../ports';

/** What the forward queue carries: a request, flagged when `mail-archiver redrive` sent it. */
export type QueuedForward = ForwardRequest & { redrive?: boolean };

export class SqsForwardQueue implements ForwardQueue, ForwardParking {
  constructor(
    private readonly queueUrl: string,
    private readonly sqs = new SQSClient({}),
  ) {}

  async enqueue(requests: QueuedForward[]): Promise<void> {
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

/**
 * Drains the forward dead-letter queue: every parked request is sent to the forward queue again, flagged as a
 * redrive, then deleted from the dead-letter queue. Returns the requests moved, in the order received.
 */
export async function redriveParkedForwards(
  sqs: SQSClient,
  deadLetterQueueUrl: string,
  queueUrl: string,
): Promise<ForwardRequest[]> {
  const moved: ForwardRequest[] = [];
  for (;;) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: deadLetterQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      }),
    );
    if (!Messages?.length) return moved;
    for (const message of Messages) {
      const request = parseForwardRequest(message.Body ?? '', `dead letter ${message.MessageId}`);
      moved.push({ mailbox: request.mailbox, messageKey: request.messageKey });
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify({ ...request, redrive: true }),
        }),
      );
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: deadLetterQueueUrl, ReceiptHandle: message.ReceiptHandle }),
      );
    }
  }
}
