// `mail-archiver sync DIR`: the replica on the user's own disk (shared/replica/), kept current from the archive's
// delivery log, locally or from the deployed stack (read-only: `doctor --target aws` prints the policy). Thin:
// options, the progress bar, the report and its exit status, the watch loop, the ping.
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { releaseIfHeldSync } from '../../shared/adapters/pid-lock';
import type { ArchiverConfig } from '../../shared/config';
import { errorMessage } from '../../shared/errors';
import { canaryAddress } from '../../shared/health/config';
import { checkReplicaDirectory } from '../../shared/replica/directory';
import { forgetReplica, listReplicas, recordReplica } from '../../shared/replica/registry';
import type { SyncReport } from '../../shared/replica/report';
import { replicaPaths } from '../../shared/replica/state';
import { syncReplica } from '../../shared/replica/sync';
import type { CliContext } from '../context';
import { resolveConfigPath } from '../local/data-home';
import { archiverHome } from '../local/running-stack';
import { addCleanup } from '../process/interrupt';
import { normaliseMailbox, parseHttpUrl, parseInterval, parsePositive } from '../process/options';
import { ExitCode, humanBytes, UserError } from '../process/output';
import { progressBar } from '../process/progress-bar';
import { cronLine, systemdUserSessionReachable, timerFiles, timerKindFor } from '../process/timer';
import { watchEvery } from '../process/watch';
import { out } from '../program';
import { knownMailbox } from '../target/mailboxes';
import { replicaUserError } from '../target/replica-errors';
import { s3NotAnswering } from '../target/s3-place';

interface SyncOptions {
  mailbox: string[];
  once?: boolean;
  watch?: number;
  concurrency: number;
  ping?: string;
  installTimer?: boolean;
  every?: number;
  repair?: boolean;
  acceptUnparsed?: boolean;
  forget?: boolean;
}

/** How often an installed timer syncs unless --every says otherwise: 15 minutes. */
const TIMER_EVERY_MS = 15 * 60_000;

const collect = (value: string, previous: string[]) => [...previous, value];
const DEFAULT_CONCURRENCY = 8;

