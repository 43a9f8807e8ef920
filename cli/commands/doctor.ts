// `mail-archiver doctor`: the preflight before and after `cdk deploy` (cli/doctor/checks/checks.ts has the checks).
import { Resolver } from 'node:dns/promises';
import type { Command } from 'commander';
import type { CliContext } from '../context';
import {
  awsDoctorDeps,
  formatChecks,
  readReconcileRecord,
  runAwsChecks,
  runLocalChecks,
} from '../doctor/checks';
import { archiverHome, readRunningStack } from '../local/running-stack';
import { out } from '../program';
import { localHealth } from '../target/health';

export function registerDoctor(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description(
      'check the setup: SES receiving, the active rule set, sandbox and quota, identities, MX and DKIM records, the alarm subscription, reputation, dead letters, the last reconcile',
    )
    .action(async () => {
      const { target, configuration } = ctx.globals();
      const home = archiverHome();
      const lastReconcile = readReconcileRecord(home, target);
      const checks =
        target === 'aws'
          ? await runAwsChecks(await awsDoctorDeps(configuration, new Resolver(), lastReconcile))
          : await runLocalChecks({
              config: configuration,
              running: readRunningStack(home),
              lastReconcile,
              deadLetters: (({ ingestDeadLetters, parkedForwards, unreadableDeadLetters }) => ({
                ingest: ingestDeadLetters,
                parkedForwards,
                unreadable: unreadableDeadLetters ?? [],
              }))(localHealth(home)),
            });
      const failed = checks.some((c) => c.status === 'fail');
      // --json is global (cli/program.ts): one JSON document instead of the lines.
      if (out().json) process.stdout.write(`${JSON.stringify({ target, ok: !failed, checks })}\n`);
      else for (const line of formatChecks(checks)) console.log(line);
      if (failed) process.exitCode = 1;
    });
}
