// A dead-letter queue on SQS: how many messages wait in it, and moving them back to the queue they came from
// with SQS's own redrive (StartMessageMoveTask, https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html):
// SQS moves them in the background, keeping their bodies and attributes; the source queue's consumer sees them
// as new deliveries.
import { GetQueueAttributesCommand, type SQSClient, StartMessageMoveTaskCommand } from '@aws-sdk/client-sqs';

export interface DeadLetterCount {
  /** ApproximateNumberOfMessages: visible messages waiting. */
  waiting: number;
  /** ApproximateNumberOfMessagesNotVisible: being received or moved. */
  inFlight: number;
}

export class SqsDeadLetterQueue {
  constructor(
    private readonly sqs: SQSClient,
    /** The dead-letter queue's URL. */
    readonly queueUrl: string,
  ) {}

  async count(): Promise<DeadLetterCount> {
    const { Attributes } = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return {
      waiting: Number(Attributes?.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
    };
  }

  /**
   * Starts moving every message back to the source queue (the one whose redrive policy names this queue, when
   * `destinationArn` is not given). Returns the task handle, or undefined when the queue was empty.
   * Throws what SQS throws (e.g. a move task already running on this queue).
   */
  async redrive(destinationArn?: string): Promise<{ taskHandle: string; messages: number } | undefined> {
    const { waiting } = await this.count();
    if (waiting === 0) return undefined;
    const sourceArn = await this.arn();
    const { TaskHandle } = await this.sqs.send(
      new StartMessageMoveTaskCommand({
        SourceArn: sourceArn,
        ...(destinationArn ? { DestinationArn: destinationArn } : {}),
      }),
    );
    return { taskHandle: TaskHandle ?? '', messages: waiting };
  }

  async arn(): Promise<string> {
    const { Attributes } = await this.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: this.queueUrl, AttributeNames: ['QueueArn'] }),
    );
    if (!Attributes?.QueueArn) throw new Error(`no QueueArn for ${this.queueUrl}`);
    return Attributes.QueueArn;
  }
}
