// Where this machine's replicas are, so that `status` and `doctor` find them without being told: each `sync` run
// records its replica directory (absolute path) in the archiver's home, one list per target:
//
//   <home>/replicas.<target>.json     {"v":1,"replicas":["/home/me/mail-replica", ...]}
//
// The list only points; each replica's own progress.json (state.ts) stays the truth about its runs. A directory
// that is gone is reported (status, doctor) until it is synced again or its line is removed from the list.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readIfExists } from '../adapters/read-if-exists';
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

/** What a replica's directory says about it: its progress, or why there is none. */
export type ReplicaStanding =
  | { dir: string; state: 'ok'; progress: ReplicaProgress }
  | { dir: string; state: 'missing' | 'damaged'; reason: string };

/** Reads the progress of the replica in `dir` (never throws: a missing or damaged one is a standing too). */
export async function replicaStanding(dir: string): Promise<ReplicaStanding> {
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
