// What of a folder's bundle messages the target already holds: by the state file first, then, where the state is
// missing (another machine, a lost file), by RFC822.SIZE and the sha256 of what the server serves, allowing for
// what a server may change as it stores a message (shared/restore/altered.ts).
import type { ImapFlow } from 'imapflow';
import { asServersMayStore, possibleSizes } from './altered';
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
      else {
        run.created = true;
        if (dryRun) return;
        await createFolder(client, run, session.log);
      }
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
    // Where the state is missing: unclaimed server messages of a size a pending message may have there, hashed.
    const sizes = new Set(
      run.messages.filter((p) => p.state === 'pending').flatMap((p) => possibleSizes(p.imapSize, p.changes)),
    );
    const candidates = [...onServer].filter(([uid, size]) => !run.claimed.has(uid) && sizes.has(size));
    for (const [uid, size, hashes] of await hashesOnServer(client, candidates)) {
      const bySize = run.unclaimed.get(size) ?? new Map();
      bySize.set(uid, hashes);
      run.unclaimed.set(size, bySize);
    }
  });
  // Exact copies first, so that a changed copy is never taken for a message whose exact copy is there too.
  for (const how of ['exact', 'changed by the server'] as const) {
    for (const planned of run.messages) {
      if (planned.state === 'pending' && claimFromServer(run, planned, how)) {
        planned.state = 'there';
        await state.record(run, planned);
      }
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

/** sha256 of BODY[] of the given UIDs and of its form as servers may store it, fetched in batches. */
async function hashesOnServer(
  client: ImapFlow,
  candidates: [number, number][],
): Promise<[number, number, { sha256: string; serverForm: string }][]> {
  const out: [number, number, { sha256: string; serverForm: string }][] = [];
  for (const batch of batches(candidates, 100, 8 * 1024 * 1024, ([, size]) => size)) {
    const sizeOf = new Map(batch);
    for await (const m of client.fetch(
      batch.map(([uid]) => uid).join(','),
      { uid: true, source: true },
      {
        uid: true,
      },
    )) {
      if (!m.source) continue;
      const exact = sha256(m.source);
      const serverForm = asServersMayStore(m.source);
      out.push([
        m.uid,
        sizeOf.get(m.uid) ?? m.source.length,
        { sha256: exact, serverForm: serverForm === m.source ? exact : sha256(serverForm) },
      ]);
    }
  }
  return out;
}

/**
 * Attributes an unclaimed server message to this bundle message: 'exact', one with the same size and sha256 (or
 * NUL served as 0x80); 'changed by the server', one of a size and {@link asServersMayStore} form it may have after
 * a server changed it.
 */
function claimFromServer(run: FolderRun, planned: Planned, how: 'exact' | 'changed by the server'): boolean {
  const exact = how === 'exact';
  if (!exact && planned.serverFormSha256 === undefined) return false;
  const sizes = exact ? [planned.imapSize] : possibleSizes(planned.imapSize, planned.changes);
  for (const size of sizes) {
    const bySize = run.unclaimed.get(size);
    if (!bySize) continue;
    for (const [uid, hashes] of bySize) {
      const same = exact
        ? hashes.sha256 === planned.imapSha256 || hashes.sha256 === planned.highBitSha256
        : hashes.serverForm === planned.serverFormSha256;
      if (!same) continue;
      bySize.delete(uid);
      run.claimed.add(uid);
      planned.targetUid = uid;
      return true;
    }
  }
  return false;
}
