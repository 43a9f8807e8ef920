// Where this machine's replicas are, so that `status` and `doctor` find them without being told: each `sync` run
// records its replica directory (absolute path) in the archiver's home, one list per target:
//
//   <home>/replicas.<target>.json     {"v":1,"replicas":["/home/me/mail-replica", ...]}
//
// The list only points; each replica's own progress.json (state.ts) stays the truth about its runs. A directory
// that is gone is reported (status, doctor) until `sync --forget DIR` removes it from the list: never by itself,
// since a disk not mounted for a while (a NAS, a USB drive) is exactly what the warning is for.
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readIfExists } from '../adapters/read-if-exists';
import { parseLogObjectKey } from '../delivery-log/layout';
import type { DeliveryLog } from '../delivery-log/log';
import { errorMessage } from '../errors';
import { ReplicaProgressError } from './errors';
import { type ReplicaProgress, readProgress, replicaPaths, writeFileAtomically } from './state';

/** The list of replicas of `target` (`local` or `aws`) in the archiver's home `home`. */
export const replicaListPath = (home: string, target: string) => join(home, `replicas.${target}.json`);

/**
 * The replica directories recorded for `target`, absolute, in the order first synced. Throws
 * ReplicaProgressError naming the file when it does not parse.
 */
export async function listReplicas(home: string, target: string): Promise<string[]> {
  const path = replicaListPath(home, target);
  const text = await readIfExists(path, 'utf8');
  if (text === undefined) return [];
  try {
    const parsed = JSON.parse(text) as { v?: unknown; replicas?: unknown };
    if (
      parsed.v !== 1 ||
      !Array.isArray(parsed.replicas) ||
      parsed.replicas.some((d) => typeof d !== 'string')
    )
      throw new Error('expected {"v":1,"replicas":[paths]}');
    return parsed.replicas as string[];
  } catch (error) {
    throw new ReplicaProgressError(`${path} is damaged (${errorMessage(error)})`, { cause: error });
  }
}

/** Adds `dir` (made absolute) to the list of `target`, once; creates the home when missing. */
export async function recordReplica(home: string, target: string, dir: string): Promise<void> {
  const absolute = resolve(dir);
  const known = await listReplicas(home, target).catch(() => [] as string[]);
  if (known.includes(absolute)) return;
  await mkdir(home, { recursive: true, mode: 0o700 });
  await writeFileAtomically(
    replicaListPath(home, target),
    `${JSON.stringify({ v: 1, replicas: [...known, absolute] }, null, 1)}\n`,
  );
}

/**
 * Removes `dir` (made absolute) from the list of `target`; nothing in `dir` is touched. Returns false when it was
 * not listed. Throws ReplicaProgressError when the list does not parse.
 */
export async function forgetReplica(home: string, target: string, dir: string): Promise<boolean> {
  const absolute = resolve(dir);
  const known = await listReplicas(home, target);
  if (!known.includes(absolute)) return false;
  await writeFileAtomically(
    replicaListPath(home, target),
    `${JSON.stringify({ v: 1, replicas: known.filter((d) => d !== absolute) }, null, 1)}\n`,
  );
  return true;
}

/** What a replica's directory says about it: its progress, or why there is none. */
export type ReplicaStanding =
  | { dir: string; state: 'ok'; progress: ReplicaProgress }
  /** `gone`: no directory at `dir` (moved, removed, or its disk not mounted); `missing`: no progress file in it. */
  | { dir: string; state: 'gone' | 'missing' | 'damaged'; reason: string };

/** Reads the progress of the replica in `dir` (never throws: a gone, missing or damaged one is a standing too). */
export async function replicaStanding(dir: string): Promise<ReplicaStanding> {
  const there = await stat(dir).then(
    () => true,
    (error: NodeJS.ErrnoException) => error.code !== 'ENOENT',
  );
  if (!there)
    return {
      dir,
      state: 'gone',
      reason: `not found at ${dir} (moved or removed? \`mail-archiver sync NEWDIR\` registers it again)`,
    };
  try {
    const progress = await readProgress(replicaPaths(dir).progress);
    if (!progress) return { dir, state: 'missing', reason: `${dir} holds no replica (no progress file)` };
    return { dir, state: 'ok', progress };
  } catch (error) {
    return { dir, state: 'damaged', reason: errorMessage(error) };
  }
}

/** A replica whose last successful sync is older than this is stale (doctor warns): one day, in milliseconds. */
export const REPLICA_STALE_MS = 24 * 60 * 60 * 1000;

/** How far behind the archive's delivery log a replica is (status). */
export interface ReplicaBehind {
  /** Log objects a sync would read next that hold mail of the replica's mailboxes. */
  logObjects: number;
  /** ISO 8601 UTC: when the oldest of them was written. */
  oldestAt?: string;
}

/**
 * How far behind `log` the replica whose progress is `progress` is: the log objects after its cursor (keysAfter)
 * that hold mail of its mailboxes. A replica of every mailbox counts them from the listing alone; one of chosen
 * mailboxes (--mailbox) reads them (one GET each, 8 at a time: what its next sync would read anyway) and counts
 * those holding a record of one of its mailboxes. Throws what the store throws.
 */
export async function replicaBehind(progress: ReplicaProgress, log: DeliveryLog): Promise<ReplicaBehind> {
  let logObjects = 0;
  let oldest: string | undefined;
  const count = (key: string) => {
    logObjects++;
    const at = parseLogObjectKey(key)?.at.toISOString();
    if (at && (!oldest || at < oldest)) oldest = at;
  };
  const chosen = progress.mailboxes && new Set(progress.mailboxes);
  if (!chosen) for await (const key of log.keysAfter(progress.cursor)) count(key);
  else
    for await (const object of log.read(progress.cursor))
      if (object.records.some((record) => chosen.has(record.mailbox))) count(object.key);
  return { logObjects, ...(oldest ? { oldestAt: oldest } : {}) };
}
