// Verification on the target: every restored message fetched back over a new connection and compared with the
// bundle (sha256 of BODY[], INTERNALDATE to the second, flags). A copy the server changed in a way servers do as
// they store mail (shared/restore/altered.ts) is "altered by the server", reported apart.
import { asServersMayStore, describeChanges, EARLIEST_KEPT_SECS } from './altered';
import { batches } from './batches';
import { type FolderRun, type Planned, sha256 } from './plan';
import type { RestoreReport } from './report';
import type { Session } from './session';

interface Fetched {
  source?: Buffer;
  /** BINARY[] (RFC 3516) of a message with NUL bytes, where the server offers it. */
  binary?: Buffer;
  flags: string[];
  date?: Date;
}

/**
 * Fetches every restored message back in batches (at most `limits.messages` messages / `limits.bytes` bytes per
 * FETCH, default 100 / 8 MiB); compares sha256, INTERNALDATE (seconds) and flags, and counts each message in
 * `report` as verified, altered by the server (what changed) or not verified (the problem).
 */
export async function verifyOnTarget(
  session: Session,
  runs: FolderRun[],
  report: RestoreReport,
  limits: { messages?: number; bytes?: number } | undefined,
) {
  for (const run of runs) {
    const toCheck = run.messages.filter((p) => p.state === 'moved' || p.state === 'there');
    for (const p of toCheck) {
      if (p.targetUid === undefined) {
        report.notVerified.push({
          folder: run.name,
          uid: p.message.uid,
          sha256: p.message.sha256,
          problem: 'the server gave no UID for it (no UIDPLUS) and it was not found by size and sha256',
        });
      }
    }
    const withUid = toCheck.filter((p) => p.targetUid !== undefined);
    for (const batch of batches(
      withUid,
      limits?.messages ?? 100,
      limits?.bytes ?? 8 * 1024 * 1024,
      (p) => p.imapSize,
    )) {
      const fetched = await session.run(async (client) => {
        if (client.mailbox === false || client.mailbox?.path !== run.target) {
          await client.mailboxOpen(run.target, { readOnly: true });
        }
        const got = new Map<number, Fetched>();
        const uids = batch.map((p) => p.targetUid).join(',');
        for await (const m of client.fetch(
          uids,
          { uid: true, flags: true, internalDate: true, source: true },
          {
            uid: true,
          },
        )) {
          got.set(m.uid, {
            ...(m.source ? { source: m.source } : {}),
            flags: [...(m.flags ?? [])],
            ...(m.internalDate ? { date: new Date(m.internalDate) } : {}),
          });
        }
        const withNul = batch.filter((p) => p.message.nul).map((p) => p.targetUid);
        if (withNul.length && client.capabilities.has('BINARY')) {
          for await (const m of client.fetch(
            withNul.join(','),
            { uid: true, source: true },
            { uid: true, binary: true },
          )) {
            const entry = got.get(m.uid);
            if (entry && m.source) entry.binary = m.source;
          }
        }
        return got;
      });
      for (const p of batch) {
        const { problems, changes, nulAsHighBit } = checkOne(p, fetched.get(p.targetUid as number));
        if (problems.length > 0) {
          report.notVerified.push({
            folder: run.name,
            uid: p.message.uid,
            sha256: p.message.sha256,
            problem: `target UID ${p.targetUid}: ${[...changes.map((c) => `changed by the server (${c})`), ...problems].join('; ')}`,
          });
        } else if (changes.length > 0) {
          p.altered = changes;
          report.altered.push({
            folder: run.name,
            uid: p.message.uid,
            sha256: p.message.sha256,
            targetUid: p.targetUid as number,
            changes,
          });
        } else {
          if (nulAsHighBit) report.nulAsHighBit += 1;
          p.verified = true;
          report.verified += 1;
        }
      }
    }
  }
}

/**
 * Dates before 1970 fetched again in a new session. Dovecot 2.3.19 gave a 1958 INTERNALDATE back to the appending
 * session and to the next one, and 2094 (unsigned 32-bit) to every later one: only a later session sees what the
 * server really keeps. A date kept otherwise than appended makes a verified message altered (the date the server
 * keeps, named), or not verified when it is not one a server makes of an old date.
 */
