// Each fault the review of the synthesized template found (issue 10), guarded by kind: a test synthesizes the
// stack and checks the rule AWS documents, so that the next fault of the same kind fails here, not in a deploy.
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_FUNCTION_SUFFIX, sesReceiptNameRule } from '../../shared/aws-names';
import { ConfigError, forwardingFrom, receivingDomains } from '../../shared/config';
import { CANARY_TAGGED_PREFIXES } from '../../shared/index/schema';
import { bounceSenderFor } from '../../shared/receiving/routing';
import { exampleConfig } from '../support/config';
import { synthesize } from './synth';

type Resource = { Type: string; Properties?: Record<string, unknown>; DependsOn?: string[] };
type Statement = {
  Effect: string;
  Principal?: { Service?: string | string[]; AWS?: unknown };
  Action: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};

let template: Template;
let resources: Record<string, Resource>;
const account = '111111111111';
const region = 'us-east-1';
const ruleArn = `arn:aws:ses:${region}:${account}:receipt-rule-set/mail-archiver:receipt-rule/archive`;

beforeAll(() => {
  template = synthesize().template;
  resources = template.toJSON().Resources as Record<string, Resource>;
});

/** The properties of a resource, empty when it has none. */
const props = (r: Resource | undefined): Record<string, unknown> => r?.Properties ?? {};
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const list = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);
/** The template renders ARNs as Fn::Join of partition/region/account references: resolve them for this test env. */
function resolveArn(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v.Ref === 'AWS::Partition') return 'aws';
  if (v.Ref === 'AWS::Region') return region;
  if (v.Ref === 'AWS::AccountId') return account;
  if (Array.isArray(v['Fn::Join'])) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(resolveArn).join(sep);
  }
  const referenced = typeof v.Ref === 'string' ? resources[v.Ref] : undefined;
  if (referenced?.Type === 'AWS::SES::ReceiptRuleSet') return referenced.Properties?.RuleSetName as string;
  if (v.Ref) return `{${v.Ref as string}}`;
  if (v['Fn::GetAtt']) return `{${(v['Fn::GetAtt'] as string[]).join('.')}}`;
  return JSON.stringify(value);
}
/** Every resource-policy statement of the template with a service principal, and where it is. */
function serviceStatements(): { where: string; service: string; statement: Statement }[] {
  const found: { where: string; service: string; statement: Statement }[] = [];
  const policyProps: Record<string, string> = {
    'AWS::S3::BucketPolicy': 'PolicyDocument',
    'AWS::SNS::TopicPolicy': 'PolicyDocument',
    'AWS::SQS::QueuePolicy': 'PolicyDocument',
    'AWS::KMS::Key': 'KeyPolicy',
  };
  for (const [id, r] of Object.entries(resources)) {
    const prop = policyProps[r.Type];
    if (!prop) continue;
    const doc = r.Properties?.[prop] as { Statement: Statement[] };
    for (const statement of doc.Statement) {
      for (const service of list(statement.Principal?.Service)) found.push({ where: id, service, statement });
    }
  }
  return found;
}
const allows = (s: Statement, action: string) =>
  s.Effect === 'Allow' &&
  list(s.Action).some((a) => a === action || (a.endsWith('*') && action.startsWith(a.slice(0, -1))));
/** A condition value by key, whatever the case of the key (IAM condition keys are case-insensitive). */
const conditionValue = (s: Statement, operator: string, key: string) =>
  Object.entries(s.Condition?.[operator] ?? {}).find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1];
const sourceArnOf = (s: Statement) =>
  resolveArn(
    conditionValue(s, 'ArnLike', 'aws:SourceArn') ??
      conditionValue(s, 'ArnEquals', 'aws:SourceArn') ??
      conditionValue(s, 'StringEquals', 'aws:SourceArn') ??
      '(none)',
  );

