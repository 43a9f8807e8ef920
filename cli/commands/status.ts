// `mail-archiver status`: what runs, where the data is, and the messages per mailbox and folder.
import type { Command } from 'commander';
import type { DeliveryLog } from '../../shared/delivery-log/log';
import type { IndexReads } from '../../shared/ports';
import {
  listReplicas,
  type ReplicaBehind,
  type ReplicaStanding,
  replicaBehind,
  replicaStanding,
} from '../../shared/replica/registry';
import type { CliContext } from '../context';
import { age } from '../doctor/sync-replicas';
import { DATA_SIZE_ENTRIES, dataHomeSize, describeDataHome, resolveDataHome } from '../local/data-home';
import { readRunningStack } from '../local/running-stack';
import { describeError, rootCause } from '../process/describe-error';
import { formatTable, humanBytes, indexReadDetail, UserError } from '../process/output';
import { out } from '../program';
import { healthLines, healthView, localHealth, withAwsHealthSources } from '../target/health';

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('what is running, where the data is, and message counts per mailbox and folder')
    .action(async () => {
      const output = out();
      const { target, configuration } = ctx.globals();
      const dataHome = resolveDataHome();
      const home = dataHome.path;
      const running = target === 'local' ? readRunningStack(home) : undefined;
      const dataSize = target === 'local' ? dataHomeSize(home) : undefined;
      if (target === 'local') {
        output.result(
          running
            ? `local stack: running (pid ${running.pid}, since ${running.startedAt})\n  SMTP      smtp://${running.smtp?.host}:${running.smtp?.port}\n  S3        ${running.endpoints.s3}\n  DynamoDB  ${running.endpoints.dynamodb}${running.smarthost ? `\n  forwards  smtp://${running.smarthost.host}:${running.smarthost.port}` : ''}`
            : 'local stack: not running (npm start runs it); services started for this command',
        );
        output.result(`data: ${describeDataHome(dataHome)}, ${describeDataSize(home, dataSize)}`);
      } else {
        output.result(`target: AWS stack ${configuration.stackName}`);
      }
      const reads: IndexReads = { read: 0, returned: 0 };
      const countFolders = () =>
        ctx.withArchive(async (archive, config) => {
          const mailboxes = new Set([
            ...Object.keys(config.mailboxes),
            ...(await archive.index.mailboxes(reads)),
          ]);
          const rows: { mailbox: string; folder?: string; messages: number; uidValidity?: number }[] = [];
          for (const mailbox of [...mailboxes].sort()) {
            const states = await archive.index.folders(mailbox, reads);
            if (states.length === 0) rows.push({ mailbox, messages: 0 });
            for (const state of states.sort((a, b) => a.folder.localeCompare(b.folder))) {
              // Kept as rows are written; a folder from before counts were kept has its rows counted instead.
              const count =
                state.messages ?? (await archive.index.countDeliveries(mailbox, state.folder, reads));
              if (state.messages === undefined)
                output.detail(`${mailbox} ${state.folder}: counted by reading its rows (no kept count)`);
              rows.push({ mailbox, folder: state.folder, messages: count, uidValidity: state.uidValidity });
            }
          }
          const counting = { ...archive, reads };
          const health =
            target === 'aws'
              ? await withAwsHealthSources(config, (sources) => healthView(config, counting, home, sources))
              : await healthView(config, counting, home);
          const replicas = await replicaRows(home, target, archive.deliveryLog);
          return { folders: rows, health, replicas };
        });
      let counted: Awaited<ReturnType<typeof countFolders>>;
      try {
        counted = await countFolders();
      } catch (error) {
        if (target !== 'local' || !running || error instanceof UserError) throw error;
        // The running stack's index does not answer (its DynamoDB Local died, say): exactly when messages pile
        // up in the dead letters, so what waits on disk is still shown before the failure is named.
        const health = localHealth(home);
        output.jsonLine({ target, folders: null, health, error: describeError(error) });
        output.result('');
        for (const line of healthLines(health)) output.result(line);
        throw new UserError(`the index cannot be read: ${rootCause(error)}`, {
          hint: `the running stack's DynamoDB Local (${running.endpoints.dynamodb}) or S3 (${running.endpoints.s3}) does not answer: mail-archiver doctor checks both; stop npm start and start it again (dead letters wait for mail-archiver redrive)`,
          cause: error,
        });
      }
      const { folders, health, replicas } = counted;
      output.detail(indexReadDetail(reads.read, folders.length, 'status'));
      output.jsonLine({
        target,
        ...(target === 'local'
          ? {
              localStack: running
                ? {
                    pid: running.pid,
                    startedAt: running.startedAt,
                    smtp: running.smtp,
                    // The URLs only: the credentials stay in the 0600 stack file (output ends up in logs).
                    endpoints: { s3: running.endpoints.s3, dynamodb: running.endpoints.dynamodb },
                  }
                : null,
              data: {
                path: home,
                source: dataHome.source,
                bytes: dataSize?.bytes,
                ...(dataSize && !dataSize.complete ? { bytesAtLeast: true } : {}),
              },
            }
          : { stackName: configuration.stackName }),
        folders,
        health,
        replicas,
      });
      output.result('');
      for (const line of healthLines(health)) output.result(line);
      output.result('');
      for (const line of formatTable(
        ['MAILBOX', 'FOLDER', 'MESSAGES', 'UIDVALIDITY'],
        folders.map((f) => [
          f.mailbox,
          f.folder ?? '-',
          String(f.messages),
          f.uidValidity === undefined ? '-' : String(f.uidValidity),
        ]),
      ))
        output.result(line);
      if (replicas.length > 0) {
        output.result('');
        output.result('replicas (mail-archiver sync):');
        for (const r of replicas) output.result(`  ${replicaLine(r, target)}`);
      }
    });
}

