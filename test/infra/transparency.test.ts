// The transparency log in the template: an Ed25519 signing key (retained) only the seal function may use, one
// seal at a time on the configured schedule and at each deployment, write-once storage enforced by the bucket
// policy for every principal, and the four alarms (errors, 26 hours without a seal, an overwrite, a conflict).
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig } from '../support/config';
import { synthesize } from './synth';

let template: Template;
beforeAll(() => {
  const config = exampleConfig();
  template = synthesize({ ...config, transparency: { ...config.transparency, sealEveryHours: 6 } }).template;
});

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
const statementsOf = (resources: Record<string, unknown>) =>
  Object.entries(resources).flatMap(([id, r]) =>
    (
      (r as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
        .Statement ?? []
    ).map((s) => ({ id, ...s })),
  );
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('the transparency log in the stack', () => {
  it('signs with a retained Ed25519 KMS key', () => {
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('seals one run at a time, on the configured schedule, with no function besides its own', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 1,
      Environment: { Variables: Match.objectLike({ SIGNING_KEY_ARN: Match.anyValue() }) },
    });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(6 hours)' });
    template.resourceCountIs('Custom::Trigger', 0);
  });

  it('lets only the seal function sign, and nothing delete or replace the log', () => {
    const statements = statementsOf(template.findResources('AWS::IAM::Policy'));
    const signers = statements.filter((s) => actions(s).includes('kms:Sign'));
    expect(signers.map((s) => s.id.replace(/[A-F0-9]{8}$/, ''))).toEqual([
      'TransparencySealFunctionRoleDefaultPolicy',
    ]);
    const onLog = statements.filter((s) => JSON.stringify(s.Resource).includes('/transparency/*'));
    // The sealer (get, create, lock each file it creates), the exporter (get) and the lock sweep of the
    // scheduled reconcile (read a new version's retention, lock one without): nothing deletes or bypasses.
    expect(
      onLog.map((s) => `${s.id.replace(/[A-F0-9]{8}$/, '')}: ${actions(s).sort().join(' ')}`).sort(),
    ).toEqual([
      'ExportExportFunctionRoleDefaultPolicy: s3:GetObject',
      'ReconcileReconcileFunctionRoleDefaultPolicy: s3:GetObjectRetention s3:PutObjectRetention',
      'TransparencySealFunctionRoleDefaultPolicy: s3:GetObject s3:PutObject s3:PutObjectRetention',
    ]);
    const bucketPolicy = statementsOf(template.findResources('AWS::S3::BucketPolicy'));
    const createOnly = bucketPolicy.find((s) => (s as { Sid?: string }).Sid === 'TransparencyLogCreateOnly');
    expect(createOnly).toMatchObject({
      Effect: 'Deny',
      Action: 's3:PutObject',
      Condition: { Null: { 's3:if-none-match': 'true' } },
    });
    const neverDeleted = bucketPolicy.find(
      (s) => (s as { Sid?: string }).Sid === 'TransparencyLogNeverDeleted',
    );
    expect(neverDeleted).toMatchObject({
      Effect: 'Deny',
      Action: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
    });
    expect(JSON.stringify(neverDeleted?.Resource)).toContain('/transparency/*');
  });

  it('alarms after 26 hours without a seal, and on errors, overwrites and conflicts', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-NoSealAlarm$'),
      MetricName: 'CheckpointSealed',
      Period: 3600,
      EvaluationPeriods: 26,
      DatapointsToAlarm: 26,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    for (const name of ['SealErrorsAlarm', 'LogOverwriteAlarm', 'LogConflictsAlarm'])
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: Match.stringLikeRegexp(`-${name}$`),
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
      });
  });
});
