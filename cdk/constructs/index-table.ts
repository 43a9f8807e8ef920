// The index: one DynamoDB table (and its global secondary indexes) that every reader and writer shares, laid
// out by shared/index/schema.ts. Retained with the stack, deletion-protected, with point-in-time recovery.
import { type CfnElement, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement, type Role } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { indexTableDefinition } from '../../shared/index/schema';

const attributeType = (type: 'S' | 'N') => (type === 'S' ? AttributeType.STRING : AttributeType.NUMBER);

/**
 * The index: one DynamoDB table (pay per request, AWS-managed encryption, point-in-time recovery, deletion
 * protection, retained) with the global secondary indexes of shared/index/schema.ts. Grants nothing by itself:
 * {@link grantItems} and {@link grantWithIndexes} give each function the actions it uses.
 */
export class IndexTable extends Construct {
  /** The table; its name reaches the functions as `INDEX_TABLE`. */
  readonly table: Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const def = indexTableDefinition;
    this.table = new Table(this, 'IndexTable', {
      partitionKey: { name: def.partitionKey.name, type: attributeType(def.partitionKey.type) },
      sortKey: { name: def.sortKey.name, type: attributeType(def.sortKey.type) },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
      // Canary rows only carry it (shared/health/config.ts canaryExpiresAt). Enabling TTL on a deployed table is an
      // update without interruption (AWS::DynamoDB::Table TimeToLiveSpecification); a table has one TTL attribute,
      // and renaming it means disabling TTL first (UpdateTimeToLive: one change per hour).
      timeToLiveAttribute: def.timeToLiveAttribute,
    });
    for (const gsi of def.globalSecondaryIndexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: gsi.indexName,
        partitionKey: { name: gsi.partitionKey.name, type: attributeType(gsi.partitionKey.type) },
        sortKey: { name: gsi.sortKey.name, type: attributeType(gsi.sortKey.type) },
        projectionType: ProjectionType[gsi.projection],
        ...(gsi.nonKeyAttributes ? { nonKeyAttributes: [...gsi.nonKeyAttributes] } : {}),
      });
    }
  }

  /** Item actions (`dynamodb:GetItem`, ...) on the table itself, not its indexes. */
  grantItems(grantee: IGrantable, ...actions: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions, resources: [this.table.tableArn] }),
    );
  }

  /** `actions` on the table and its global secondary indexes (what `dynamodb:Query` by index needs). */
  grantWithIndexes(fn: IFunction, why: string, ...actions: string[]): void {
    this.table.grant(fn, ...actions);
    const tableId = Stack.of(this).getLogicalId(this.table.node.defaultChild as CfnElement);
    Validations.of(fn.role as Role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${tableId}.Arn>/index/*]`,
      reason: `The index table's own global secondary indexes, which ${why}`,
    });
  }
}
