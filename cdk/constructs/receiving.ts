// SES receiving: the domain identities and their DNS records, the receipt rule set with its one rule
// (gatekeeper, then store into the raw-mail bucket and notify the received topic), and its activation.
import { CfnOutput, CustomResource, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { PolicyStatement, type Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { CnameRecord, HostedZone, MxRecord } from 'aws-cdk-lib/aws-route53';
import {
  EmailIdentity,
  Identity,
  type IReceiptRuleAction,
  ReceiptRuleSet,
  TlsPolicy,
} from 'aws-cdk-lib/aws-ses';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { type ArchiverConfig, receivingDomains } from '../../shared/config';
import { RAW_MAIL_PREFIX } from '../../shared/index/schema';
import { BOUNCE_FAILED_METRIC, METRICS_NAMESPACE } from '../../shared/metrics';
import { ArchiverFunction } from './archiver-function';
import { GATEKEEPER_MEMORY_MB } from './lambda-memory';
import type { OperatorAlarms } from './operator-alarms';
import type { RawMailStore } from './raw-mail-store';
import { allowServiceToPublish } from './service-publishing';

const SES = 'ses.amazonaws.com';
const GATEKEEPER_SERVICE = 'mail-archiver-gatekeeper';

/** The name of the stack's one receipt rule (SES receipt rule names follow the rule set name rules). */
export const RECEIPT_RULE_NAME = 'archive';

/** `arn:PARTITION:ses:REGION:ACCOUNT:receipt-rule-set/SET:receipt-rule/RULE`, the aws:SourceArn of SES receiving. */
export function receiptRuleArn(stack: Stack, ruleSetName: string, ruleName: string): string {
  return `arn:${stack.partition}:ses:${stack.region}:${stack.account}:receipt-rule-set/${ruleSetName}:receipt-rule/${ruleName}`;
}

/** Props of {@link Receiving}. */
export interface ReceivingProps {
  readonly config: ArchiverConfig;
  /** The raw-mail bucket, on whose prefixes this construct grants its functions access. */
  readonly rawMail: RawMailStore;
  /** Where this construct's alarms notify the operator. */
  readonly alarms: OperatorAlarms;
  /** The customer managed key that encrypts the received topic (SES is allowed to encrypt with it). */
  readonly messagingKey: IKey;
}

/**
 * SES receiving: the domain identities and their DNS records, the receipt rule set with its one rule (the
 * gatekeeper when unknown recipients are bounced, then store under incoming/ and notify the received topic), and,
 * when `ses.activateRuleSet` says so, the custom resource that activates the rule set. Grants: SES may write
 * incoming/*, publish into the received topic (pinned to the rule by aws:SourceArn) and invoke the gatekeeper; the
 * gatekeeper `ses:SendBounce`; the activation function sets and describes the active rule set.
 */
export class Receiving extends Construct {
  /** SES publishes here once a message is stored under incoming/. */
  readonly receivedTopic: Topic;
  /** The stack's receipt rule set, activated on deploy. */
  readonly ruleSet: ReceiptRuleSet;
  /** Bounces unknown recipients before anything is stored; absent when unknown recipients go to a catch-all. */
  readonly gatekeeper?: ArchiverFunction;

  constructor(scope: Construct, id: string, props: ReceivingProps) {
    super(scope, id);
    const { config, rawMail, alarms } = props;
    const stack = Stack.of(this);
    const domains = receivingDomains(config);

    // The one receipt rule every SES grant is pinned to (aws:SourceArn), so no other rule of the account can
    // write incoming/, publish into the received topic or invoke the gatekeeper.
    const ruleArn = receiptRuleArn(stack, config.ses.ruleSetName, RECEIPT_RULE_NAME);
    this.receivedTopic = new Topic(this, 'ReceivedTopic', {
      masterKey: props.messagingKey,
      enforceSSL: true,
    });
    allowServiceToPublish(this.receivedTopic, props.messagingKey, { service: SES, sourceArn: ruleArn });

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

    // The outputs below are the stack's own, so `cdk deploy` prints them by their plain names (MxRecord0, not a
    // construct path and hash).
    config.domains.forEach((domain, i) => {
      if (config.ses.existingIdentities.includes(domain)) {
        new CfnOutput(stack, `ExistingIdentity${i}`, {
          description: `${domain} is an existing SES identity (ses.existingIdentities): the stack leaves it as it is`,
          value: `aws sesv2 put-email-identity-feedback-attributes --email-identity ${domain} --no-email-forwarding-enabled --region ${stack.region}`,
        });
        return;
      }
      const identity = new EmailIdentity(this, `DomainIdentity${i}`, {
        identity: Identity.domain(domain),
        // Bounces and complaints arrive as configuration set events; SES's email feedback would mail them to
        // the forwarder address, which is no mailbox, and back through the unknown-recipient path.
        feedbackForwarding: false,
      });
      identity.dkimRecords.forEach((record, j) => {
        new CfnOutput(stack, `DkimRecord${i}x${j}`, {
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
      new CfnOutput(stack, `MxRecord${i}`, {
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
    const grants: Construct[] = [];
    if (config.unknownRecipients.action === 'reject') {
      const gatekeeper = new ArchiverFunction(this, 'GatekeeperFunction', {
        entry: 'lambdas/gatekeeper/index.ts',
        description: 'Bounces envelope recipients that belong to no mailbox before anything is stored',
        memorySize: GATEKEEPER_MEMORY_MB,
        timeout: Duration.seconds(10),
        config,
        environment: { POWERTOOLS_SERVICE_NAME: GATEKEEPER_SERVICE },
      });
      // The bounce sender is always on one of "domains" (shared/receiving/routing.ts bounceSenderFor), their identities.
      gatekeeper.addToRolePolicy(
        new PolicyStatement({
          actions: ['ses:SendBounce'],
          resources: config.domains.map(
            (d) => `arn:${stack.partition}:ses:${stack.region}:${stack.account}:identity/${d}`,
          ),
        }),
      );
      gatekeeper.addPermission('AllowSes', {
        action: 'lambda:InvokeFunction',
        principal: new ServicePrincipal(SES),
        sourceAccount: stack.account,
        sourceArn: ruleArn,
      });
      grants.push(gatekeeper.permissionsNode.findChild('AllowSes') as Construct);
      actions.push({
        bind: () => ({
          lambdaAction: { functionArn: gatekeeper.functionArn, invocationType: 'RequestResponse' },
        }),
      });
      this.gatekeeper = gatekeeper;
    }
    // SES writes the message under incoming/ (bucket policy), then publishes the notification (topic policy).
    rawMail.bucket.addToResourcePolicy(
      new PolicyStatement({
        actions: ['s3:PutObject'],
        principals: [new ServicePrincipal(SES)],
        resources: [rawMail.bucket.arnForObjects(`${RAW_MAIL_PREFIX}*`)],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account, 'aws:SourceArn': ruleArn } },
      }),
    );
    grants.push(rawMail.bucket.policy as Construct);
    const topicPolicy = this.receivedTopic.node.tryFindChild('Policy');
    if (topicPolicy) grants.push(topicPolicy);
    actions.push({
      bind: () => ({
        s3Action: {
          bucketName: rawMail.bucket.bucketName,
          objectKeyPrefix: RAW_MAIL_PREFIX,
          topicArn: this.receivedTopic.topicArn,
        },
      }),
    });

    this.ruleSet = new ReceiptRuleSet(this, 'ReceiptRuleSet', {
      receiptRuleSetName: config.ses.ruleSetName,
    });
    const rule = this.ruleSet.addRule('Archive', {
      receiptRuleName: RECEIPT_RULE_NAME,
      recipients: domains,
      tlsPolicy: TlsPolicy.REQUIRE,
      scanEnabled: true,
      actions,
    });
    // SES checks its permissions when the rule is created: the grants must exist first.
    for (const grant of grants) rule.node.addDependency(grant);

    if (config.ses.activateRuleSet) {
      // Explicit in the config (ses.activateRuleSet): this replaces whatever rule set is active in the region,
      // and on delete deactivates only while the active set is still this one.
      const activationFunction = new ArchiverFunction(this, 'RuleSetActivationFunction', {
        entry: 'lambdas/rule-set-activation/index.ts',
        description:
          'Activates the receipt rule set; on delete deactivates it only while it is still the active one',
        memorySize: 256,
        timeout: Duration.minutes(1),
        environment: { POWERTOOLS_SERVICE_NAME: 'mail-archiver-rule-set-activation' },
      });
      activationFunction.addToRolePolicy(
        new PolicyStatement({
          actions: ['ses:SetActiveReceiptRuleSet', 'ses:DescribeActiveReceiptRuleSet'],
          resources: ['*'],
        }),
      );
      Validations.of(activationFunction.role as Role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ses:SetActiveReceiptRuleSet and ses:DescribeActiveReceiptRuleSet support no resource-level permissions',
      });
      const activation = new CustomResource(this, 'RuleSetActivation', {
        serviceToken: activationFunction.functionArn,
        resourceType: 'Custom::ReceiptRuleSetActivation',
        properties: { RuleSetName: config.ses.ruleSetName },
      });
      // Activated once the rule is in place; on delete, deactivated before the rule set is deleted.
      activation.node.addDependency(rule);
    } else {
      new CfnOutput(stack, 'ActivateRuleSetCommand', {
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
      alarms.alarmWhenAboveZero(
        'GatekeeperBounceFailuresAlarm',
        new Metric({
          namespace: METRICS_NAMESPACE,
          metricName: BOUNCE_FAILED_METRIC,
          dimensionsMap: { service: GATEKEEPER_SERVICE },
          statistic: 'Sum',
          period: Duration.minutes(5),
        }),
        'The gatekeeper could not bounce mail to unknown recipients (SES sandbox, sending rate, or the bounce sender): see its log',
      );
    }
  }
}
