// `replica backfill` against a stand-in of S3 Control that follows its published REST API (Amazon S3 API
// Reference: CreateJob, ListJobs, DescribeJob): the real SDK client serialises each request, so the test reads
// the XML S3 would receive (an SDK that dropped a field we set would fail it), and answers with the documented
// response shapes. No AWS account can be used here; CloudFormation's outputs come from aws-sdk-client-mock.
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { S3ControlClient } from '@aws-sdk/client-s3-control';
import type { HttpRequest } from '@smithy/types';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { backfillStatus, startBackfill } from '../../../cli/target/backfill';
import { backfillDescription } from '../../../shared/retention/backfill';
import { runCli } from '../../support/cli';
import { exampleConfig } from '../../support/config';

const STACK = 'MailArchiver';
const ACCOUNT = '111111111111';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/MailArchiver-ReplicationBackfillRole-ABC`;
const BUCKET = 'mailarchiver-rawmail-xyz';
const config = exampleConfig({
  stackName: STACK,
  archive: { replica: { account: '222222222222', region: 'eu-west-1', sourceAccount: ACCOUNT } },
});

interface Job {
  JobId: string;
  Description: string;
  Status: string;
  CreationTime: string;
  Total?: number;
  Succeeded?: number;
  Failed?: number;
}

/** S3 Control as its API Reference describes it, for the three calls a backfill makes. */
class S3ControlStandIn {
  jobs: Job[] = [];
  requests: { method: string; path: string; host: string; account?: string; body: string }[] = [];
  deny = false;
  pageSize = 2;

  handler = {
    handle: async (request: HttpRequest) => {
      const body = typeof request.body === 'string' ? request.body : '';
      this.requests.push({
        method: request.method,
        path: request.path,
        host: request.hostname,
        account: request.headers['x-amz-account-id'],
        body,
      });
      if (this.deny)
        return this.answer(
          403,
          '<ErrorResponse><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error></ErrorResponse>',
        );
      if (request.method === 'POST' && request.path === '/v20180820/jobs') {
        const job: Job = {
          JobId: `job-${this.jobs.length + 1}`,
          Description: /<Description>([^<]*)<\/Description>/.exec(body)?.[1] ?? '',
          Status: 'New',
          CreationTime: new Date(Date.UTC(2026, 11, 6, 12, this.jobs.length)).toISOString(),
        };
        this.jobs.push(job);
        return this.answer(200, `<CreateJobResult><JobId>${job.JobId}</JobId></CreateJobResult>`);
      }
      if (request.method === 'GET' && request.path === '/v20180820/jobs') {
        const wanted = [request.query?.jobStatuses ?? []].flat();
        const matching = this.jobs.filter((j) => wanted.length === 0 || wanted.includes(j.Status));
        const start = Number(request.query?.nextToken ?? 0);
        const page = matching.slice(start, start + this.pageSize);
        const next =
          start + this.pageSize < matching.length ? `<NextToken>${start + this.pageSize}</NextToken>` : '';
        return this.answer(
          200,
          `<ListJobsResult><Jobs>${page
            .map(
              (j) =>
                `<member><JobId>${j.JobId}</JobId><Description>${j.Description}</Description><Status>${j.Status}</Status><CreationTime>${j.CreationTime}</CreationTime></member>`,
            )
            .join('')}</Jobs>${next}</ListJobsResult>`,
        );
      }
      const id = /^\/v20180820\/jobs\/([^/]+)$/.exec(request.path)?.[1];
      const job = this.jobs.find((j) => j.JobId === id);
      if (request.method === 'GET' && job) {
        const progress =
          job.Total === undefined
            ? ''
            : `<ProgressSummary><TotalNumberOfTasks>${job.Total}</TotalNumberOfTasks><NumberOfTasksSucceeded>${job.Succeeded ?? 0}</NumberOfTasksSucceeded><NumberOfTasksFailed>${job.Failed ?? 0}</NumberOfTasksFailed></ProgressSummary>`;
        return this.answer(
          200,
          `<DescribeJobResult><Job><JobId>${job.JobId}</JobId><Description>${job.Description}</Description><Status>${job.Status}</Status><CreationTime>${job.CreationTime}</CreationTime>${progress}</Job></DescribeJobResult>`,
        );
      }
      return this.answer(404, '<ErrorResponse><Error><Code>NoSuchJob</Code></Error></ErrorResponse>');
    },
  };

  private answer(statusCode: number, xml: string) {
    return {
      // The HttpResponse shape (@smithy/types): what the SDK's deserialisers read.
      response: {
        statusCode,
        headers: { 'content-type': 'application/xml' },
        body: Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`),
      },
    };
  }
}

let s3: S3ControlStandIn;
let clients: { s3control: S3ControlClient; cloudFormation: CloudFormationClient };

function withOutputs(outputs: Record<string, string>) {
  const cloudFormation = new CloudFormationClient({ region: 'eu-west-1' });
  mockClient(cloudFormation)
    .on(DescribeStacksCommand)
    .resolves({
      Stacks: [
        {
          StackName: STACK,
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
        },
      ],
    });
  return cloudFormation;
}

beforeEach(() => {
  s3 = new S3ControlStandIn();
  clients = {
    s3control: new S3ControlClient({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      requestHandler: s3.handler,
      maxAttempts: 1,
    }),
    cloudFormation: withOutputs({ BatchReplicationRoleArn: ROLE, RawMailBucketName: BUCKET }),
  };
});

