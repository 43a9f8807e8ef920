// Object Lock in the template: enabled on the raw-mail bucket in every configuration (a later change would replace
// the bucket), never with a default retention (SES could not write into it), no lifecycle rule that expires raw
// mail, and, proven with the IAM policy evaluator over the synthesized template, no function role that can delete
// a version, bypass governance retention, or change the bucket's lock, versioning or lifecycle; the bucket policy
// denies the bypass to everyone but the configured break-glass role.
import { type RunSimulationResults, runSimulation } from '@cloud-copilot/iam-simulate';
import { describe, expect, it } from 'vitest';
import { exampleConfig } from '../support/config';
import { synthesize } from './synth';
import { ACCOUNT, type CfnResource, type PolicyDocument, TemplateModel } from './template-model';

const STACK = 'LockArchiver';
const BREAK_GLASS = `arn:aws:iam::${ACCOUNT}:role/archive-break-glass`;
const modelOf = (archive: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
  const config = exampleConfig({ archive, ...extra });
  const { template } = synthesize(config, { stackName: STACK });
  return new TemplateModel(
    STACK,
    (template.toJSON() as { Resources: Record<string, CfnResource> }).Resources,
  );
};

async function simulate(
  principal: string,
  action: string,
  resource: string,
  identityPolicies: { name: string; policy: PolicyDocument }[],
  resourcePolicy: PolicyDocument | undefined,
): Promise<string> {
  const result: RunSimulationResults = await runSimulation(
    {
      request: {
        principal,
        action,
        resource: { resource, accountId: ACCOUNT },
        contextVariables: { 'aws:SecureTransport': 'true', 'aws:PrincipalArn': principal },
      },
      identityPolicies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy,
    },
    {},
  );
  return result.resultType === 'error' ? `error: ${result.errors.message}` : result.overallResult;
}

const CONFIGURATIONS: [string, Record<string, unknown>][] = [
  ['the default (governance)', {}],
  [
    'governance, break-glass role',
    { lock: { mode: 'governance', retainDays: 30 }, breakGlassRole: BREAK_GLASS },
  ],
  ['compliance', { lock: { mode: 'compliance', retainDays: 2555 } }],
  ['off', { lock: { mode: 'off' } }],
];

