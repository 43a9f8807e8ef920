// The rule set activation custom resource (issue 10, fault 2): activates on create and update, deactivates on
// delete only while the active set is still the stack's own. SES is mocked (aws-sdk-client-mock: the commands
// sent are what matters); the CloudFormation response goes to a real HTTP server on loopback.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DescribeActiveReceiptRuleSetCommand,
  SESClient,
  SetActiveReceiptRuleSetCommand,
} from '@aws-sdk/client-ses';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createActivationHandler,
  physicalIdFor,
  respondToCloudFormation,
} from '../../../lambdas/rule-set-activation/handler';
import { SesActiveRuleSet } from '../../../shared/adapters/ses-rule-sets';

const ses = mockClient(SESClient);
let server: Server;
let responses: { method: string; headers: IncomingMessage['headers']; body: Record<string, unknown> }[];
let responseUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => {
      text += chunk;
    });
    req.on('end', () => {
      responses.push({ method: req.method ?? '', headers: req.headers, body: JSON.parse(text) });
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  responseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/response?signature=x`;
});
afterAll(() => server.close());
beforeEach(() => {
  ses.reset();
  responses = [];
});

const logger = { info: () => {}, error: () => {} };
const handler = createActivationHandler({
  ruleSets: new SesActiveRuleSet(new SESClient({ region: 'us-east-1' })),
  respond: respondToCloudFormation,
  logger,
});

function event(
  requestType: 'Create' | 'Update' | 'Delete',
  ruleSetName: string,
  oldRuleSetName?: string,
): CloudFormationCustomResourceEvent {
  const common = {
    ServiceToken: 'arn:aws:lambda:us-east-1:111111111111:function:activation',
    ResponseURL: responseUrl,
    StackId: 'arn:aws:cloudformation:us-east-1:111111111111:stack/MailArchiver/guid',
    RequestId: 'request-1',
    LogicalResourceId: 'RuleSetActivation',
    ResourceType: 'Custom::ReceiptRuleSetActivation',
    ResourceProperties: { ServiceToken: 'x', RuleSetName: ruleSetName },
  };
  if (requestType === 'Create') return { ...common, RequestType: 'Create' };
  if (requestType === 'Delete') {
    return { ...common, RequestType: 'Delete', PhysicalResourceId: physicalIdFor(ruleSetName) };
  }
  return {
    ...common,
    RequestType: 'Update',
    PhysicalResourceId: physicalIdFor(oldRuleSetName ?? ruleSetName),
    OldResourceProperties: { ServiceToken: 'x', RuleSetName: oldRuleSetName ?? ruleSetName },
  };
}

const activeIs = (name: string | undefined) =>
  ses
    .on(DescribeActiveReceiptRuleSetCommand)
    .resolves(name ? { Metadata: { Name: name, CreatedTimestamp: new Date() }, Rules: [] } : {});
const setCalls = () => ses.commandCalls(SetActiveReceiptRuleSetCommand).map((c) => c.args[0].input);

describe('the receipt rule set activation', () => {
  it("activates the stack's rule set on create, replacing the one active before, and tells CloudFormation", async () => {
    activeIs('someone-elses');
    ses.on(SetActiveReceiptRuleSetCommand).resolves({});
    await handler(event('Create', 'mail-archiver'));
    expect(setCalls()).toEqual([{ RuleSetName: 'mail-archiver' }]);
    expect(responses).toHaveLength(1);
    expect(responses[0]?.method).toBe('PUT');
    expect(responses[0]?.headers['content-type']).toBe('');
    expect(responses[0]?.body).toMatchObject({
      Status: 'SUCCESS',
      PhysicalResourceId: 'active-receipt-rule-set:mail-archiver',
      RequestId: 'request-1',
      LogicalResourceId: 'RuleSetActivation',
      Data: { Outcome: 'activated', PreviouslyActive: 'someone-elses' },
    });
  });

  it('on a rename activates the new set, and the delete of the old activation leaves the new set active', async () => {
    activeIs('old-name');
    ses.on(SetActiveReceiptRuleSetCommand).resolves({});
    await handler(event('Update', 'new-name', 'old-name'));
    expect(setCalls()).toEqual([{ RuleSetName: 'new-name' }]);
    expect(responses[0]?.body.PhysicalResourceId).toBe('active-receipt-rule-set:new-name');
    // CloudFormation then deletes the old physical resource, with the old properties.
    ses.reset();
    activeIs('new-name');
    await handler(event('Delete', 'old-name'));
    expect(setCalls()).toEqual([]);
    expect(responses[1]?.body).toMatchObject({ Status: 'SUCCESS', Data: { Outcome: 'left' } });
  });

  it("on delete deactivates the stack's own set while it is active", async () => {
    activeIs('mail-archiver');
    ses.on(SetActiveReceiptRuleSetCommand).resolves({});
    await handler(event('Delete', 'mail-archiver'));
    expect(setCalls()).toEqual([{}]);
    expect(responses[0]?.body).toMatchObject({ Status: 'SUCCESS', Data: { Outcome: 'deactivated' } });
  });

  it('on delete leaves a set someone else activated, and no active set at all, alone', async () => {
    activeIs('someone-elses');
    await handler(event('Delete', 'mail-archiver'));
    activeIs(undefined);
    await handler(event('Delete', 'mail-archiver'));
    expect(setCalls()).toEqual([]);
    expect(responses.map((r) => r.body.Status)).toEqual(['SUCCESS', 'SUCCESS']);
  });

  it('reports an SES error to CloudFormation as FAILED with the reason, instead of leaving it waiting', async () => {
    activeIs(undefined);
    ses
      .on(SetActiveReceiptRuleSetCommand)
      .rejects(Object.assign(new Error('Rule set does not exist: x'), { name: 'RuleSetDoesNotExist' }));
    await handler(event('Create', 'x'));
    expect(responses[0]?.body).toMatchObject({
      Status: 'FAILED',
      Reason: 'RuleSetDoesNotExist: Rule set does not exist: x',
      PhysicalResourceId: 'RuleSetActivation-not-created',
    });
  });
});