export function registerSync(program: Command, ctx: CliContext): void {
  program
    .command('sync')
    .description(
      'keep a replica of the archive in DIR: one Dovecot-servable maildir per mailbox, the same files export writes',
    )
    .argument(
      '<dir>',
      'the replica directory (created when missing; an existing one must be empty or a replica)',
    )
    .option('--mailbox <address>', 'only this mailbox (repeat for more; default: every mailbox)', collect, [])
    .option('--once', 'one sync, then exit (the default)')
    .option('--watch <interval>', 'sync again every interval (90s, 15m, 1h) until stopped', parseInterval)
    .option('--concurrency <n>', 'objects downloaded at a time', parsePositive, DEFAULT_CONCURRENCY)
    .option(
      '--ping <url>',
      'after each successful sync, GET this URL (a healthchecks.io check, for example)',
      parseHttpUrl,
    )
    .option(
      '--install-timer',
      'sync nothing now: write a systemd user timer (Linux) or a launchd agent (macOS) that runs this sync --once every --every, and print how to turn it on and remove it',
    )
    .option('--every <interval>', 'with --install-timer: how often (1m at least)', parseInterval)
    .option(
      '--repair',
      'also hash every message file of the replica against its record and download again what is missing or changed (a file edited by hand, a bad disk)',
    )
    .option(
      '--accept-unparsed',
      'stop reporting the delivery-log lines that do not parse which earlier runs reported, taking them as lost (reconcile names deliveries missing from the log; reindex logs them again)',
    )
    .option(
      '--forget',
      'sync nothing: stop listing DIR in status and doctor (a replica moved or removed by hand); nothing in it is touched',
    )
    .action(async (dir: string, options: SyncOptions) => {
      if (options.forget) {
        await forget(dir, options, ctx.globals().target);
        return;
      }
      if (options.once && options.watch)
        throw new UserError('--once and --watch exclude each other', { exitCode: ExitCode.usage });
      if (options.every !== undefined && !options.installTimer)
        throw new UserError('--every goes with --install-timer (a sync that stays running takes --watch)', {
          exitCode: ExitCode.usage,
        });
      if (options.repair && (options.watch || options.installTimer))
        throw new UserError(
          `--repair checks the replica once: leave out ${options.watch ? '--watch' : '--install-timer'}`,
          { exitCode: ExitCode.usage },
        );
      if (options.acceptUnparsed && (options.watch || options.installTimer))
        throw new UserError(
          `--accept-unparsed is a decision made once: leave out ${options.watch ? '--watch' : '--install-timer'}`,
          { exitCode: ExitCode.usage },
        );
      const { target, config, configuration } = ctx.globals();
      // A directory that cannot be a replica (one inside a replica, a non-empty other one) is refused before
      // anything starts.
      await checkReplicaDirectory(dir).catch((error: unknown) => {
        throw replicaUserError(error, dir);
      });
      const mailboxes: string[] = [];
      for (const mailbox of options.mailbox.map(normaliseMailbox))
        mailboxes.push(await syncableMailbox(mailbox, configuration, dir));
      const skip = mailboxes.length > 0 ? [] : leftOutByDefault(configuration);
      if (options.installTimer) {
        if (options.watch)
          throw new UserError('--install-timer runs sync --once on a timer: leave out --watch', {
            exitCode: ExitCode.usage,
          });
        await installTimer(dir, mailboxes, options, target, config);
        return;
      }
      // Each run connects anew (a watch's too): a local stack restarted meanwhile listens on other ports, and a
      // watch that kept the first run's endpoints would fail on every run after it. Sync reads only the bucket:
      // without a running stack, a run starts an S3 server alone, never DynamoDB Local's JVM.
      // A watch whose replica vanished (removed, moved, its disk unmounted) does not start a new one there.
      let ranBefore = false;
      const once = () =>
        ctx.withArchiveObjects(async (objects) => {
          const source = {
            log: objects.deliveryLog,
            store: objects.store,
            target,
            transparency: objects.transparency,
          };
          // status and doctor find this replica through the archiver's home (shared/replica/registry.ts), also
          // when its first sync fails (they say no sync has succeeded yet).
          const record = () =>
            recordReplica(archiverHome(), target, dir).catch((error) =>
              out().warn(`could not record ${dir} for status and doctor: ${errorMessage(error)}`),
            );
          let report: SyncReport;
          try {
            report = await runOnce(source, dir, { mailboxes, skip, existing: ranBefore }, options);
            ranBefore = true;
          } catch (error) {
            if (existsSync(replicaPaths(dir).state)) await record();
            const failure =
              s3NotAnswering(
                error,
                objects.s3Place,
                'the replica keeps what it has, and the next sync resumes',
              ) ?? error;
            // --json prints a report for every run, also one that failed as a whole (the line is on stderr too).
            out().jsonLine({ ok: false, dir, error: errorMessage(failure) });
            throw failure;
          }
          await record();
          return report.ok;
        });
      if (!options.watch) {
        if (!(await once())) process.exitCode = ExitCode.failed;
        return;
      }
      process.exitCode = await watchEvery(once, {
        everyMs: options.watch,
        report: (error) => out().error(error),
        notice: (line) => out().notice(line),
      });
    });
}

/**
 * The mailboxes a sync of every mailbox leaves out: the canary's (health.canary.address), whose messages the archive
 * expires after health.canary.keepDays and `export` exports only when named: a replica would keep one per
 * `doctor` or canary run for ever. Named with --mailbox, it is synced like any other; a configured mailbox of that
 * address (possible with the canary off) is real mail and never left out.
 */
export function leftOutByDefault(config: ArchiverConfig): string[] {
  const canary = canaryAddress(config);
  return Object.hasOwn(config.mailboxes, canary) ? [] : [canary];
}

/** `sync --forget DIR`: DIR leaves this machine's list of replicas (status, doctor); nothing in it is touched. */
async function forget(dir: string, options: SyncOptions, target: string): Promise<void> {
  const others = [
    options.mailbox.length > 0 && '--mailbox',
    options.once && '--once',
    options.watch && '--watch',
    options.ping && '--ping',
    options.installTimer && '--install-timer',
    options.every !== undefined && '--every',
    options.repair && '--repair',
    options.acceptUnparsed && '--accept-unparsed',
  ].filter(Boolean);
  if (others.length > 0)
    throw new UserError(`--forget syncs nothing: leave out ${others.join(', ')}`, {
      exitCode: ExitCode.usage,
    });
  const home = archiverHome();
  const absolute = resolve(dir);
  let forgotten: boolean;
  try {
    forgotten = await forgetReplica(home, target, absolute);
  } catch (error) {
    throw new UserError(errorMessage(error), {
      cause: error,
      hint: 'remove that file; the next sync of each replica records it again',
    });
  }
  if (!forgotten) {
    const listed = await listReplicas(home, target);
    throw new UserError(`${absolute} is not in this machine's list of ${target} replicas`, {
      hint: listed.length > 0 ? `listed: ${listed.join(', ')}` : 'no replica is listed',
    });
  }
  out().jsonLine({ forgotten: absolute });
  out().result(
    `${absolute} is no longer listed by status and doctor; nothing in it was touched (a sync of it, or a timer installed for it, lists it again)`,
  );
}