// Each case synthesizes a stack (seconds each, a minute on a loaded machine).
describe('Object Lock on the raw-mail bucket', { timeout: 300_000 }, () => {
  it.each(CONFIGURATIONS)('%s: enabled, with no default retention', (_name, archive) => {
    const model = modelOf(archive);
    const [, bucket] = model.find('AWS::S3::Bucket', 'RawMailBucket');
    expect(bucket.Properties?.ObjectLockEnabled).toBe(true);
    expect(bucket.Properties?.ObjectLockConfiguration).toBeUndefined();
    expect(bucket.Properties?.VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });

  it('no lifecycle rule expires a version of raw mail or a sidecar (canaries, by their tag, aside)', () => {
    const [, bucket] = modelOf({}).find('AWS::S3::Bucket', 'RawMailBucket');
    const rules =
      (bucket.Properties?.LifecycleConfiguration as { Rules: Record<string, unknown>[] } | undefined)
        ?.Rules ?? [];
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      const prefix = String(rule.Prefix ?? '');
      if (prefix === 'exports/') continue;
      // The canary rule matches only versions tagged as a canary's, which ingest leaves unlocked (health.test.ts).
      if (rule.Id === 'ExpireCanaries') {
        expect(rule.TagFilters).toEqual([{ Key: 'mail-archiver:canary', Value: '1' }]);
        continue;
      }
      expect(prefix, JSON.stringify(rule)).not.toBe('');
      expect(rule.ExpirationInDays, prefix).toBeUndefined();
      expect(rule.NoncurrentVersionExpiration, prefix).toBeUndefined();
      // A lone delete marker (no version left behind it) may go: it hides nothing.
      if (rule.ExpiredObjectDeleteMarker !== undefined)
        expect(Object.keys(rule).sort()).toEqual(['ExpiredObjectDeleteMarker', 'Id', 'Prefix', 'Status']);
    }
  });

  const forbidden = [
    ['s3:DeleteObjectVersion', 'incoming/abc'],
    ['s3:DeleteObjectVersion', 'envelopes/abc.json'],
    ['s3:BypassGovernanceRetention', 'incoming/abc'],
    ['s3:PutObjectLegalHold', 'incoming/abc'],
    ['s3:PutBucketObjectLockConfiguration', ''],
    ['s3:PutLifecycleConfiguration', ''],
    ['s3:PutBucketVersioning', ''],
    ['s3:PutBucketPolicy', ''],
    ['s3:DeleteBucketPolicy', ''],
  ] as const;

  it.each(CONFIGURATIONS)(
    '%s: no function role can delete a version, bypass retention, or change the lock, versioning or lifecycle',
    async (_name, archive) => {
      const model = modelOf(archive);
      const [bucketId] = model.find('AWS::S3::Bucket', 'RawMailBucket');
      const bucketArn = model.getAtt(bucketId, 'Arn');
      const resourcePolicy = model.resourcePolicy(bucketId);
      const allowed: string[] = [];
      for (const [functionId] of model.ofType('AWS::Lambda::Function')) {
        const role = model.roleOf(functionId);
        for (const [action, key] of forbidden) {
          const resource = key ? `${bucketArn}/${key}` : bucketArn;
          const verdict = await simulate(
            model.getAtt(role, 'Arn'),
            action,
            resource,
            model.rolePolicies(role),
            resourcePolicy,
          );
          if (verdict === 'Allowed') allowed.push(`${functionId}: ${action} ${resource}`);
        }
      }
      expect(allowed).toEqual([]);
    },
  );

  it('the bucket policy denies the governance bypass even to an administrator; only the break-glass role gets it', async () => {
    const admin = {
      name: 'admin',
      policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] },
    };
    for (const [archive, breakGlassAllowed] of [
      [{}, false],
      [{ breakGlassRole: BREAK_GLASS }, true],
    ] as const) {
      const model = modelOf(archive);
      const [bucketId] = model.find('AWS::S3::Bucket', 'RawMailBucket');
      const object = `${model.getAtt(bucketId, 'Arn')}/incoming/abc`;
      const policy = model.resourcePolicy(bucketId);
      const administrator = `arn:aws:iam::${ACCOUNT}:role/Administrator`;
      expect(await simulate(administrator, 's3:BypassGovernanceRetention', object, [admin], policy)).toBe(
        'ExplicitlyDenied',
      );
      expect(await simulate(BREAK_GLASS, 's3:BypassGovernanceRetention', object, [admin], policy)).toBe(
        breakGlassAllowed ? 'Allowed' : 'ExplicitlyDenied',
      );
    }
  });

  it('the functions that write or read archived versions may lock them, and only under the locked prefixes', async () => {
    const model = modelOf({});
    const [bucketId] = model.find('AWS::S3::Bucket', 'RawMailBucket');
    const bucketArn = model.getAtt(bucketId, 'Arn');
    const policy = model.resourcePolicy(bucketId);
    const [ingest] = model.find('AWS::Lambda::Function', 'IngestFunction');
    const role = model.roleOf(ingest);
    const verdictOn = (key: string) =>
      simulate(
        model.getAtt(role, 'Arn'),
        's3:PutObjectRetention',
        `${bucketArn}/${key}`,
        model.rolePolicies(role),
        policy,
      );
    expect(await verdictOn('incoming/abc')).toBe('Allowed');
    expect(await verdictOn('envelopes/abc.json')).toBe('Allowed');
    expect(await verdictOn('exports/alice/x.tar.gz')).not.toBe('Allowed');
    // With the lock off nothing is locked, and no role may lock.
    const off = modelOf({ lock: { mode: 'off' } });
    const [offIngest] = off.find('AWS::Lambda::Function', 'IngestFunction');
    const offRole = off.roleOf(offIngest);
    const [offBucket] = off.find('AWS::S3::Bucket', 'RawMailBucket');
    expect(
      await simulate(
        off.getAtt(offRole, 'Arn'),
        's3:PutObjectRetention',
        `${off.getAtt(offBucket, 'Arn')}/incoming/abc`,
        off.rolePolicies(offRole),
        off.resourcePolicy(offBucket),
      ),
    ).not.toBe('Allowed');
  });
});

describe('config errors name the field', () => {
  it.each([
    [{ lock: { mode: 'compliance', retainDays: 0 } }, 'archive.lock.retainDays: must be at least 1 day'],
    [{ lock: { mode: 'forever' } }, 'archive.lock.mode'],
    // Compliance cannot be undone by anyone: its length is never a default the user did not choose.
    [{ lock: { mode: 'compliance' } }, 'archive.lock.retainDays: must be set when mode is "compliance"'],
    [{ replica: { region: 'eu-west-1' } }, 'archive.replica.account'],
    [
      { replica: { account: '12345', region: 'eu-west-1' } },
      'archive.replica.account: must be a 12-digit AWS account id',
    ],
    [{ breakGlassRole: 'admin' }, 'archive.breakGlassRole: must be an IAM role ARN'],
  ])('%j', (archive, message) => {
    expect(() => exampleConfig({ archive })).toThrow(message);
  });
});