describe('fault 1: every service-to-resource path the design relies on is allowed, and pinned to its source', () => {
  it('every resource policy statement granting an AWS service names the source (aws:SourceArn) and the account', () => {
    const statements = serviceStatements();
    expect(statements.length).toBeGreaterThan(5);
    for (const { where, service, statement } of statements) {
      if (statement.Effect !== 'Allow') continue;
      expect(sourceArnOf(statement), `${where} ${service}`).toMatch(/^(arn:|\{)/);
      if (service !== 'sns.amazonaws.com') {
        expect(conditionValue(statement, 'StringEquals', 'aws:SourceAccount'), `${where} ${service}`).toBe(
          account,
        );
      }
    }
    for (const [id, permission] of ofType('AWS::Lambda::Permission')) {
      expect(permission.Properties?.SourceArn, id).toBeDefined();
    }
  });

  it('each topic an AWS service publishes to allows that service in its topic policy and its key policy', () => {
    // Who publishes where, read from the template itself: alarm actions, the receipt rule's S3 action, the
    // configuration set's event destinations.
    const publishers: { topic: string; service: string; source: string }[] = [];
    for (const [, alarm] of ofType('AWS::CloudWatch::Alarm')) {
      for (const action of list(alarm.Properties?.AlarmActions as { Ref: string }[])) {
        publishers.push({
          topic: action.Ref,
          service: 'cloudwatch.amazonaws.com',
          source: `arn:aws:cloudwatch:${region}:${account}:alarm:${alarm.Properties?.AlarmName as string}`,
        });
      }
    }
    for (const [, rule] of ofType('AWS::SES::ReceiptRule')) {
      const r = rule.Properties?.Rule as {
        Name: string;
        Actions: { S3Action?: { TopicArn: { Ref: string } } }[];
      };
      const ruleSet = resolveArn(rule.Properties?.RuleSetName);
      for (const action of r.Actions) {
        if (action.S3Action?.TopicArn) {
          publishers.push({
            topic: action.S3Action.TopicArn.Ref,
            service: 'ses.amazonaws.com',
            source: `arn:aws:ses:${region}:${account}:receipt-rule-set/${ruleSet}:receipt-rule/${r.Name}`,
          });
        }
      }
    }
    for (const [, destination] of ofType('AWS::SES::ConfigurationSetEventDestination')) {
      const d = destination.Properties?.EventDestination as {
        SnsDestination?: { TopicARN: { Ref: string } };
      };
      const set = (props(destination).ConfigurationSetName as { Ref: string }).Ref;
      if (d.SnsDestination) {
        publishers.push({
          topic: d.SnsDestination.TopicARN.Ref,
          service: 'ses.amazonaws.com',
          source: `arn:aws:ses:${region}:${account}:configuration-set/{${set}}`,
        });
      }
    }
    expect(new Set(publishers.map((p) => p.service))).toEqual(
      new Set(['cloudwatch.amazonaws.com', 'ses.amazonaws.com']),
    );
    const statements = serviceStatements();
    const matches = (pattern: string, arn: string) =>
      new RegExp(
        `^${pattern
          .split('*')
          .map((p) => p.replace(/[.?+^$[\]\\(){}|-]/g, '\\$&'))
          .join('.*')}$`,
      ).test(arn);
    for (const p of publishers) {
      const topicPolicy = ofType('AWS::SNS::TopicPolicy').find(([, r]) =>
        list(r.Properties?.Topics as { Ref: string }[]).some((t) => t.Ref === p.topic),
      )?.[0];
      expect(topicPolicy, `${p.topic} has a topic policy`).toBeDefined();
      expect(
        statements.some(
          (s) =>
            s.where === topicPolicy &&
            s.service === p.service &&
            allows(s.statement, 'sns:Publish') &&
            matches(sourceArnOf(s.statement), p.source),
        ),
        `${p.service} may publish ${p.source} into ${p.topic}`,
      ).toBe(true);
      const key = (
        resources[p.topic]?.Properties?.KmsMasterKeyId as { 'Fn::GetAtt': string[] } | undefined
      )?.['Fn::GetAtt'][0];
      if (!key) continue;
      for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
        expect(
          statements.some(
            (s) =>
              s.where === key &&
              s.service === p.service &&
              allows(s.statement, action) &&
              matches(sourceArnOf(s.statement), p.source),
          ),
          `${p.service} may ${action} with ${key} for ${p.source}`,
        ).toBe(true);
      }
    }
  });

  it('SES may write incoming/ and invoke the gatekeeper for the named receipt rule only', () => {
    const s3 = serviceStatements().find(
      (s) => allows(s.statement, 's3:PutObject') && s.service === 'ses.amazonaws.com',
    );
    expect(s3 && sourceArnOf(s3.statement)).toBe(ruleArn);
    expect(JSON.stringify(s3?.statement.Resource)).toContain('/incoming/*');
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'ses.amazonaws.com',
      SourceArn: Match.anyValue(),
    });
    const [, permission] =
      ofType('AWS::Lambda::Permission').find(([, p]) => p.Properties?.Principal === 'ses.amazonaws.com') ??
      [];
    expect(resolveArn(permission?.Properties?.SourceArn)).toBe(ruleArn);
  });

  it('SNS delivers to the queues and the feedback function only from their own topics', () => {
    const sqs = serviceStatements().filter(
      (s) => s.service === 'sns.amazonaws.com' && allows(s.statement, 'sqs:SendMessage'),
    );
    // The ingest queue, and the dead-letter queue of that subscription's redrive policy.
    expect(sqs.length).toBe(2);
    for (const s of sqs) expect(sourceArnOf(s.statement)).toMatch(/^\{ReceivingReceivedTopic[0-9A-F]{8}\}$/);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'sns.amazonaws.com',
      SourceArn: { Ref: Match.stringLikeRegexp('^ForwardingForwardFeedbackTopic') },
    });
  });
});

