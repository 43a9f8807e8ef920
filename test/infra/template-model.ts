// The synthesized template as a deployed stack would be: every intrinsic function resolved with made-up
// physical names (`<stack>-<logical id>`, lower case where AWS wants it) in one account and region, and the
// policies of the template read from it (each role's identity policies, each resource's resource policy).
// The policy test evaluates these with @cloud-copilot/iam-simulate.

import { SECRET_SUFFIX } from './recording';

export const ACCOUNT = '111111111111';
export const REGION = 'us-east-1';

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string[];
}

export interface PolicyDocument {
  Version?: string;
  Statement: Record<string, unknown>[];
}

export class TemplateModel {
  constructor(
    readonly stackName: string,
    readonly resources: Record<string, CfnResource>,
  ) {}

  ofType(type: string): [string, CfnResource][] {
    return Object.entries(this.resources).filter(([, r]) => r.Type === type);
  }

  /**
   * The one resource of `type` whose construct id is `name`: its logical ID (aws-cdk-lib's, the ids of the
   * constructs above it, then its own, then an 8-hex-digit hash) ends in `name` before the hash.
   */
  find(type: string, name: string): [string, CfnResource] {
    const found = this.ofType(type).filter(([id]) => id.replace(/[0-9A-F]{8}$/, '').endsWith(name));
    if (found.length !== 1) throw new Error(`expected one ${type} *${name}, found ${found.length}`);
    return found[0] as [string, CfnResource];
  }

  private physicalName(id: string): string {
    const r = this.resources[id];
    if (!r) throw new Error(`no resource ${id}`);
    const p = r.Properties ?? {};
    const named =
      p.FunctionName ??
      p.RuleSetName ??
      p.AlarmName ??
      p.BucketName ??
      p.TableName ??
      p.QueueName ??
      p.TopicName ??
      p.RoleName ??
      p.Name;
    if (typeof named === 'string') return named;
    const name = `${this.stackName}-${id}`;
    return r.Type === 'AWS::S3::Bucket' ? name.toLowerCase().slice(0, 63) : name;
  }

  private arn(id: string): string {
    const r = this.resources[id] as CfnResource;
    const name = this.physicalName(id);
    const at = `${REGION}:${ACCOUNT}`;
    switch (r.Type) {
      case 'AWS::S3::Bucket':
        return `arn:aws:s3:::${name}`;
      case 'AWS::DynamoDB::Table':
        return `arn:aws:dynamodb:${at}:table/${name}`;
      case 'AWS::SQS::Queue':
        return `arn:aws:sqs:${at}:${name}`;
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${at}:${name}`;
      case 'AWS::KMS::Key':
        return `arn:aws:kms:${at}:key/${id.toLowerCase()}`;
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${at}:function:${name}`;
      case 'AWS::Logs::LogGroup':
        return `arn:aws:logs:${at}:log-group:/aws/lambda/${name}:*`;
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${ACCOUNT}:role/${name}`;
      case 'AWS::SecretsManager::Secret':
        return `arn:aws:secretsmanager:${at}:secret:${name}-${SECRET_SUFFIX}`;
      case 'AWS::Events::Rule':
        return `arn:aws:events:${at}:rule/${name}`;
      default:
        throw new Error(`no ARN for ${r.Type} (${id})`);
    }
  }

  /** What `Ref` of the resource returns, per the CloudFormation reference of its type. */
  ref(id: string): string {
    const r = this.resources[id];
    if (!r) throw new Error(`no resource ${id}`);
    switch (r.Type) {
      case 'AWS::SNS::Topic':
      case 'AWS::SecretsManager::Secret':
        return this.arn(id);
      case 'AWS::KMS::Key':
        return id.toLowerCase();
      case 'AWS::SQS::Queue':
        return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${this.physicalName(id)}`;
      default:
        return this.physicalName(id);
    }
  }

  getAtt(id: string, attribute: string): string {
    const r = this.resources[id];
    if (attribute === 'Arn') return this.arn(id);
    if (attribute === 'QueueName') return this.physicalName(id);
    if (attribute === 'QueueUrl') return this.ref(id);
    throw new Error(`no attribute ${attribute} of ${r?.Type} (${id})`);
  }

