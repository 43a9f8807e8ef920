// Every Lambda of the archiver: Node 22 on arm64, bundled by the local esbuild (no Docker), source maps,
// X-Ray tracing, an explicit log group with a retention, and a role of its own that may write only to that
// log group (instead of the AWS managed basic execution role, which may write to any).
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, type NodejsFunctionProps, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
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
 * One Lambda of the archiver: Node 22 on arm64, bundled by the local esbuild, with source maps, X-Ray tracing,
 * an explicit retained log group, and a role of its own. Grants: `logs:CreateLogStream` and `logs:PutLogEvents`
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
      tracing: Tracing.ACTIVE,
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
          ...(config ? { [BUNDLED_CONFIG_IDENTIFIER]: JSON.stringify(serializeConfig(config)) } : {}),
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
