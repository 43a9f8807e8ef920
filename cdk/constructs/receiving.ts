// SES receiving: the domain identities and their DNS records, the receipt rule set with its one rule
// (gatekeeper, then store into the raw-mail bucket and notify the received topic), and its activation.
import { CfnOutput, Duration, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { CnameRecord, HostedZone, MxRecord } from 'aws-cdk-lib/aws-route53';
import {
  EmailIdentity,
  Identity,
  type IReceiptRuleAction,
  ReceiptRuleSet,
  TlsPolicy,
} from 'aws-cdk-lib/aws-ses';
import * as sesActions from 'aws-cdk-lib/aws-ses-actions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { type ArchiverConfig, receivingDomains } from '../../shared/config';
import { RAW_MAIL_PREFIX } from '../../shared/index-schema';
import { keepChildLogicalIds } from '../logical-ids';
import { ArchiverFunction } from './archiver-function';
import type { OperatorAlarms } from './operator-alarms';
import type { RawMailStore } from './raw-mail-store';

export interface ReceivingProps {
  readonly config: ArchiverConfig;
  readonly rawMail: RawMailStore;
  readonly alarms: OperatorAlarms;
  /** Encrypts the received topic. */
  readonly messagingKey: IKey;
}

export class Receiving extends Construct {
  /** SES publishes here once a message is stored under incoming/. */
  readonly receivedTopic: Topic;
  readonly ruleSet: ReceiptRuleSet;
  /** Bounces unknown recipients before anything is stored; absent when unknown recipients go to a catch-all. */
  readonly gatekeeper?: ArchiverFunction;

  constructor(scope: Construct, id: string, props: ReceivingProps) {
    super(scope, id);
    keepChildLogicalIds(this);
    const { config, rawMail, alarms } = props;
    const stack = Stack.of(this);
    const domains = receivingDomains(config);

    this.receivedTopic = new Topic(this, 'ReceivedTopic', {
      masterKey: props.messagingKey,
      enforceSSL: true,
    });
    this.receivedTopic.addToResourcePolicy(
      new PolicyStatement({
        actions: ['sns:Publish'],
        principals: [new ServicePrincipal('ses.amazonaws.com')],
        resources: [this.receivedTopic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );

    const zone = config.route53
      ? HostedZone.fromHostedZoneAttributes(this, 'Zone', {
          hostedZoneId: config.route53.hostedZoneId,
          zoneName: config.route53.zoneName,
        })
      : undefined;
    const inZone = (domain: string) =>
      config.route53 !== undefined &&
      (domain === config.route53.zoneName || domain.endsWith(`.${config.route53.zoneName}`));
    const inboundEndpoint = `inbound-smtp.${stack.region}.amazonaws.com`;

    config.domains.forEach((domain, i) => {
      const identity = new EmailIdentity(this, `DomainIdentity${i}`, { identity: Identity.domain(domain) });
      identity.dkimRecords.forEach((record, j) => {
        new CfnOutput(this, `DkimRecord${i}x${j}`, {
          description: `DKIM CNAME for ${domain}: create it in your DNS`,
          value: `${record.name} CNAME ${record.value}`,
        });
        if (zone && inZone(domain)) {
          new CnameRecord(this, `DkimCname${i}x${j}`, {
            zone,
            recordName: record.name,
            domainName: record.value,
          });
        }
      });
    });
    domains.forEach((domain, i) => {
      new CfnOutput(this, `MxRecord${i}`, {
        description: `MX record for ${domain}: points its mail at SES`,
        value: `${domain} MX 10 ${inboundEndpoint}`,
      });
      if (zone && inZone(domain)) {
        new MxRecord(this, `Mx${i}`, {
          zone,
          recordName: domain,
          values: [{ priority: 10, hostName: inboundEndpoint }],
        });
      }
    });

    const actions: IReceiptRuleAction[] = [];
    if (config.unknownRecipients.action === 'reject') {
      const gatekeeper = new ArchiverFunction(this, 'GatekeeperFunction', {
        entry: 'lambdas/gatekeeper/index.ts',
        description: 'Bounces envelope recipients that belong to no mailbox before anything is stored',
        memorySize: 256,
        timeout: Duration.seconds(10),
        environment: {
          ARCHIVER_CONFIG: JSON.stringify(config),
          POWERTOOLS_SERVICE_NAME: 'mail-archiver-gatekeeper',
        },
      });
      gatekeeper.addToRolePolicy(
        new PolicyStatement({
          actions: ['ses:SendBounce'],
          resources: config.domains.map(
            (d) => `arn:${stack.partition}:ses:${stack.region}:${stack.account}:identity/${d}`,
          ),
        }),
      );
      actions.push(
        new sesActions.Lambda({
          function: gatekeeper,
          invocationType: sesActions.LambdaInvocationType.REQUEST_RESPONSE,
        }),
      );
      this.gatekeeper = gatekeeper;
    }
    actions.push(
      new sesActions.S3({
        bucket: rawMail.bucket,
        objectKeyPrefix: RAW_MAIL_PREFIX,
        topic: this.receivedTopic,
      }),
    );

    this.ruleSet = new ReceiptRuleSet(this, 'ReceiptRuleSet', {
      receiptRuleSetName: config.ses.ruleSetName,
    });
    this.ruleSet.addRule('Archive', {
      recipients: domains,
      tlsPolicy: TlsPolicy.REQUIRE,
      scanEnabled: true,
      actions,
    });

    if (config.ses.activateRuleSet) {
      // Explicit in the config (ses.activateRuleSet): this replaces whatever rule set is active in the region.
      const activation = new AwsCustomResource(this, 'ActivateRuleSet', {
        onUpdate: {
          service: 'SES',
          action: 'setActiveReceiptRuleSet',
          parameters: { RuleSetName: this.ruleSet.receiptRuleSetName },
          physicalResourceId: PhysicalResourceId.of(`active-${config.ses.ruleSetName}`),
        },
        onDelete: { service: 'SES', action: 'setActiveReceiptRuleSet', parameters: {} },
        policy: AwsCustomResourcePolicy.fromStatements([
          new PolicyStatement({ actions: ['ses:SetActiveReceiptRuleSet'], resources: ['*'] }),
        ]),
        installLatestAwsSdk: false,
      });
      activation.node.addDependency(this.ruleSet);
      Validations.of(activation).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ses:SetActiveReceiptRuleSet supports no resource-level permissions',
      });
    } else {
      new CfnOutput(this, 'ActivateRuleSetCommand', {
        description: 'The rule set is NOT active (ses.activateRuleSet is false). Activate it yourself:',
        value: `aws ses set-active-receipt-rule-set --rule-set-name ${config.ses.ruleSetName} --region ${stack.region}`,
      });
    }
    if (this.gatekeeper) {
      alarms.alarmWhenAboveZero(
        'GatekeeperErrorsAlarm',
        this.gatekeeper.metricErrors({ period: Duration.minutes(5) }),
        'The gatekeeper function failed',
      );
    }
  }
}
