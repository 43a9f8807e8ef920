// After an index loss the forwarding ledger is gone with it: reconcile reports "never forwarded" for mail that
// was, and can only become consistent once the operator accepts that state.
import { DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import {
  ACCEPTED_UNFORWARDED_REASON,
  acceptUnforwarded,
  reconcile,
  reindex,
} from '../../shared/archive/reconcile';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

const config = exampleConfig();
let services: TestServices;
beforeAll(async () => {
  services = await startTestServices();
});
afterAll(async () => services?.stop());

describe('reconcile after an index loss (DynamoDB Local, s3rver)', () => {
  it('reports the lost ledger as never forwarded until accepted, then is consistent', async () => {
    const deps = { config, store: services.store, index: services.index, bucket: services.bucket };
    const { notification } = await receiveLikeSes(services.store, services.bucket, makeMessage(), {
      recipients: ['alice@example.com'],
    });
    const outcome = await archiveReceivedMail(notification, deps);
    // The whole table is lost: rows, folders, and the ledger that lived beside them.
    const { Items } = await services.clients.dynamodb.send(
      new ScanCommand({ TableName: services.tableName }),
    );
    for (const item of Items ?? [])
      await services.clients.dynamodb.send(
        new DeleteItemCommand({
          TableName: services.tableName,
          Key: { pk: item.pk as never, sk: item.sk as never },
        }),
      );
    expect((await reindex(deps, async () => [])).restored).toBe(1);

    const lost = await reconcile(deps);
    expect(lost.ok).toBe(false);
    expect(lost.ledgerEntries).toBe(0);
    expect(lost.notForwarded).toEqual([
      { mailbox: 'alice@example.com', messageKey: outcome.messageKey, target: 'alice.example@gmail.com' },
    ]);

    expect(await acceptUnforwarded(deps, lost.notForwarded)).toBe(1);
    const accepted = await reconcile(deps);
    expect(accepted.ok).toBe(true);
    const ledger = [];
    for await (const entry of services.index.listForwards('alice@example.com')) ledger.push(entry);
    expect(ledger).toMatchObject([{ state: 'skipped', reason: ACCEPTED_UNFORWARDED_REASON }]);
  });
});

describe('reconcile and a forward target spelled again', () => {
  it('takes a target respelled in the other form of its domain for the one the ledger names (review-30c 2)', async () => {
    const written = exampleConfig({
      mailboxes: { 'alice@example.com': { forwardTo: ['x@müller.example'] } },
    });
    const deps = { config: written, store: services.store, index: services.index, bucket: services.bucket };
    const { notification } = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'respelled' }),
      { recipients: ['alice@example.com'] },
    );
    const { messageKey } = await archiveReceivedMail(notification, deps);
    const entry = { mailbox: 'alice@example.com', messageKey, target: 'x@müller.example' };
    const now = new Date();
    await services.index.claimForward(entry, now, false);
    await services.index.settleForward(entry, { state: 'sent', sesMessageId: 'copy-respelled' }, now);
    const respelled = exampleConfig({
      mailboxes: { 'alice@example.com': { forwardTo: ['x@xn--mller-kva.example'] } },
    });
    const report = await reconcile({ ...deps, config: respelled });
    expect(report.notForwarded.filter((f) => f.messageKey === messageKey)).toEqual([]);
  });
});
