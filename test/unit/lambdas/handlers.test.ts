// The handlers' mapping of outcomes onto what SQS, SNS and SES do next, on the in-memory index and a directory
// store (no services): a transient send failure throws (SQS retries the request), a permanent one is parked and
// recorded, a record that fails is reported as a batch item failure, a bad boundary event is refused or passed on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context, SQSEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFeedbackHandler } from '../../../lambdas/feedback/handler';
import {
  createForwardHandler,
  type ForwardHandlerDeps,
  handleForwardRequest,
} from '../../../lambdas/forward/handler';
import { createGatekeeperHandler } from '../../../lambdas/gatekeeper/handler';
import { createIngestHandler } from '../../../lambdas/ingest/handler';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { MemoryMailIndex } from '../../../shared/adapters/memory-index';
import { archiveReceivedMail } from '../../../shared/archive/ingest';
import { RetryLaterError, SendError } from '../../../shared/forwarding/errors';
import type { ForwardRequest } from '../../../shared/forwarding/ledger';
import type { MailSender } from '../../../shared/ports';
import { exampleConfig } from '../../support/config';
import { makeMessage } from '../../support/messages';
import { receiveLikeSes } from '../../support/ses';

const config = exampleConfig();
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
let dir: string;
let store: FileRawMailStore;
let index: MemoryMailIndex;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mail-archiver-handlers-'));
  store = new FileRawMailStore(dir);
  index = new MemoryMailIndex();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function archivedForAlice(): Promise<ForwardRequest> {
  const { notification } = await receiveLikeSes(store, 'raw', makeMessage(), {
    recipients: ['alice@example.com'],
  });
  const outcome = await archiveReceivedMail(notification, { config, store, index });
  return { mailbox: 'alice@example.com', messageKey: outcome.messageKey };
}

function forwardDeps(send: MailSender['send']) {
  const parked: { request: ForwardRequest; reason: string }[] = [];
  const deps: ForwardHandlerDeps = {
    config,
    index,
    store,
    sender: { send },
    parking: { park: async (request, reason) => void parked.push({ request, reason }) },
    logger: quiet,
  };
  return { deps, parked };
}

describe('the forward handler', () => {
  it('throws RetryLaterError for a transient failure, so that the queue delivers the request again', async () => {
    const request = await archivedForAlice();
    let calls = 0;
    const { deps, parked } = forwardDeps(async () => {
      calls += 1;
      if (calls === 1) throw new SendError('throttled', false);
      return { messageId: 'ses-1' };
    });
    await expect(handleForwardRequest(request, deps)).rejects.toBeInstanceOf(RetryLaterError);
    const outcomes = await handleForwardRequest(request, deps);
    expect(outcomes.map((o) => o.status)).toEqual(['sent']);
    expect(parked).toEqual([]);
    // Delivered a third time (SQS is at least once): nothing is sent again.
    expect((await handleForwardRequest(request, deps)).map((o) => o.status)).toEqual(['already-handled']);
    expect(calls).toBe(2);
  });

  it('parks a permanent failure and returns (no retry); only a redrive sends it again', async () => {
    const request = await archivedForAlice();
    let fail = true;
    const { deps, parked } = forwardDeps(async () => {
      if (fail) throw new SendError('550 no such user', true);
      return { messageId: 'ses-2' };
    });
    const outcomes = await handleForwardRequest(request, deps);
    expect(outcomes).toMatchObject([{ status: 'failed', permanent: true }]);
    expect(parked.map((p) => p.request)).toEqual([request]);
    fail = false;
    expect((await handleForwardRequest(request, deps)).map((o) => o.status)).toEqual(['already-handled']);
    expect((await handleForwardRequest({ ...request, redrive: true }, deps)).map((o) => o.status)).toEqual([
      'sent',
    ]);
  });
});

describe('the forward handler, a batch', () => {
  it("forwards a batch's records one after the other, so it holds one message at a time", async () => {
    // Each forward holds its message whole several times over (cdk/constructs/lambda-memory.ts): five of SES's
    // largest at once would not fit the function's memory.
    const requests = [await archivedForAlice(), await archivedForAlice(), await archivedForAlice()];
    let inFlight = 0;
    let most = 0;
    const { deps } = forwardDeps(async () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight -= 1;
      return { messageId: `ses-${Math.random()}` };
    });
    const event = {
      Records: requests.map((r, n) => ({
        messageId: `m${n}`,
        body: JSON.stringify(r),
        eventSource: 'aws:sqs',
      })),
    } as SQSEvent;
    const response = await createForwardHandler(deps)(event, {} as Context);
    expect(response.batchItemFailures).toEqual([]);
    expect(most).toBe(1);
  });
});

describe('the ingest handler', () => {
  it('reports a record whose raw object is missing as a batch item failure, and archives the others', async () => {
    const handler = createIngestHandler({ config, store, index, logger: quiet });
    const good = await receiveLikeSes(store, 'raw', makeMessage(), { recipients: ['bob@example.com'] });
    const missing = structuredClone(good.notification);
    missing.mail.messageId = 'missing';
    missing.receipt.action.objectKey = 'incoming/missing';
    const event = {
      Records: [
        { messageId: 'r1', body: JSON.stringify(good.notification), eventSource: 'aws:sqs' },
        { messageId: 'r2', body: JSON.stringify(missing), eventSource: 'aws:sqs' },
      ],
    } as SQSEvent;
    const response = await handler(event, {} as Context);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'r2' }]);
    expect(index.rows.size).toBe(1);
  });
});

describe('boundary events that are not what they claim', () => {
  it('the gatekeeper passes on an event that does not parse (CONTINUE) and logs it', async () => {
    const errors: string[] = [];
    const handler = createGatekeeperHandler({
      config,
      bouncer: { bounce: async () => undefined },
      logger: { info: () => undefined, error: (message: string) => void errors.push(message) } as never,
      metrics: { addMetric: () => undefined, publishStoredMetrics: () => undefined } as never,
    });
    await expect(handler({ Records: [{ ses: { mail: {} } }] })).resolves.toEqual({ disposition: 'CONTINUE' });
    expect(errors).toEqual(['not an SES receipt event: passed on unchecked']);
  });

  it('the feedback handler refuses a malformed SNS event, skips a message that is not an SES event', async () => {
    const warnings: string[] = [];
    const handler = createFeedbackHandler({
      ledger: index,
      logger: { info: () => undefined, warn: (message: string) => void warnings.push(message) } as never,
    });
    await expect(handler({ Records: [{ Sns: {} }] })).rejects.toThrow();
    await handler({
      Records: [
        { Sns: { Message: 'not json' } },
        { Sns: { Message: JSON.stringify({ eventType: 42 }) } },
        { Sns: { Message: JSON.stringify({ eventType: 'Delivery', mail: { messageId: 'x' } }) } },
      ],
    });
    expect(warnings).toEqual([
      'an SNS message that is not JSON: skipped',
      'an SNS message that is not an SES event: skipped',
    ]);
  });
});
