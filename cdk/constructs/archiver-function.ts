// Every Lambda of the archiver: Node 22 on arm64, bundled by the local esbuild (no Docker), source maps,
// X-Ray tracing as the config chooses, an explicit log group with a retention, and a role of its own that may
// write only to that log group (instead of the AWS managed basic execution role, which may write to any).
import { Duration, type IAspect, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type CfnFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, type NodejsFunctionProps, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct, IConstruct } from 'constructs';
import { BUNDLED_CONFIG_IDENTIFIER } from '../../lambdas/shared/environment';
import { type ArchiverConfig, serializeConfig } from '../../shared/config';

/**
 * Props of {@link ArchiverFunction}: NodejsFunction's props without `runtime` and `architecture` (always Node 22
 * on arm64), plus the log retention and the config compiled into the bundle.
 */
export interface ArchiverFunctionProps extends Omit<NodejsFunctionProps, 'runtime' | 'architecture'> {
  /** Path of the handler module, relative to the repository root (e.g. lambdas/ingest/index.ts). */
  readonly entry: string;
  /**
   * How long the function's logs are kept.
   * @default - one year
   */
  readonly logRetention?: RetentionDays;
  /**
   * The validated config, compiled into the bundle (esbuild `define` of `__ARCHIVER_CONFIG__`, read by
   * lambdas/shared/environment.ts) rather than passed in the environment, which Lambda caps at 4 KB in total.
   * @default - the function gets no config
   */
  readonly config?: ArchiverConfig;
}

/**
 * One Lambda of the archiver: Node 22 on arm64, bundled by the local esbuild, with source maps, X-Ray tracing
 * PassThrough unless the stack's {@link FunctionTracing} makes it Active, an explicit retained log group, and a
 * role of its own. Grants: `logs:CreateLogStream` and `logs:PutLogEvents`
 * on its own log group only (and X-Ray writes); every other permission is granted by the construct that uses it.
 */
export class ArchiverFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, allProps: ArchiverFunctionProps) {
    const { config, logRetention, ...props } = allProps;
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: logRetention ?? RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new Role(scope, `${id}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    super(scope, id, {
      role,
      memorySize: 512,
      timeout: Duration.seconds(30),
      // PassThrough grants the same X-Ray writes as Active, so FunctionTracing can switch the mode alone.
      tracing: Tracing.PASS_THROUGH,
      logGroup,
      ...props,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      bundling: {
        format: OutputFormat.CJS,
        minify: true,
        sourceMap: true,
        target: 'node22',
        // Our own pinned SDK versions, the ones the tests ran against, rather than the runtime's.
        externalModules: [],
        ...props.bundling,
        define: {
          ...props.bundling?.define,
          // `tracing` is the stack's alone (FunctionTracing), so the bundle carries its default: turning tracing
          // on or off then changes each function's TracingConfig and none of its code.
          ...(config
            ? { [BUNDLED_CONFIG_IDENTIFIER]: JSON.stringify(serializeConfig({ ...config, tracing: false })) }
            : {}),
        },
      },
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions',
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'NODEJS_22_X is the runtime this project targets and tests against; a newer one is a deliberate upgrade',
    });
  }
}

/**
 * Sets the X-Ray mode of every {@link ArchiverFunction} in the scope it is added to (`Aspects.of(stack).add`), from
 * the config's `tracing`: `Active` (Lambda samples at a fixed rate, the first request each second and 5% of the
 * rest, so at mail rates every invocation is traced) or `PassThrough` (Lambda's default: a trace only for a request
 * an upstream service already sampled; SES, SNS and our queues sample none). PassThrough is written out rather
 * than left absent so that turning tracing off changes a deployed function. A mode change is an update without
 * interruption (AWS::Lambda::Function TracingConfig; https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html).
 */
export class FunctionTracing implements IAspect {
  constructor(private readonly active: boolean) {}

  visit(node: IConstruct): void {
    if (!(node instanceof ArchiverFunction)) return;
    (node.node.defaultChild as CfnFunction).tracingConfig = { mode: this.active ? 'Active' : 'PassThrough' };
  }
}
