// ForwardLedger on DynamoDB: the claim is a conditional update, so that only one worker sends each copy.
import { GetCommand, PutCommand, paginateQuery, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  type ForwardEntry,
  type ForwardEntryKey,
  type ForwardState,
  leaseUntil,
  type SendResult,
} from '../forwarding/ledger';
import { FORWARD_SENT_SES_ID, forwardFromItem, forwardSkAfter, indexKeys, itemKeys } from '../index/schema';
import type { ForwardLedger } from '../ports';
import { type IndexTable, isConditionalCheckFailed, partitionRangeQuery } from './dynamo-table';

/**
 * `isClaimable` (shared/forwarding/ledger.ts) as a condition expression: normal delivery takes what never started
 * or failed transiently; a redrive also takes permanent failures and claims whose lease ran out.
 */
function claimCondition(redrive: boolean): string {
  return redrive
    ? 'attribute_not_exists(pk) OR #state IN (:pending, :failed) OR (#state = :sending AND leaseUntil < :now)'
    : 'attribute_not_exists(pk) OR #state = :pending OR (#state = :failed AND permanent = :false)';
}

export class DynamoForwardLedger implements ForwardLedger {
  constructor(private readonly table: IndexTable) {}

  async claimForward(e: ForwardEntryKey, now: Date, redrive: boolean): Promise<boolean> {
    try {
      await this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: itemKeys.forward(e),
          UpdateExpression:
            'SET #state = :sending, leaseUntil = :lease, updatedAt = :now, mailbox = :mailbox, messageKey = :key, target = :target ADD attempts :one',
          ConditionExpression: claimCondition(redrive),
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':sending': 'sending',
            ':pending': 'pending',
            ':failed': 'failed',
            ...(redrive ? {} : { ':false': false }),
            ':lease': leaseUntil(now),
            ':now': now.toISOString(),
            ':mailbox': e.mailbox,
            ':key': e.messageKey,
            ':target': e.target,
            ':one': 1,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async settleForward(e: ForwardEntryKey, result: SendResult, now: Date): Promise<void> {
    if (result.state === 'sent') {
      const ses = 'sesMessageId' in result;
      const changes = ses && result.changes?.length ? result.changes : undefined;
      await this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: itemKeys.forward(e),
          UpdateExpression: `SET #state = :sent, #id = :id, sentAt = :now, updatedAt = :now${changes ? ', changes = :changes' : ''} REMOVE leaseUntil, #error, permanent`,
          ExpressionAttributeNames: {
            '#state': 'state',
            '#error': 'error',
            '#id': ses ? FORWARD_SENT_SES_ID : 'gmailMessageId',
          },
          ExpressionAttributeValues: {
            ':sent': 'sent',
            ':id': ses ? result.sesMessageId : result.gmailMessageId,
            ':now': now.toISOString(),
            ...(changes ? { ':changes': changes } : {}),
          },
        }),
      );
      // Bounce and complaint feedback finds the entry by SES's id; Gmail imports get none.
      if (!ses) return;
      await this.table.doc.send(
        new PutCommand({
          TableName: this.table.name,
          Item: {
            ...itemKeys.sentCopy(result.sesMessageId),
            mailbox: e.mailbox,
            messageKey: e.messageKey,
            target: e.target,
          },
        }),
      );
      return;
    }
    await this.table.doc.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: itemKeys.forward(e),
        UpdateExpression:
          'SET #state = :failed, #error = :error, permanent = :permanent, updatedAt = :now REMOVE leaseUntil',
        ExpressionAttributeNames: { '#state': 'state', '#error': 'error' },
        ExpressionAttributeValues: {
          ':failed': 'failed',
          ':error': result.error.slice(0, 2000),
          ':permanent': result.permanent,
          ':now': now.toISOString(),
        },
      }),
    );
  }

  async skipForward(e: ForwardEntryKey, reason: string, now: Date): Promise<void> {
    try {
      await this.table.doc.send(
        new PutCommand({
          TableName: this.table.name,
          Item: {
            ...itemKeys.forward(e),
            ...e,
            state: 'skipped',
            reason,
            attempts: 0,
            updatedAt: now.toISOString(),
          },
          ConditionExpression: 'attribute_not_exists(pk) OR #state = :pending',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':pending': 'pending' },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }

  async *listForwards(
    mailbox: string,
    state?: ForwardState,
    afterMessageKey?: string,
  ): AsyncIterable<ForwardEntry> {
    const range = partitionRangeQuery(
      indexKeys.mailboxPk(mailbox),
      indexKeys.FORWARD_PREFIX,
      afterMessageKey === undefined ? undefined : forwardSkAfter(afterMessageKey),
    );
    const pages = paginateQuery(
      { client: this.table.doc, pageSize: 200 },
      {
        TableName: this.table.name,
        ...range,
        ExpressionAttributeValues: {
          ...range.ExpressionAttributeValues,
          ...(state ? { ':state': state } : {}),
        },
        ...(state
          ? { FilterExpression: '#state = :state', ExpressionAttributeNames: { '#state': 'state' } }
          : {}),
        ConsistentRead: true,
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) yield forwardFromItem(item);
  }

  async messageForwards(mailbox: string, messageKey: string): Promise<ForwardEntry[]> {
    // FORWARD#<messageKey># is a prefix of this message's entries only: message keys hold no '#'.
    const range = partitionRangeQuery(indexKeys.mailboxPk(mailbox), indexKeys.forwardSk(messageKey, ''));
    const entries: ForwardEntry[] = [];
    const pages = paginateQuery(
      { client: this.table.doc, pageSize: 200 },
      { TableName: this.table.name, ...range, ConsistentRead: true },
    );
    for await (const page of pages) for (const item of page.Items ?? []) entries.push(forwardFromItem(item));
    return entries;
  }

  async recordFeedback(
    sesMessageId: string,
    state: 'bounced' | 'complained',
    feedback: string,
    now: Date,
  ): Promise<boolean> {
    const { Item } = await this.table.doc.send(
      new GetCommand({ TableName: this.table.name, Key: itemKeys.sentCopy(sesMessageId) }),
    );
    if (!Item) return false;
    await this.table.doc.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: itemKeys.forward(Item as ForwardEntryKey),
        UpdateExpression: 'SET #state = :state, feedback = :feedback, updatedAt = :now',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':state': state,
          ':feedback': feedback.slice(0, 2000),
          ':now': now.toISOString(),
        },
      }),
    );
    return true;
  }
}
