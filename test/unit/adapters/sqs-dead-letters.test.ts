// The SQS dead-letter adapter against SQS's documented contract: counts from GetQueueAttributes, redrive through
// StartMessageMoveTask (source = the dead-letter queue's ARN; the destination only when it is not the source queue
// of a redrive policy, as for the SNS subscription's dead-letter queue).
import { GetQueueAttributesCommand, SQSClient, StartMessageMoveTaskCommand } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { SqsDeadLetterQueue } from '../../../shared/adapters/sqs-dead-letters';

const sqs = mockClient(SQSClient);
const URL = 'https://sqs.us-east-1.amazonaws.com/111111111111/ingest-dlq';
const ARN = 'arn:aws:sqs:us-east-1:111111111111:ingest-dlq';

describe('SqsDeadLetterQueue', () => {
  afterEach(() => sqs.reset());

  it('counts waiting and in-flight messages', async () => {
    sqs.on(GetQueueAttributesCommand).resolves({
      Attributes: { ApproximateNumberOfMessages: '3', ApproximateNumberOfMessagesNotVisible: '1' },
    });
    expect(await new SqsDeadLetterQueue(new SQSClient({}), URL).count()).toEqual({ waiting: 3, inFlight: 1 });
  });

  it('starts a move task back to the source queue, or to a named destination; nothing when empty', async () => {
    sqs
      .on(GetQueueAttributesCommand, { QueueUrl: URL, AttributeNames: ['QueueArn'] })
      .resolves({ Attributes: { QueueArn: ARN } })
      .on(GetQueueAttributesCommand, {
        QueueUrl: URL,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      })
      .resolves({
        Attributes: { ApproximateNumberOfMessages: '2', ApproximateNumberOfMessagesNotVisible: '0' },
      });
    sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'task-1' });
    const queue = new SqsDeadLetterQueue(new SQSClient({}), URL);
    expect(await queue.redrive()).toEqual({ taskHandle: 'task-1', messages: 2 });
    expect(sqs.commandCalls(StartMessageMoveTaskCommand)[0]?.args[0].input).toEqual({ SourceArn: ARN });
    await queue.redrive('arn:aws:sqs:us-east-1:111111111111:ingest');
    expect(sqs.commandCalls(StartMessageMoveTaskCommand)[1]?.args[0].input).toEqual({
      SourceArn: ARN,
      DestinationArn: 'arn:aws:sqs:us-east-1:111111111111:ingest',
    });

    sqs.reset();
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '0' } });
    expect(await queue.redrive()).toBeUndefined();
    expect(sqs.commandCalls(StartMessageMoveTaskCommand)).toHaveLength(0);
  });
});