describe('fault 2: rule set activation', () => {
  it('is a custom resource of our own that knows the rule set it activated, activated once the rule exists', () => {
    expect(ofType('Custom::AWS')).toEqual([]);
    const [[id, activation] = []] = ofType('Custom::ReceiptRuleSetActivation');
    expect(id).toBeDefined();
    expect(activation?.Properties?.RuleSetName).toBe('mail-archiver');
    const [[ruleId] = []] = ofType('AWS::SES::ReceiptRule');
    expect(activation?.DependsOn).toContain(ruleId);
    const token = JSON.stringify(activation?.Properties?.ServiceToken);
    const [[fnId, fn] = []] = ofType('AWS::Lambda::Function').filter(([fid]) => token.includes(fid));
    expect(fnId).toMatch(/^ReceivingRuleSetActivationFunction/);
    expect(JSON.stringify(fn)).toContain('deactivates it only while it is still the active one');
  });
});

describe('fault 3: the gatekeeper never fails a message', () => {
  it('alarms on failed bounces', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'MailArchiver',
      MetricName: 'BounceFailed',
      Dimensions: [{ Name: 'service', Value: 'mail-archiver-gatekeeper' }],
      AlarmActions: [Match.anyValue()],
    });
  });

  it('bounces from an identity its role may use, for every receiving domain (the journal subdomain too)', () => {
    const config = exampleConfig();
    const [, role] =
      ofType('AWS::IAM::Policy').find(([id]) => id.startsWith('ReceivingGatekeeperFunctionRole')) ?? [];
    const statement = (props(role).PolicyDocument as { Statement: Statement[] }).Statement.find((s) =>
      allows(s, 'ses:SendBounce'),
    );
    const allowed = list(statement?.Resource).map(resolveArn);
    for (const domain of receivingDomains(config)) {
      const sender = bounceSenderFor(config, `nobody@${domain}`);
      expect(allowed).toContain(`arn:aws:ses:${region}:${account}:identity/${sender.split('@')[1]}`);
    }
  });
});

