// Where a sync run starts: the replica's progress as saved, or the log from its beginning with the tree checked
// against it. A damaged progress file or journal is kept aside and rebuilt from the tree and the log (what the tree
// holds with the records' bytes is kept, in-place.ts); `sync --repair` does the same on purpose, so that every
// file is hashed against its record and what is missing or changed is downloaded again. The last successful sync
// is kept whenever the progress file can still be read: the replica did not stop being current because its
// bookkeeping was redone.
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { LOG_START } from '../delivery-log/layout';
import { ReplicaDirectoryError, ReplicaProgressError } from './errors';
import { newProgress, type ReplicaProgress, readProgress, type replicaPaths } from './state';

type Paths = ReturnType<typeof replicaPaths>;

export interface StartContext {
  dir: string;
  paths: Paths;
  source: ReplicaProgress['source'];
  /** The mailboxes this run keeps, sorted; null: all of them. */
  selection: string[] | null;
  now: () => Date;
  /** Told, with where the damaged files were kept, when the progress file is damaged. */
  onDamaged: (error: ReplicaProgressError, aside: string) => void;
  /** Told (a line saying so) when `selection` is not what the replica followed: it follows `selection` from now on. */
  onSelectionChanged?: (message: string) => void;
}

/**
 * progress.json, checked against this run: another bucket's replica is refused (ReplicaDirectoryError), a damaged
 * file is kept aside (onDamaged) and the log read from its beginning, as with `repair`; another choice of
 * mailboxes reads the log from its beginning (what is in place is not fetched again), and is told
 * (onSelectionChanged): the replica follows the run's choice from now on.
 */
export async function loadProgress(context: StartContext, repair: boolean): Promise<ReplicaProgress> {
  const { paths, source, selection } = context;
  let progress: ReplicaProgress | undefined;
  try {
    progress = await readProgress(paths.progress);
  } catch (error) {
    if (!(error instanceof ReplicaProgressError)) throw error;
    context.onDamaged(error, await setAside(context, 'damaged'));
    progress = undefined;
  }
  if (progress && progress.source.bucket !== source.bucket)
    throw new ReplicaDirectoryError(
      `${context.dir} is a replica of the bucket ${progress.source.bucket}, not of ${source.bucket}: name another directory`,
    );
  if (progress && repair) return startOver(context, 'before-repair', progress);
  if (!progress) return newProgress(source, selection);
  if (JSON.stringify(progress.mailboxes) !== JSON.stringify(selection)) {
    context.onSelectionChanged?.(selectionChanged(context.dir, progress.mailboxes, selection));
    progress.cursor = LOG_START;
    progress.mailboxes = selection;
  }
  return progress;
}

/**
 * A journal found damaged during the run: kept aside with the progress (onDamaged), and a progress that reads the
 * log from its beginning, keeping `progress`'s last successful sync.
 */
export async function startOverDamaged(
  context: StartContext,
  error: ReplicaProgressError,
  progress: ReplicaProgress,
): Promise<ReplicaProgress> {
  const aside = await setAside(context, 'damaged');
  context.onDamaged(error, aside);
  return { ...newProgress(context.source, context.selection), ...keptRuns(progress) };
}

async function startOver(
  context: StartContext,
  prefix: 'before-repair',
  progress: ReplicaProgress,
): Promise<ReplicaProgress> {
  await setAside(context, prefix);
  return { ...newProgress(context.source, context.selection), ...keptRuns(progress) };
}

/**
 * What a progress started over keeps: the last runs, and the log objects that did not parse (about the log, not the
 * replica: a first sync from the transparency log would not meet them again).
 */
const keptRuns = (progress: ReplicaProgress) => ({
  ...(progress.lastSuccess ? { lastSuccess: progress.lastSuccess } : {}),
  ...(progress.lastRun ? { lastRun: progress.lastRun } : {}),
  ...(progress.unparsed?.length ? { unparsed: progress.unparsed } : {}),
});

/**
 * Moves the progress file and the journals into `.mail-archiver-sync/<prefix>-<time>/` (renamed, never removed),
 * so that nothing journaled is taken on trust; returns that directory.
 */
async function setAside(context: StartContext, prefix: 'damaged' | 'before-repair'): Promise<string> {
  const { paths } = context;
  const stamp = context.now().toISOString().replace(/[:.]/g, '-');
  const aside = join(paths.state, `${prefix}-${stamp}`);
  await mkdir(aside, { recursive: true, mode: 0o700 });
  await rename(paths.progress, join(aside, 'progress.json')).catch(() => undefined);
  await rename(paths.journals, join(aside, 'mailboxes')).catch(() => undefined);
  await mkdir(paths.journals, { recursive: true, mode: 0o700 });
  return aside;
}

/**
 * The line a run says when its mailboxes are not what the replica followed: the replica follows the run's choice
 * from now on (status counts only those), and reads the log from its start for it (what is in place is kept).
 */
function selectionChanged(dir: string, from: string[] | null, to: string[] | null): string {
  const followed = from ? `only ${from.join(', ')}` : 'every mailbox';
  if (!to)
    return `${dir} followed ${followed}; from now on it follows every mailbox (no --mailbox): the log is read again from its start for the others (what the replica holds is kept, not downloaded again)`;
  return `${dir} followed ${followed}; from now on it follows only ${to.join(', ')} (--mailbox): status counts only ${to.length === 1 ? 'it' : 'those'}, and no more mail of the others is added until a sync names them again with --mailbox, or names none (every mailbox), which reads the log again from its start`;
}