export async function recheckOldDates(session: Session, runs: FolderRun[], report: RestoreReport) {
  for (const run of runs) {
    const old = run.messages.filter(
      (p) => (p.verified || p.altered) && p.internalDateSecs < 0 && p.targetUid !== undefined,
    );
    if (old.length === 0) continue;
    const dates = await session.run(async (client) => {
      await client.mailboxOpen(run.target, { readOnly: true });
      const out = new Map<number, Date>();
      const uids = old.map((p) => p.targetUid).join(',');
      for await (const m of client.fetch(uids, { uid: true, internalDate: true }, { uid: true })) {
        if (m.internalDate) out.set(m.uid, new Date(m.internalDate));
      }
      return out;
    });
    for (const p of old) {
      const date = dates.get(p.targetUid as number);
      const secs = date ? Math.floor(date.getTime() / 1000) : Number.NaN;
      const dateCheck = checkDate(p.internalDateSecs, secs);
      if (dateCheck.same || p.altered?.includes(dateCheck.change ?? '')) continue;
      const entry = { folder: run.name, uid: p.message.uid, sha256: p.message.sha256 };
      if (p.verified) report.verified -= 1;
      report.altered = report.altered.filter((a) => !(a.folder === run.name && a.uid === p.message.uid));
      p.verified = false;
      if (dateCheck.change) {
        p.altered = [...(p.altered ?? []), dateCheck.change];
        report.altered.push({ ...entry, targetUid: p.targetUid as number, changes: p.altered });
      } else {
        delete p.altered;
        report.notVerified.push({ ...entry, problem: `target UID ${p.targetUid}: ${dateCheck.problem}` });
      }
    }
  }
}

/**
 * A served INTERNALDATE against the bundle's (seconds): the same; a change servers make to a date before 1970
 * (Dovecot's index keeps it as unsigned 32-bit: 1958 as 2094; 1970-01-01T00:00:01Z where the server refused the
 * date and it was appended so, see append.ts), to a date before 1901-12-13T20:45:52Z (the smallest signed 32-bit
 * time: Dovecot on ext4 keeps 1899 as that, or as 2038-01-19T03:14:08Z unsigned) or to a date still in the future (a bad clock's 2300: Cyrus 3.6 keeps
 * it modulo 2^32 seconds, as 2027; Dovecot 2.3.19 sets the time of the APPEND for 2040 and 2300; measured), named;
 * or a problem. `now` in seconds.
 */
export function checkDate(
  expected: number,
  served: number,
  now = Math.floor(Date.now() / 1000),
): { same?: true; change?: string; problem?: string } {
  if (served === expected) return { same: true };
  const iso = (secs: number) => (Number.isNaN(secs) ? 'none' : new Date(secs * 1000).toISOString());
  // Below the smallest signed 32-bit time, the file system keeps that one (ext4 here: 1899 as 1901-12-13).
  const kept = Math.max(expected, -(2 ** 31));
  if (expected < 0 && (served === EARLIEST_KEPT_SECS || served === kept || served === kept + 2 ** 32))
    return {
      change: `received date ${iso(expected)} kept as ${iso(served)} (the server keeps no date before 1970)`,
    };
  if (expected > now && (served <= now || served === expected % 2 ** 32))
    return {
      change: `received date ${iso(expected)} kept as ${iso(served)} (the server keeps no date in the future)`,
    };
  return { problem: `INTERNALDATE ${iso(served)} != ${iso(expected)}` };
}

/**
 * One fetched message against its bundle message: what is wrong (sha256, INTERNALDATE, flags, gone), what the
 * server changed as servers do (shared/restore/altered.ts; an old date), and whether NUL was served as 0x80.
 */
function checkOne(
  p: Planned,
  got: Fetched | undefined,
): { problems: string[]; changes: string[]; nulAsHighBit: boolean } {
  const out = { problems: [] as string[], changes: [] as string[], nulAsHighBit: false };
  if (!got?.source) {
    out.problems.push('not on the server any more');
    return out;
  }
  const served = sha256(got.source);
  const exact = served === p.imapSha256 || (got.binary && sha256(got.binary) === p.imapSha256);
  if (!exact) {
    if (p.highBitSha256 && served === p.highBitSha256) out.nulAsHighBit = true;
    else if (p.serverFormSha256 && sha256(asServersMayStore(got.source)) === p.serverFormSha256)
      out.changes.push(...describeChanges(p.changes, p.imapSize, got.source));
    else out.problems.push(`sha256 differs (${served.slice(0, 12)}… served)`);
  }
  const date = checkDate(p.internalDateSecs, got.date ? Math.floor(got.date.getTime() / 1000) : Number.NaN);
  if (date.change) out.changes.push(date.change);
  if (date.problem) out.problems.push(date.problem);
  const servedFlags = got.flags.filter((f) => f !== '\\Recent').sort();
  const expected = [...p.flags].sort();
  if (servedFlags.join(' ') !== expected.join(' '))
    out.problems.push(`flags ${servedFlags.join(' ') || '(none)'} != ${expected.join(' ') || '(none)'}`);
  return out;
}
