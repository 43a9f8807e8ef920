// Verification on the target: every restored message fetched back over a new connection and compared with the
// bundle (sha256 of BODY[], INTERNALDATE to the second, flags).
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
 * `report` as verified or not (with the problem).
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
        const got = fetched.get(p.targetUid as number);
        const problem = checkOne(p, got);
        if (problem === 'nul-as-high-bit') report.nulAsHighBit += 1;
        if (problem === undefined || problem === 'nul-as-high-bit') {
          p.verified = true;
          report.verified += 1;
        } else {
          report.notVerified.push({
            folder: run.name,
            uid: p.message.uid,
            sha256: p.message.sha256,
            problem: `target UID ${p.targetUid}: ${problem}`,
          });
        }
      }
    }
  }
}

/**
 * Dates before 1970 fetched again in a new session; a changed one is not verified. Dovecot 2.3.19 gave a 1958
 * INTERNALDATE back to the appending session and to the next one, and 2094 (unsigned 32-bit) to every later one:
 * only a later session sees what the server really keeps.
 */
export async function recheckOldDates(session: Session, runs: FolderRun[], report: RestoreReport) {
  for (const run of runs) {
    const old = run.messages.filter((p) => p.verified && p.internalDateSecs < 0 && p.targetUid !== undefined);
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
      if (secs === p.internalDateSecs) continue;
      p.verified = false;
      report.verified -= 1;
      report.notVerified.push({
        folder: run.name,
        uid: p.message.uid,
        sha256: p.message.sha256,
        problem: `target UID ${p.targetUid}: INTERNALDATE ${date?.toISOString()} != ${new Date(p.internalDateSecs * 1000).toISOString()} (this server does not keep dates before 1970)`,
      });
    }
  }
}

/** The problems of one fetched message, `'nul-as-high-bit'` when only NUL was served as 0x80, else undefined. */
function checkOne(p: Planned, got: Fetched | undefined): string | undefined {
  if (!got?.source) return 'not on the server any more';
  const problems: string[] = [];
  let nulNote: string | undefined;
  const served = sha256(got.source);
  const exact = served === p.imapSha256 || (got.binary && sha256(got.binary) === p.imapSha256);
  if (!exact) {
    if (p.highBitSha256 && served === p.highBitSha256) nulNote = 'nul-as-high-bit';
    else problems.push(`sha256 differs (${served.slice(0, 12)}… served)`);
  }
  const secs = got.date ? Math.floor(got.date.getTime() / 1000) : Number.NaN;
  if (secs !== p.internalDateSecs)
    problems.push(
      `INTERNALDATE ${got.date?.toISOString()} != ${new Date(p.internalDateSecs * 1000).toISOString()}${p.internalDateSecs < 0 ? ' (this server does not keep dates before 1970)' : ''}`,
    );
  const servedFlags = got.flags.filter((f) => f !== '\\Recent').sort();
  const expected = [...p.flags].sort();
  if (servedFlags.join(' ') !== expected.join(' '))
    problems.push(`flags ${servedFlags.join(' ') || '(none)'} != ${expected.join(' ') || '(none)'}`);
  if (problems.length) return problems.join('; ');
  return nulNote;
}
