// What of a folder's bundle messages the target already holds: by the state file first, then, where the state is
// missing (another machine, a lost file), by RFC822.SIZE and the sha256 of what the server serves.
import type { ImapFlow } from 'imapflow';
import { batches } from './batches';
import { createFolder, withoutDots } from './folders';
import { type FolderRun, type Planned, sha256 } from './plan';
import type { Session } from './session';
import type { StateFile } from './state-file';

/**
 * Per folder: create it if missing (not in a dry run), then attribute target messages to bundle messages (state,
 * then size and sha256); an attribution found on the server is recorded in the state. Taken again after a
 * reconnect: what was attributed earlier in the run is kept while its UID still exists.
 */
export async function inventory(session: Session, run: FolderRun, state: StateFile, dryRun: boolean) {
  await session.run(async (client) => {
    const listed = await client.list();
    if (!listed.some((l) => l.path === run.target)) {
      // A name the server refused on an earlier run lives under its fallback (see createFolder).
      const fallback = withoutDots(run.target, client.namespace?.delimiter || '/');
      if (fallback !== run.target && listed.some((l) => l.path === fallback)) run.target = fallback;
      else if (dryRun) return;
      else await createFolder(client, run, session.log);
    }
    const mailbox = await client.mailboxOpen(run.target, { readOnly: dryRun });
    run.uidValidity = mailbox.uidValidity;
    run.claimed.clear();
    run.unclaimed.clear();
    const onServer = await sizesOnServer(client, mailbox.exists);
    for (const planned of run.messages) {
      if (planned.state === 'refused') continue;
      if (planned.state === 'moved' || planned.state === 'there') {
        // Attributed earlier in this run (after a reconnect the inventory is taken again).
        if (planned.targetUid !== undefined && onServer.has(planned.targetUid)) {
          run.claimed.add(planned.targetUid);
          continue;
        }
      }
      const recorded = state.lookup(run.name, planned.message, mailbox.uidValidity);
      if (recorded !== undefined && onServer.has(recorded) && !run.claimed.has(recorded)) {
        planned.state = 'there';
        planned.targetUid = recorded;
        run.claimed.add(recorded);
      } else {
        planned.state = 'pending';
        delete planned.targetUid;
      }
    }
    // Where the state is missing: unclaimed server messages of a pending message's size, hashed.
    const sizes = new Set(run.messages.filter((p) => p.state === 'pending').map((p) => p.imapSize));
    const candidates = [...onServer].filter(([uid, size]) => !run.claimed.has(uid) && sizes.has(size));
    for (const [uid, size, hash] of await hashesOnServer(client, candidates)) {
      const bySize = run.unclaimed.get(size) ?? new Map<number, string>();
      bySize.set(uid, hash);
      run.unclaimed.set(size, bySize);
    }
  });
  for (const planned of run.messages) {
    if (planned.state === 'pending' && claimFromServer(run, planned)) {
      planned.state = 'there';
      await state.record(run, planned);
    }
  }
}

/** RFC822.SIZE of every message of the open folder, by UID. */
async function sizesOnServer(client: ImapFlow, exists: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (exists === 0) return out;
  for await (const m of client.fetch('1:*', { uid: true, size: true })) out.set(m.uid, m.size ?? -1);
  return out;
}

/** sha256 of BODY[] of the given UIDs, fetched in batches: [uid, size, sha256]. */
async function hashesOnServer(
  client: ImapFlow,
  candidates: [number, number][],
): Promise<[number, number, string][]> {
  const out: [number, number, string][] = [];
  for (const batch of batches(candidates, 100, 8 * 1024 * 1024, ([, size]) => size)) {
    const sizeOf = new Map(batch);
    for await (const m of client.fetch(
      batch.map(([uid]) => uid).join(','),
      { uid: true, source: true },
      {
        uid: true,
      },
    )) {
      if (m.source) out.push([m.uid, sizeOf.get(m.uid) ?? m.source.length, sha256(m.source)]);
    }
  }
  return out;
}

/** Attributes an unclaimed server message with the same size and hash to this bundle message. */
function claimFromServer(run: FolderRun, planned: Planned): boolean {
  const bySize = run.unclaimed.get(planned.imapSize);
  if (!bySize) return false;
  for (const [uid, hash] of bySize) {
    if (hash === planned.imapSha256 || (planned.highBitSha256 && hash === planned.highBitSha256)) {
      bySize.delete(uid);
      run.claimed.add(uid);
      planned.targetUid = uid;
      return true;
    }
  }
  return false;
}