  /** The value with every intrinsic function and pseudo parameter replaced by what it resolves to. */
  resolve<T = unknown>(value: unknown): T {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v)) as T;
    if (value === null || typeof value !== 'object') return value as T;
    const v = value as Record<string, unknown>;
    if (typeof v.Ref === 'string') {
      const pseudo: Record<string, string> = {
        'AWS::Partition': 'aws',
        'AWS::Region': REGION,
        'AWS::AccountId': ACCOUNT,
        'AWS::URLSuffix': 'amazonaws.com',
        'AWS::StackName': this.stackName,
      };
      return (pseudo[v.Ref] ?? this.ref(v.Ref)) as T;
    }
    if (Array.isArray(v['Fn::GetAtt'])) {
      const [id, attribute] = v['Fn::GetAtt'] as [string, string];
      return this.getAtt(id, attribute) as T;
    }
    if (Array.isArray(v['Fn::Join'])) {
      const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
      return (this.resolve<unknown[]>(parts) as string[]).join(separator) as T;
    }
    if (Array.isArray(v['Fn::Select'])) {
      const [index, list] = v['Fn::Select'] as [number, unknown];
      return (this.resolve<unknown[]>(list) as unknown[])[Number(index)] as T;
    }
    if (Array.isArray(v['Fn::Split'])) {
      const [separator, text] = v['Fn::Split'] as [string, unknown];
      return this.resolve<string>(text).split(separator) as T;
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.resolve(x)])) as T;
  }

  /** The identity policies attached to the role, resolved. */
  rolePolicies(roleId: string): { name: string; policy: PolicyDocument }[] {
    return this.ofType('AWS::IAM::Policy')
      .filter(([, p]) => ((p.Properties?.Roles ?? []) as { Ref: string }[]).some((r) => r.Ref === roleId))
      .map(([id, p]) => ({ name: id, policy: this.resolve<PolicyDocument>(p.Properties?.PolicyDocument) }));
  }

  /** The logical id of the role of the function. */
  roleOf(functionId: string): string {
    const role = this.resources[functionId]?.Properties?.Role as { 'Fn::GetAtt': [string, string] };
    return role['Fn::GetAtt'][0];
  }

  /** The resource policy of a bucket, topic, queue or key; a Lambda function's permissions as a policy. */
  resourcePolicy(id: string): PolicyDocument | undefined {
    const r = this.resources[id] as CfnResource;
    const refersTo = (x: unknown) => JSON.stringify(x) === JSON.stringify({ Ref: id });
    switch (r.Type) {
      case 'AWS::KMS::Key':
        return this.resolve(r.Properties?.KeyPolicy);
      case 'AWS::S3::Bucket': {
        const policy = this.ofType('AWS::S3::BucketPolicy').find(([, p]) => refersTo(p.Properties?.Bucket));
        return policy && this.resolve(policy[1].Properties?.PolicyDocument);
      }
      case 'AWS::SNS::Topic': {
        const policy = this.ofType('AWS::SNS::TopicPolicy').find(([, p]) =>
          ((p.Properties?.Topics ?? []) as unknown[]).some(refersTo),
        );
        return policy && this.resolve(policy[1].Properties?.PolicyDocument);
      }
      case 'AWS::SQS::Queue': {
        const policy = this.ofType('AWS::SQS::QueuePolicy').find(([, p]) =>
          ((p.Properties?.Queues ?? []) as unknown[]).some(refersTo),
        );
        return policy && this.resolve(policy[1].Properties?.PolicyDocument);
      }
      case 'AWS::Lambda::Function': {
        // AWS::Lambda::Permission as the function policy Lambda builds from it.
        const statements = this.ofType('AWS::Lambda::Permission')
          .filter(([, p]) => JSON.stringify(p.Properties?.FunctionName).includes(`"${id}"`))
          .map(([sid, p]) => {
            const props = this.resolve<Record<string, string>>(p.Properties);
            const condition: Record<string, Record<string, string>> = {};
            if (props.SourceArn) condition.ArnLike = { 'aws:SourceArn': props.SourceArn };
            if (props.SourceAccount) condition.StringEquals = { 'aws:SourceAccount': props.SourceAccount };
            const principal = props.Principal as string;
            return {
              Sid: sid,
              Effect: 'Allow',
              Principal: principal.endsWith('.amazonaws.com') ? { Service: principal } : { AWS: principal },
              Action: props.Action,
              Resource: this.arn(id),
              ...(Object.keys(condition).length ? { Condition: condition } : {}),
            };
          });
        return statements.length ? { Version: '2012-10-17', Statement: statements } : undefined;
      }
      default:
        return undefined;
    }
  }

  /** The logical id of the resource whose resolved ARN, name or URL is `value`. */
  resourceFor(value: string): string | undefined {
    for (const id of Object.keys(this.resources)) {
      for (const get of [() => this.ref(id), () => this.arn(id)]) {
        try {
          if (get() === value) return id;
        } catch {
          // not every type has an ARN here
        }
      }
    }
    return undefined;
  }
}