/** One replica as status shows it: its last runs and how far behind the archive's delivery log it is. */
interface ReplicaRow {
  dir: string;
  /** ok, or why its progress cannot be read (gone, missing, damaged). */
  state: ReplicaStanding['state'];
  reason?: string;
  /** The mailboxes its last run followed (sync --mailbox); null: every mailbox. */
  mailboxes?: string[] | null;
  /** Delivery-log objects holding a line that does not parse, reported by every sync until they parse. */
  unparsed?: string[];
  /** ISO 8601 UTC: when the last successful sync ended (absent: none yet). */
  lastSuccessAt?: string;
  lastRun?: { endedAt: string; ok: boolean };
  /**
   * Log objects a sync would read next that hold mail of its mailboxes, and when the oldest of them was written;
   * null when the replica copies another archive (another bucket) or its progress is unreadable.
   */
  behind: ReplicaBehind | null;
}

async function replicaRows(home: string, target: string, log: DeliveryLog): Promise<ReplicaRow[]> {
  const dirs = await listReplicas(home, target).catch(() => [] as string[]);
  const rows: ReplicaRow[] = [];
  for (const dir of dirs) {
    const standing = await replicaStanding(dir);
    if (standing.state !== 'ok') {
      rows.push({ dir, state: standing.state, reason: standing.reason, behind: null });
      continue;
    }
    const { progress } = standing;
    const behind = progress.source.bucket === log.bucket ? await replicaBehind(progress, log) : null;
    rows.push({
      dir,
      state: 'ok',
      mailboxes: progress.mailboxes,
      ...(progress.unparsed?.length ? { unparsed: progress.unparsed } : {}),
      ...(progress.lastSuccess ? { lastSuccessAt: progress.lastSuccess.endedAt } : {}),
      ...(progress.lastRun
        ? { lastRun: { endedAt: progress.lastRun.endedAt, ok: progress.lastRun.ok } }
        : {}),
      behind,
    });
  }
  return rows;
}

function replicaLine(r: ReplicaRow, target: string, now = new Date()): string {
  if (r.state === 'gone')
    return `${r.dir}: ${r.reason}; \`mail-archiver sync --forget ${r.dir}${target === 'aws' ? ' --target aws' : ''}\` stops listing it`;
  if (r.state !== 'ok') return `${r.dir}: ${r.reason}`;
  const last = r.lastSuccessAt
    ? `last successful sync ${r.lastSuccessAt} (${age(r.lastSuccessAt, now)} ago)`
    : 'no successful sync yet';
  const failed = r.lastRun && !r.lastRun.ok ? `; the last run (${r.lastRun.endedAt}) had problems` : '';
  const behind =
    r.behind === null
      ? 'copies another archive (another bucket)'
      : r.behind.logObjects === 0
        ? 'up to date'
        : `${r.behind.logObjects} log object${r.behind.logObjects === 1 ? '' : 's'} behind (oldest written ${r.behind.oldestAt ? `${age(r.behind.oldestAt, now)} ago` : '?'})`;
  const only = r.mailboxes ? ` (only ${r.mailboxes.join(', ')})` : '';
  const unparsed = r.unparsed
    ? `; ${r.unparsed.length} log object${r.unparsed.length === 1 ? '' : 's'} with lines that do not parse`
    : '';
  return `${r.dir}${only}: ${last}${failed}${unparsed}; ${behind}`;
}

/** The size part of the data line: exact, or (a large archive) a lower bound and how to count it all. */
function describeDataSize(home: string, size: { bytes: number; complete: boolean } | undefined): string {
  if (!size || size.complete) return humanBytes(size?.bytes ?? 0);
  return `more than ${humanBytes(size.bytes)} (its first ${DATA_SIZE_ENTRIES.toLocaleString('en-US')} files and folders; du -sh "${home}" counts all)`;
}
