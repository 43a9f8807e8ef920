// Export: on demand, invoked asynchronously by the CLI. The function builds a maildir or mboxrd bundle of one
// mailbox into exports/, invoking itself once per part.
import { Duration, Size, Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ArchiverFunction } from './archiver-function';
import type { IndexTable } from './index-table';
import type { OperatorAlarms } from './operator-alarms';
import type { RawMailStore } from './raw-mail-store';

/** Props of {@link MailboxExport}. */
export interface MailboxExportProps {
  /** The raw-mail bucket, on whose prefixes this construct grants its functions access. */
  readonly rawMail: RawMailStore;
  /** The index table, on which this construct grants its functions item (and where needed query) access. */
  readonly index: IndexTable;
  /** Where this construct's alarms notify the operator. */
  readonly alarms: OperatorAlarms;
}

/**
 * On-demand export: the export function, invoked asynchronously by the CLI, writes a maildir or mboxrd bundle of
 * one mailbox under exports/, invoking itself once per part. Grants: read raw mail (incoming/*), write exports/*,
 * item actions and `Query` on the index table and its indexes, `lambda:InvokeFunction` on itself only.
 */
export class MailboxExport extends Construct {
  /** The export function (the CLI invokes it by name). */
  readonly function: ArchiverFunction;

  constructor(scope: Construct, id: string, props: MailboxExportProps) {
    super(scope, id);
    const { rawMail, index, alarms } = props;
    const stack = Stack.of(this);
    // A fixed name, so that the function may invoke itself (one invocation per part) without a circular reference.
    const functionName = `${stack.stackName}-export`;
    const selfArn = `arn:${stack.partition}:lambda:${stack.region}:${stack.account}:function:${functionName}`;
    this.function = new ArchiverFunction(this, 'ExportFunction', {
      functionName,
      entry: 'lambdas/export/index.ts',
      description: 'Builds a maildir or mboxrd bundle of one mailbox into S3 (exports/)',
      // CPU share for gzip; memory itself stays flat (streams all the way).
      memorySize: 2048,
      timeout: Duration.minutes(15),
      ephemeralStorageSize: Size.gibibytes(10),
      retryAttempts: 0,
      // An invocation that dies (timeout, crash) is reported to the function itself, which marks the export
      // failed with Lambda's cause, so that the CLI stops waiting at once (lambdas/export/handler.ts).
      // The role's own lambda:InvokeFunction on this ARN (below) is what Lambda uses to deliver the record.
      onFailure: { bind: () => ({ destination: selfArn }) },
      environment: {
        INDEX_TABLE: index.table.tableName,
        RAW_BUCKET: rawMail.bucket.bucketName,
        POWERTOOLS_SERVICE_NAME: 'mail-archiver-export',
      },
    });
    rawMail.grantRawMailRead(this.function, 'exporter');
    rawMail.grantExportWrite(this.function);
    rawMail.grantTransparencyLogRead(this.function, 'exporter');
    index.grantWithIndexes(
      this.function,
      'the exporter queries',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:Query',
    );
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [selfArn],
      }),
    );
    alarms.alarmWhenAboveZero(
      'ExportErrorsAlarm',
      this.function.metricErrors({ period: Duration.minutes(5) }),
      'The export function failed',
    );
  }
}