/**
 * The mailbox a `--mailbox` names, as the archive names it (its domain typed in either spelling): a typo would
 * sync nothing, successfully, on every run of a timer. Known without reading the index (a replica machine on AWS
 * may read only S3): the configured mailboxes, the unrouted one, the canary's, and those the replica already holds
 * (one removed from the config keeps its mail). Throws UserError.
 */
async function syncableMailbox(mailbox: string, config: ArchiverConfig, dir: string): Promise<string> {
  const held = await readdir(resolve(dir), { withFileTypes: true }).catch(() => []);
  const inReplica = held.filter((e) => e.isDirectory() && e.name.includes('@')).map((e) => e.name);
  return await knownMailbox(
    mailbox,
    config,
    {
      mailboxes: async () => [...new Set([...inReplica, canaryAddress(config)])],
    },
    'the replica or the canary',
  );
}

/** Writes the timer of this replica (cli/process/timer.ts) and prints how to turn it on and remove it. */
async function installTimer(
  dir: string,
  mailboxes: string[],
  options: SyncOptions,
  target: string,
  configOption: string | undefined,
): Promise<void> {
  const kind = timerKindFor(process.platform);
  if (!kind)
    throw new UserError(`--install-timer writes systemd or launchd timers; ${process.platform} has neither`, {
      hint: 'run sync --once from the system scheduler (Task Scheduler on Windows)',
    });
  const everyMs = options.every ?? TIMER_EVERY_MS;
  if (everyMs < 60_000) throw new UserError('--every must be 1m or more', { exitCode: ExitCode.usage });
  const absolute = resolve(dir);
  try {
    await checkReplicaDirectory(absolute);
  } catch (error) {
    throw replicaUserError(error, absolute);
  }
  // The timer runs without this shell: the same node, the same CLI, the same data home and config, by absolute path.
  const env: Record<string, string> = {
    MAIL_ARCHIVER_HOME: archiverHome(),
    MAIL_ARCHIVER_CONFIG: resolve(resolveConfigPath(configOption).path),
  };
  if (target === 'aws')
    for (const name of [
      'AWS_PROFILE',
      'AWS_REGION',
      'AWS_DEFAULT_REGION',
      'AWS_CONFIG_FILE',
      'AWS_SHARED_CREDENTIALS_FILE',
    ])
      if (process.env[name]) env[name] = process.env[name] as string;
  const command = [
    process.execPath,
    realpathSync(process.argv[1] as string),
    ...(target === 'aws' ? ['--target', 'aws'] : []),
    'sync',
    absolute,
    '--once',
    ...mailboxes.flatMap((m) => ['--mailbox', m]),
    ...(options.concurrency !== DEFAULT_CONCURRENCY ? ['--concurrency', String(options.concurrency)] : []),
    ...(options.ping ? ['--ping', options.ping] : []),
  ];
  const timer = timerFiles(kind, { dir: absolute, command, env, everyMs, userHome: homedir() });
  for (const file of timer.files) {
    await mkdir(dirname(file.path), { recursive: true });
    await writeFile(file.path, file.content, { mode: 0o644 });
  }
  // doctor watches the replica from now on: a timer that never runs shows as "no sync has succeeded yet".
  await recordReplica(env.MAIL_ARCHIVER_HOME as string, target, absolute);
  const output = out();
  output.jsonLine({
    kind,
    name: timer.name,
    files: timer.files.map((f) => f.path),
    enable: timer.enable,
    remove: timer.remove,
  });
  output.result(
    `wrote a ${kind === 'systemd' ? 'systemd user timer' : 'launchd agent'} that syncs ${absolute} every ${Math.round(everyMs / 60_000)} min:`,
  );
  for (const file of timer.files) output.result(`  ${file.path}`);
  output.result('turn it on:');
  for (const line of timer.enable) output.result(`  ${line}`);
  output.result('remove it:');
  for (const line of timer.remove) output.result(`  ${line}`);
  if (kind === 'systemd' && !systemdUserSessionReachable(process.env)) {
    // A container, su/sudo without a login, a machine without systemd: the printed commands cannot work here.
    const cron = cronLine({ command, env, everyMs });
    output.warn(
      `no systemd user session is reachable from here (${process.env.XDG_RUNTIME_DIR ? `nothing listens in ${process.env.XDG_RUNTIME_DIR}/systemd/` : 'XDG_RUNTIME_DIR is not set'}): the systemctl --user commands above fail here with "Failed to connect to bus". Turn the timer on from a login session of this user (ssh or a console login), or run the sync from cron instead${cron ? ` (crontab -e):\n  ${cron}` : `, or keep sync ${absolute} --watch running under a supervisor`}`,
    );
  }
}

