// An AWS service publishing into one of the archiver's KMS-encrypted SNS topics needs two resource policies:
// sns:Publish in the topic policy (with enforceSSL, the stack's topic policy replaces SNS's default one, so
// nothing is allowed unless a statement says so), and kms:GenerateDataKey* + kms:Decrypt in the key policy
// (SNS developer guide, "Enable compatibility between event sources from AWS services and encrypted topics").
// Both are pinned to the one source that may publish (aws:SourceArn) in this account (aws:SourceAccount), so
// that no other receipt rule, configuration set or alarm of the account can use them (the confused deputy).
import { Stack } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { ITopic } from 'aws-cdk-lib/aws-sns';

/** An AWS service that publishes into an encrypted topic on behalf of one resource. */
export interface ServicePublisher {
  /** The service principal, e.g. `ses.amazonaws.com`. */
  readonly service: string;
  /** The ARN (or ARN pattern, `*` allowed) of the resource on whose behalf the service publishes. */
  readonly sourceArn: string;
}

/** The conditions every service grant of the archiver carries. */
export function sourceConditions(scope: ITopic | IKey, sourceArn: string) {
  return {
    StringEquals: { 'aws:SourceAccount': Stack.of(scope).account },
    ArnLike: { 'aws:SourceArn': sourceArn },
  };
}

/** Lets `publisher` publish into `topic`, encrypted with `key`. */
export function allowServiceToPublish(topic: ITopic, key: IKey, publisher: ServicePublisher): void {
  topic.addToResourcePolicy(
    new PolicyStatement({
      actions: ['sns:Publish'],
      principals: [new ServicePrincipal(publisher.service)],
      resources: [topic.topicArn],
      conditions: sourceConditions(topic, publisher.sourceArn),
    }),
  );
  allowServiceToEncryptWith(key, publisher);
}

/** The key half alone, for a topic whose policy aws-cdk-lib already extends (a configuration set destination). */
export function allowServiceToEncryptWith(key: IKey, publisher: ServicePublisher): void {
  const principal = new ServicePrincipal(publisher.service);
  key.addToResourcePolicy(
    new PolicyStatement({
      actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
      principals: [principal],
      resources: ['*'],
      conditions: sourceConditions(key, publisher.sourceArn),
    }),
  );
}