describe('fault 4: forwarding works in the SES sandbox', () => {
  it('allows sending by the From address, whatever identities SES checks (sender, recipient, configuration set)', () => {
    const [, policy] =
      ofType('AWS::IAM::Policy').find(([id]) => id.startsWith('ForwardingForwardFunctionRole')) ?? [];
    const send = (props(policy).PolicyDocument as { Statement: Statement[] }).Statement.find((s) =>
      allows(s, 'ses:SendEmail'),
    );
    expect(send?.Resource).toBe('*');
    expect(send?.Condition).toEqual({ StringEquals: { 'ses:FromAddress': forwardingFrom(exampleConfig()) } });
  });
});

describe('fault 5: a domain already set up in SES', () => {
  it('is used as it is when listed in ses.existingIdentities, and the outputs say how to turn its feedback off', () => {
    const { template: t } = synthesize(
      exampleConfig({
        ses: { ruleSetName: 'mail-archiver', activateRuleSet: true, existingIdentities: ['example.com'] },
      }),
    );
    t.resourceCountIs('AWS::SES::EmailIdentity', 0);
    t.hasOutput('ExistingIdentity0', { Value: Match.stringLikeRegexp('--no-email-forwarding-enabled') });
  });

  it('must be one of "domains"', () => {
    expect(() =>
      exampleConfig({ ses: { ruleSetName: 'x', activateRuleSet: true, existingIdentities: ['other.org'] } }),
    ).toThrow(/ses\.existingIdentities\.0: other\.org is not listed in "domains"/);
  });
});

describe('fault 6: every name the config feeds into AWS is validated when the config is read', () => {
  it("refuses a rule set name SES would refuse, quoting SES's rule", () => {
    for (const name of ['mail-', 'mail_', '-mail', 'a'.repeat(65), 'mail.archiver', 'mail archiver']) {
      expect(() => exampleConfig({ ses: { ruleSetName: name, activateRuleSet: true } }), name).toThrow(
        ConfigError,
      );
      expect(() => exampleConfig({ ses: { ruleSetName: name, activateRuleSet: true } }), name).toThrow(
        /ses\.ruleSetName: SES receipt rule set names .* start and end with a letter or digit, and are at most 64/,
      );
    }
    expect(() =>
      exampleConfig({ ses: { ruleSetName: 'a'.repeat(64), activateRuleSet: true } }),
    ).not.toThrow();
  });

  it('refuses a stack name that would make a function name longer than 64 characters', () => {
    expect(() => exampleConfig({ stackName: `A${'b'.repeat(61)}` })).toThrow(
      /stackName: CloudFormation stack names .* at most 57 characters here, because the export function/,
    );
    expect(() => exampleConfig({ stackName: '9lives' })).toThrow(
      /stackName: CloudFormation stack names start with a letter/,
    );
    expect(() =>
      exampleConfig({ route53: { hostedZoneId: '/hostedzone/Z1', zoneName: 'example.com' } }),
    ).toThrow(/route53\.hostedZoneId: a Route 53 hosted zone id/);
  });

  it('synthesizes names AWS accepts at the longest names the config allows', () => {
    const stackName = `A${'b'.repeat(56)}`;
    const ruleSetName = `r${'x'.repeat(62)}z`;
    const config = exampleConfig({ stackName, ses: { ruleSetName, activateRuleSet: true } });
    const { template: t } = synthesize(config, { stackName });
    const json = t.toJSON() as { Resources: Record<string, Resource> };
    for (const [id, r] of Object.entries(json.Resources)) {
      if (r.Type === 'AWS::Lambda::Function' && typeof r.Properties?.FunctionName === 'string') {
        expect((r.Properties.FunctionName as string).length, id).toBeLessThanOrEqual(64);
        expect(r.Properties.FunctionName).toBe(`${stackName}${EXPORT_FUNCTION_SUFFIX}`);
      }
      if (r.Type === 'AWS::SES::ReceiptRuleSet')
        expect(sesReceiptNameRule.test(r.Properties?.RuleSetName as string)).toBe(true);
      if (r.Type === 'AWS::SES::ReceiptRule') {
        expect(sesReceiptNameRule.test((props(r).Rule as { Name: string }).Name)).toBe(true);
      }
      if (r.Type === 'AWS::CloudWatch::Alarm')
        expect((props(r).AlarmName as string).length).toBeLessThanOrEqual(255);
    }
  });
});