async function runOnce(
  source: Parameters<typeof syncReplica>[0],
  dir: string,
  chosen: { mailboxes: string[]; skip: string[]; existing: boolean },
  options: SyncOptions,
): Promise<SyncReport> {
  const output = out();
  const bar = await progressBar(output, 'syncing [{bar}] {percentage}% | {counts}');
  bar?.update(0, 1, { counts: '' });
  const started = Date.now();
  let report: SyncReport;
  // Ctrl-C or SIGTERM mid-run frees the replica's lock on the way out: the same host would take a dead holder's
  // lock over, but another host sharing the directory (a NAS) cannot tell, and would be refused.
  const forgetLock = addCleanup(() => releaseIfHeldSync(replicaPaths(dir).lock));
  try {
    report = await syncReplica(source, {
      dir,
      ...chosen,
      concurrency: options.concurrency,
      repair: options.repair ?? false,
      acceptUnparsed: options.acceptUnparsed ?? false,
      onProgress: ({ done, seen, bytes }) => {
        if (!bar) return;
        const seconds = (Date.now() - started) / 1000;
        const rate = done / Math.max(seconds, 0.001);
        const left = rate > 0 ? Math.round((seen - done) / rate) : 0;
        bar.update(done, seen, {
          counts: `${done}/${seen} messages, ${humanBytes(bytes)}, ${rate.toFixed(0)}/s, ${left} s left`,
        });
      },
      onProblem: (problem) => output.warn(problem.message),
      onNotice: (notice) => output.warn(notice.message),
    });
  } catch (error) {
    bar?.stop();
    throw replicaUserError(error, dir);
  } finally {
    forgetLock();
  }
  bar?.stop();
  output.jsonLine(report);
  const seconds = ((Date.parse(report.endedAt) - Date.parse(report.startedAt)) / 1000).toFixed(1);
  output.result(
    `${report.ok ? 'synced' : 'synced with problems'} ${dir}: ${report.added} new message${report.added === 1 ? '' : 's'}${report.restored ? `, restored ${report.restored}` : ''} (${humanBytes(report.bytes)}) in ${seconds} s${report.present ? `, ${report.present} already there` : ''}${report.problems.length ? `, ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} (above)` : ''}${report.pending ? `, ${report.pending} to try again` : ''}`,
  );
  if (options.repair)
    output.info(
      `  --repair: every message file checked against its record: ${report.present} as recorded, ${report.restored} restored (missing or changed), ${report.added} new`,
    );
  if (report.leaves)
    output.info(
      `  ${report.leaves} records read from the transparency log's entry bundles (up to its latest seal), the rest from the delivery log`,
    );
  const log = report.transparency;
  if (log?.state === 'grew')
    output.info(
      `  the transparency log's checkpoint of ${log.size} deliveries copied and checked against the ${log.from} this replica held before`,
    );
  if (report.tookOverFrom)
    output.info(
      Number.isInteger(report.tookOverFrom.pid) && report.tookOverFrom.pid > 0
        ? `  (took over the lock of process ${report.tookOverFrom.pid}, which is gone)`
        : '  (took over a lock file that named no process)',
    );
  if (report.ok && options.ping) await ping(options.ping);
  return report;
}

/** GET `url` (the healthchecks convention: a ping after each successful run); a failure is a warning only. */
async function ping(url: string): Promise<void> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) out().warn(`--ping ${url} answered ${response.status}`);
  } catch (error) {
    out().warn(`--ping ${url} failed: ${errorMessage(error)}`);
  }
}
