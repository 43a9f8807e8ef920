// `replica backfill` on AWS: starts (or finds) the S3 Batch Replication job shared/retention/backfill.ts
// describes, and reads its progress. The operator's credentials need s3:CreateJob, s3:ListJobs, s3:DescribeJob and
// iam:PassRole on the stack's batch replication role (S3 User Guide, "Granting permissions for Batch Operations").

import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import {
  CreateJobCommand,
  DescribeJobCommand,
  type JobListDescriptor,
  JobStatus,
  ListJobsCommand,
  S3ControlClient,
} from '@aws-sdk/client-s3-control';
import type { ArchiverConfig } from '../../shared/config';
import { asError } from '../../shared/errors';
import {
  type BackfillJobState,
  backfillDescription,
  backfillJobRequest,
  backfillJobState,
  FINISHED_JOB_STATES,
} from '../../shared/retention/backfill';
import { stackOutputs, TargetError } from './aws';

/** The S3 Control client and (for tests) the CloudFormation client the outputs are read with. */
export interface BackfillClients {
  s3control?: S3ControlClient;
  cloudFormation?: CloudFormationClient;
}

/** Every JobStatus S3 Batch Operations has (the SDK's own list; API Reference, ListJobs JobStatuses). */
const ALL_STATES: JobStatus[] = Object.values(JobStatus);

interface Target {
  s3control: S3ControlClient;
  accountId: string;
  bucketName: string;
  roleArn: string;
}

async function target(config: ArchiverConfig, clients: BackfillClients): Promise<Target> {
  const replica = config.archive.replica;
  if (!replica)
    throw new TargetError(
      'archive.replica is not set in the config: there is no replica in a second account to fill (docs/object-lock.md)',
    );
  const outputs = await stackOutputs(config.stackName, clients.cloudFormation);
  const roleArn = outputs.BatchReplicationRoleArn;
  const bucketName = outputs.RawMailBucketName;
  if (!roleArn || !bucketName)
    throw new TargetError(
      `stack ${config.stackName} has no ${roleArn ? 'RawMailBucketName' : 'BatchReplicationRoleArn'} output: deploy it with archive.replica set (npx cdk deploy) before a backfill`,
    );
  return {
    s3control: clients.s3control ?? new S3ControlClient({}),
    accountId: replica.sourceAccount,
    bucketName,
    roleArn,
  };
}

/** The operator's credentials were refused: say which permissions a backfill needs. Anything else is rethrown. */
function refusal(error: unknown, roleArn: string): never {
  const e = asError(error);
  if (e.name === 'AccessDeniedException' || e.name === 'AccessDenied' || /access denied/i.test(e.message))
    throw new TargetError(
      `your AWS credentials may not run S3 Batch Operations jobs (${e.message}): they need s3:CreateJob, s3:ListJobs, s3:DescribeJob and iam:PassRole on ${roleArn}`,
      { cause: e },
    );
  throw e;
}

/** This stack's backfill jobs, newest first (every page of ListJobs, filtered by description). */
async function backfillJobs(t: Target, stackName: string, states: JobStatus[]): Promise<JobListDescriptor[]> {
  const jobs: JobListDescriptor[] = [];
  let NextToken: string | undefined;
  do {
    const page = await t.s3control.send(
      new ListJobsCommand({
        AccountId: t.accountId,
        JobStatuses: states,
        ...(NextToken ? { NextToken } : {}),
      }),
    );
    jobs.push(...(page.Jobs ?? []).filter((j) => j.Description === backfillDescription(stackName)));
    NextToken = page.NextToken;
  } while (NextToken);
  return jobs.sort((a, b) => (b.CreationTime?.getTime() ?? 0) - (a.CreationTime?.getTime() ?? 0));
}

async function describe(t: Target, jobId: string): Promise<BackfillJobState> {
  const { Job } = await t.s3control.send(new DescribeJobCommand({ AccountId: t.accountId, JobId: jobId }));
  return backfillJobState(Job ?? { JobId: jobId }, t.bucketName);
}

/**
 * Starts a backfill, unless one of this stack's is still running: then that one is answered (`started: false`),
 * so running the command twice never starts two jobs. Throws TargetError for a config without a replica, a stack
 * deployed without one, or credentials that may not run Batch Operations jobs.
 */
export async function startBackfill(
  config: ArchiverConfig,
  clients: BackfillClients = {},
): Promise<{ started: boolean; job: BackfillJobState }> {
  const t = await target(config, clients);
  try {
    const running = await backfillJobs(
      t,
      config.stackName,
      ALL_STATES.filter((s) => !FINISHED_JOB_STATES.includes(s)),
    );
    const [current] = running;
    if (current?.JobId) return { started: false, job: await describe(t, current.JobId) };
    const { JobId } = await t.s3control.send(
      new CreateJobCommand(
        backfillJobRequest({
          stackName: config.stackName,
          accountId: t.accountId,
          bucketName: t.bucketName,
          roleArn: t.roleArn,
        }),
      ),
    );
    if (!JobId) throw new Error('S3 Batch Operations answered CreateJob without a job id');
    return { started: true, job: await describe(t, JobId) };
  } catch (error) {
    refusal(error, t.roleArn);
  }
}

/** The newest backfill job of this stack, or undefined when none was ever started. Throws as startBackfill. */
export async function backfillStatus(
  config: ArchiverConfig,
  clients: BackfillClients = {},
): Promise<BackfillJobState | undefined> {
  const t = await target(config, clients);
  try {
    const [newest] = await backfillJobs(t, config.stackName, ALL_STATES);
    return newest?.JobId ? await describe(t, newest.JobId) : undefined;
  } catch (error) {
    refusal(error, t.roleArn);
  }
}
