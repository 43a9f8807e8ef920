// `mail-archiver doctor`: the preflight before and after `cdk deploy` (cli/doctor/ has the checks, by name).
import { Resolver } from 'node:dns/promises';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { awsDoctorDeps, runAwsDoctor } from '../doctor/aws-checks';
import { localCanaryRoundTrip } from '../doctor/canary';
import { formatChecks, type NamedCheck, runChecks } from '../doctor/check';
import { runLocalChecks } from '../doctor/local-checks';
import { type LockModeRun, lockMode } from '../doctor/lock-mode';
import { type ReplicaRun, replica } from '../doctor/replica';
import { replicaPolicyForStack, type SyncReplicasRun, syncReplicas } from '../doctor/sync-replicas';
import { awsTransparencyKey, localTransparencyKey } from '../doctor/transparency-key';
import { transparencyLog } from '../doctor/transparency-log';
import { archiverHome, readRunningStack } from '../local/running-stack';
import { out } from '../program';
import { type ArchiveHealth, healthLines, healthView, localHealth } from '../target/health';
import { readReconcileRecord } from '../target/reconcile-record';

/** The checks of either target that need no AWS client of their own beyond S3 (cli/doctor/check.ts). */
const BOTH_TARGETS: readonly NamedCheck<LockModeRun & ReplicaRun & SyncReplicasRun>[] = [
  lockMode,
  replica,
  syncReplicas,
];

export function registerDoctor(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description(
      'check the setup: SES receiving, the active rule set, sandbox and quota, identities, MX and DKIM records, the alarm subscription, reputation, when mail was last received, dead letters, the last reconcile, the last canary round trip and the alarms firing (aws), then the health view status shows, the lock mode against what the archive already locks, the age of the replicas this machine keeps (sync), the head of the transparency log (signed, its tiles and newest entries hashing to its root) and prints its public key; locally, a canary round trip through the running stack; with --target aws, prints the read-only policy of a replica machine',
    )
    .action(async () => {
      const { target, configuration } = ctx.globals();
      const home = archiverHome();
      const lastReconcile = readReconcileRecord(home, target);
      const awsDeps =
        target === 'aws'
          ? await awsDoctorDeps(configuration, new Resolver(), lastReconcile, home)
          : undefined;
      const running = target === 'aws' ? undefined : readRunningStack(home);
      // The health view status shows (cli/target/health.ts): on AWS read with the checks' clients; locally from
      // the running stack's services (without one, from the data directory alone: no services are started).
      let health: ArchiveHealth | undefined;
      const checks = awsDeps
        ? await runAwsDoctor(awsDeps).then((report) => {
            health = report.health;
            return report.checks;
          })
        : await runLocalChecks({
            config: configuration,
            running,
            lastReconcile,
            ...(running?.smtp && configuration.health.canary.enabled
              ? {
                  canary: () => {
                    const smtp = running.smtp as { host: string; port: number };
                    return ctx.withArchive((archive, config) => localCanaryRoundTrip(config, archive, smtp));
                  },
                }
              : {}),
            deadLetters: (({ ingestDeadLetters, parkedForwards, unreadableDeadLetters }) => ({
              ingest: ingestDeadLetters,
              parkedForwards,
              unreadable: unreadableDeadLetters ?? [],
            }))(localHealth(home)),
            health: async () => {
              health = running
                ? await ctx.withArchive((archive, config) => healthView(config, archive, home))
                : localHealth(home);
              return health;
            },
          });
      const s3 = awsDeps ? new S3Client({}) : undefined;
      const run: LockModeRun & ReplicaRun & SyncReplicasRun = {
        config: configuration,
        where: awsDeps ? { aws: awsDeps.outputs } : { local: running },
        ...(s3 ? { s3, bucket: awsDeps?.outputs?.RawMailBucketName } : {}),
        home,
        target,
      };
      checks.push(
        ...(await runChecks(BOTH_TARGETS, run, 'run doctor again; if it fails again, run it with --verbose')),
      );
      s3?.destroy();
      const kms = awsDeps ? new KMSClient({}) : undefined;
      const transparency = kms
        ? await awsTransparencyKey(kms, awsDeps?.outputs?.TransparencySigningKeyArn, configuration)
        : await localTransparencyKey(home, configuration);
      kms?.destroy();
      checks.push(transparency.check);
      const logCheck = await transparencyLog(transparency.key, run.where);
      if (logCheck) checks.push(logCheck);
      const policy = awsDeps
        ? replicaPolicyForStack(configuration.stackName, awsDeps.region, awsDeps.outputs)
        : undefined;
      const failed = checks.some((c) => c.status === 'fail');
      // --json is global (cli/program.ts): one JSON document instead of the lines.
      if (out().json)
        process.stdout.write(
          `${JSON.stringify({
            target,
            ok: !failed,
            checks,
            ...(health ? { health } : {}),
            ...(transparency.key ? { transparencyKey: transparency.key } : {}),
            ...(policy ? { replicaReadPolicy: policy } : {}),
          })}\n`,
        );
      else {
        for (const line of formatChecks(checks)) console.log(line);
        if (health) {
          console.log('');
          console.log('health (as mail-archiver status shows it):');
          for (const line of healthLines(health)) console.log(`  ${line}`);
        }
        if (transparency.key) {
          console.log('');
          console.log(
            "The transparency log's public key: keep it outside the archive as key.pub, for verify --key (docs/transparency.md):",
          );
          console.log(transparency.key);
        }
        if (policy) {
          console.log('');
          console.log(
            'A replica machine (mail-archiver sync --target aws) needs only this read-only policy (docs/replica.md):',
          );
          console.log(JSON.stringify(policy, null, 2));
        }
      }
      if (failed) process.exitCode = 1;
    });
}
