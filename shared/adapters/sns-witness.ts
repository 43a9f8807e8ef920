// CheckpointWitness on AWS: each new checkpoint is published to the alarm topic, whose email subscription
// (confirmed by the operator) delivers it to the alarm address, outside the account.
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { CheckpointWitness, WitnessMessage } from '../transparency/witness';

export class SnsCheckpointWitness implements CheckpointWitness {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
  ) {}

  async witness(message: WitnessMessage): Promise<void> {
    await this.sns.send(
      new PublishCommand({ TopicArn: this.topicArn, Subject: message.subject, Message: message.body }),
    );
  }
}