describe('fault 7: the config travels with the code, not in the environment', () => {
  it('a config with 500 mailboxes synthesizes, and every function environment stays under 4 KB', () => {
    const mailboxes = Object.fromEntries(
      Array.from({ length: 500 }, (_, i) => [
        `person.number.${i}@example.com`,
        { forwardTo: [`person.number.${i}.elsewhere@gmail.com`] },
      ]),
    );
    const { template: t } = synthesize(exampleConfig({ mailboxes }));
    const functions = Object.entries(
      (t.toJSON() as { Resources: Record<string, Resource> }).Resources,
    ).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThanOrEqual(5);
    for (const [id, fn] of functions) {
      const variables =
        (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
      // Lambda counts keys and values; a reference (table name, queue URL) resolves to at most 256 characters here.
      const size = Object.entries(variables).reduce(
        (sum, [k, v]) => sum + k.length + (typeof v === 'string' ? Buffer.byteLength(v) : 256),
        0,
      );
      expect(size, id).toBeLessThan(4096);
      expect(Object.keys(variables), id).not.toContain('ARCHIVER_CONFIG');
    }
  });
});

describe('fault 8: exports expire, also as noncurrent versions of the versioned bucket', () => {
  it('every expiring prefix of a versioned bucket also expires noncurrent versions and lone delete markers', () => {
    for (const [id, bucket] of ofType('AWS::S3::Bucket')) {
      const versioned =
        (bucket.Properties?.VersioningConfiguration as { Status?: string } | undefined)?.Status === 'Enabled';
      const rules =
        (bucket.Properties?.LifecycleConfiguration as { Rules?: Record<string, unknown>[] } | undefined)
          ?.Rules ?? [];
      for (const rule of rules) {
        // S3 refuses ExpiredObjectDeleteMarker in the same rule as an expiration in days.
        expect(rule.ExpiredObjectDeleteMarker !== undefined && rule.ExpirationInDays !== undefined, id).toBe(
          false,
        );
        if (!versioned || rule.ExpirationInDays === undefined) continue;
        expect(rule.NoncurrentVersionExpiration, `${id} ${rule.Prefix as string}`).toBeDefined();
        // A rule filtered by tag (canaries) leaves its delete markers under the prefixes its versions are in
        // (a delete marker has no tags, so only a prefix rule can remove it).
        const prefixes =
          rule.Prefix === undefined && rule.TagFilters ? CANARY_TAGGED_PREFIXES : [rule.Prefix];
        for (const prefix of prefixes) {
          expect(
            rules.some((r) => r.Prefix === prefix && r.ExpiredObjectDeleteMarker === true),
            `${id} ${prefix as string} delete markers`,
          ).toBe(true);
        }
      }
    }
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Prefix: 'exports/',
            ExpirationInDays: 7,
            NoncurrentVersionExpiration: { NoncurrentDays: 1 },
          }),
          Match.objectLike({ Prefix: 'exports/', ExpiredObjectDeleteMarker: true }),
        ]),
      },
    });
  });
});

describe('fault 9: no feedback mail to a non-mailbox', () => {
  it('turns email feedback forwarding off on every identity the stack creates', () => {
    const identities = ofType('AWS::SES::EmailIdentity');
    expect(identities.length).toBe(1);
    for (const [id, identity] of identities) {
      expect(identity.Properties?.FeedbackAttributes, id).toEqual({ EmailForwardingEnabled: false });
    }
  });
});