describe('replica backfill', () => {
  it('creates one S3 Batch Replication job over a generated manifest of never-replicated and failed versions', async () => {
    const { started, job } = await startBackfill(config, clients);
    expect(started).toBe(true);
    expect(job).toMatchObject({ jobId: 'job-1', status: 'New', finished: false, replicated: 0, failed: 0 });
    expect(job.versions).toBeUndefined();
    expect(job.report).toBe(`s3://${BUCKET}/reports/batch-replication/job-job-1/`);
    const create = s3.requests.find((r) => r.method === 'POST');
    expect(create).toBeDefined();
    // S3 Control is addressed by account: the host and the x-amz-account-id header (API Reference, CreateJob).
    expect(create?.host).toBe(`${ACCOUNT}.s3-control.eu-west-1.amazonaws.com`);
    expect(create?.account).toBe(ACCOUNT);
    const xml = (create?.body ?? '').replace(/\s+xmlns="[^"]*"/g, '');
    for (const element of [
      '<ConfirmationRequired>false</ConfirmationRequired>',
      '<Operation><S3ReplicateObject/></Operation>',
      `<RoleArn>${ROLE}</RoleArn>`,
      `<Description>${backfillDescription(STACK)}</Description>`,
      `<SourceBucket>arn:aws:s3:::${BUCKET}</SourceBucket>`,
      `<ExpectedBucketOwner>${ACCOUNT}</ExpectedBucketOwner>`,
      '<EnableManifestOutput>false</EnableManifestOutput>',
      '<EligibleForReplication>true</EligibleForReplication>',
      '<ObjectReplicationStatuses><member>NONE</member><member>FAILED</member></ObjectReplicationStatuses>',
      `<Report><Enabled>true</Enabled><Bucket>arn:aws:s3:::${BUCKET}</Bucket><Format>Report_CSV_20180820</Format><Prefix>reports/batch-replication</Prefix><ReportScope>AllTasks</ReportScope></Report>`,
    ])
      expect(xml).toContain(element);
    // The SDK fills the idempotency token, so a retried CreateJob is one job.
    expect(xml).toMatch(/<ClientRequestToken>[0-9a-f-]{36}<\/ClientRequestToken>/);
  });

  it('never starts a second job while one of this stack is unfinished; other jobs of the account are not its', async () => {
    s3.jobs.push(
      { JobId: 'other', Description: 'a copy job', Status: 'Active', CreationTime: '2026-12-01T00:00:00Z' },
      {
        JobId: 'old',
        Description: backfillDescription(STACK),
        Status: 'Complete',
        CreationTime: '2026-11-01T00:00:00Z',
      },
      {
        JobId: 'running',
        Description: backfillDescription(STACK),
        Status: 'Active',
        CreationTime: '2026-12-02T00:00:00Z',
        Total: 1200,
        Succeeded: 700,
        Failed: 3,
      },
    );
    const { started, job } = await startBackfill(config, clients);
    expect(started).toBe(false);
    expect(job).toMatchObject({ jobId: 'running', versions: 1200, replicated: 700, failed: 3 });
    expect(s3.requests.filter((r) => r.method === 'POST')).toEqual([]);
    // Once that one is done, a new run starts a new job.
    (s3.jobs[2] as Job).Status = 'Complete';
    expect((await startBackfill(config, clients)).started).toBe(true);
  });

  it('--status reads the newest job of this stack across every page of ListJobs', async () => {
    expect(await backfillStatus(config, clients)).toBeUndefined();
    for (let i = 0; i < 5; i++)
      s3.jobs.push({
        JobId: `j${i}`,
        Description: i === 4 ? 'somebody else' : backfillDescription(STACK),
        Status: i === 3 ? 'Failed' : 'Complete',
        CreationTime: new Date(Date.UTC(2026, 10, 1 + i)).toISOString(),
        Total: 10,
        Succeeded: i === 3 ? 4 : 10,
      });
    s3.requests = [];
    const state = await backfillStatus(config, clients);
    expect(state).toMatchObject({
      jobId: 'j3',
      status: 'Failed',
      finished: true,
      versions: 10,
      replicated: 4,
    });
    expect(s3.requests.filter((r) => r.path === '/v20180820/jobs').length).toBe(3);
  });

  it('says what is missing: no replica in the config, a stack deployed without one, credentials refused', async () => {
    await expect(startBackfill(exampleConfig({ stackName: STACK }), clients)).rejects.toThrow(
      'archive.replica is not set in the config',
    );
    await expect(
      startBackfill(config, { ...clients, cloudFormation: withOutputs({ RawMailBucketName: BUCKET }) }),
    ).rejects.toThrow(`stack ${STACK} has no BatchReplicationRoleArn output`);
    s3.deny = true;
    await expect(startBackfill(config, clients)).rejects.toThrow(
      `need s3:CreateJob, s3:ListJobs, s3:DescribeJob and iam:PassRole on ${ROLE}`,
    );
    await expect(startBackfill(config, clients)).rejects.toMatchObject({ name: 'TargetError' });
  });

  it('refuses the local stack in one line, with no stack trace', async () => {
    const home = `/tmp/backfill-${process.pid}`;
    const run = await runCli(['replica', 'backfill'], { home });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('replica backfill works on the deployed stack only');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});
