// Restore: every message of a maildir bundle appended to an IMAP server (a new provider), then fetched back and
// checked. Identity is the bundle's own (sha256 of the bytes), never the Message-ID: two different messages that
// share a Message-ID are both moved, and the same bytes twice are moved twice. Resumable and idempotent: a small
// state file records each append (with the server's APPENDUID), and where the state is missing the server is
// checked by RFC822.SIZE, then by sha256 of what it serves.
//
// Rules this module relies on: RFC 3501/9051 APPEND (flags, INTERNALDATE; a literal carries CRLF lines),
// RFC 3516 BINARY (literal8 for NUL bytes; imapflow uses it when the server offers BINARY), RFC 4315 UIDPLUS
// (APPENDUID), RFC 6154 special use (\Sent \Junk \Drafts \Trash on LIST), RFC 5530 response codes
// ([LIMIT], [TOOBIG], [OVERQUOTA], [INUSE], [UNAVAILABLE]).
import { createHash } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { type FileHandle, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { ImapFlow } from 'imapflow';
import { DEFAULT_BUNDLE_LIMITS, entryPath, readBundleEntries } from '../bundle/entries';
import { UnsafeBundleError } from '../bundle/extract';
import type { BundleManifest, ManifestMessage } from '../bundle/manifest';
import { type VerifyReport, verifyBundle } from '../bundle/verify';
import { errorMessage } from '../errors';

/** Where the bundle is: a .tar.gz file, or a directory holding an unpacked bundle (manifest.json, Maildir/). */
export type BundleSource = { kind: 'file'; path: string } | { kind: 'directory'; path: string };

export interface RestoreOptions {
  source: BundleSource;
  /**
   * Re-reads the bundle as a tar.gz stream (for a directory: a tar of it; for an encrypted bundle: decrypted as
   * it is read); given to `verifyBundle`, and read again for a bundle file's messages.
   */
  openBundleStream: () => Readable;
  /** Builds a new, unconnected client for the target; called again after every disconnect. */
  newClient: () => ImapFlow;
  /** JSON Lines file recording what was appended; created if missing. */
  statePath: string;
  /** Only these bundle folders (names as in the manifest; INBOX case-insensitive). Default: every folder. */
  folders?: string[];
  /** Connect, look, and report what would be moved; create and append nothing, write no state. */
  dryRun?: boolean;
  /** Reconnect attempts after consecutive failures, and the first back-off (doubled each time, at most 30 s). */
  retry?: { attempts?: number; firstDelayMs?: number };
  /** Verification fetches at most this many messages / bytes per FETCH. Default 100 / 8 MiB. */
  verifyBatch?: { messages?: number; bytes?: number };
  onProgress?: (progress: RestoreProgress) => void;
  /** Lines for the user (reconnects, refusals) while the run goes on. */
  log?: (line: string) => void;
}

export interface RestoreProgress {
  /** IMAP bytes (RFC822.SIZE) of messages handled so far / of every message to restore. */
  bytesDone: number;
  bytesTotal: number;
  messagesDone: number;
  messagesTotal: number;
  moved: number;
  alreadyThere: number;
  refused: number;
}

export type RefusalReason = 'too large' | 'quota' | 'rejected';

export interface Refusal {
  folder: string;
  uid: number;
  sha256: string;
  /** RFC822.SIZE of the message as appended. */
  size: number;
  reason: RefusalReason;
  /** The server's own words (tagged NO/BAD text, with its response code). */
  serverText: string;
}

export interface FolderReport {
  /** Name in the bundle. */
  folder: string;
  /** Path on the target (a special-use folder where the server advertises one). */
  target: string;
  inBundle: number;
  moved: number;
  alreadyThere: number;
  refused: number;
  verified: number;
}

export interface RestoreReport {
  dryRun: boolean;
  folders: FolderReport[];
  messages: number;
  moved: number;
  alreadyThere: number;
  refused: Refusal[];
  verified: number;
  /** Messages on the target but not matching: sha256, INTERNALDATE or flags differ, or not found. */
  notVerified: { folder: string; uid: number; sha256: string; problem: string }[];
  /** Verified, but the server serves NUL bytes as 0x80 in BODY[] and has no BINARY to check them exactly. */
  nulAsHighBit: number;
  reconnects: number;
  statePath: string;
  /**
   * Set when the server refused an APPEND for quota (the account is full, or over a daily upload limit): the
   * server's words. Appending stopped there; `notAttempted` messages were left for the next run.
   */
  stoppedForQuota?: string;
  notAttempted: number;
}

export class BundleNotVerifiedError extends Error {
  override name = 'BundleNotVerifiedError';
  constructor(
    readonly report: VerifyReport,
    options?: ErrorOptions,
  ) {
    super(
      `the bundle fails the checks of "verify" (${report.errors.length} ${report.errors.length === 1 ? 'problem' : 'problems'}, first: ${report.errors[0] ?? 'none'}); nothing was restored`,
      options,
    );
  }
}

export class RestoreUnsupportedError extends Error {
  override name = 'RestoreUnsupportedError';
}

export class TargetUnreachableError extends Error {
  override name = 'TargetUnreachableError';
}

/** The server refused the login (a wrong password, an app password needed, IMAP not enabled for the account). */
export class TargetLoginError extends Error {
  override name = 'TargetLoginError';
}

/** The server answered a command other than APPEND with NO or BAD: the command and the server's own words. */
export class TargetRefusedError extends Error {
  override name = 'TargetRefusedError';
}

/** The state file cannot be written where it was asked for (read-only place, a file in the way). */
export class RestoreStateError extends Error {
  override name = 'RestoreStateError';
}

/** One bundle message and what restoring it needs. */
interface Planned {
  message: ManifestMessage;
  /** RFC822.SIZE once appended: the size of the message with CRLF line endings. */
  imapSize: number;
  /** Expected flags on the target: the manifest's flags, system flags and keywords alike. */
  flags: string[];
  internalDateSecs: number;
  state: 'pending' | 'there' | 'moved' | 'refused';
  targetUid?: number;
  /** Read from the bundle in this run. */
  read?: boolean;
  verified?: boolean;
  /** sha256 of the bytes as appended (bare CR and bare LF -> CRLF). */
  imapSha256: string;
  /** The same with NUL written as 0x80: what BODY[] serves from a server that cannot send NUL. */
  highBitSha256?: string;
}

interface FolderRun {
  name: string;
  target: string;
  messages: Planned[];
  uidValidity?: bigint;
  /** Target UIDs already attributed to a bundle message. */
  claimed: Set<number>;
  /** Target messages nobody claimed yet whose size equals a pending message's: size -> served sha256s by UID. */
  unclaimed: Map<number, Map<number, string>>;
}

const STATE_VERSION = 1;
/** Tries before the first login of a run (a later disconnect gets `retry.attempts`). */
const FIRST_CONNECT_ATTEMPTS = 3;

/**
 * Restores a maildir bundle into an IMAP server.
 * Order: `verifyBundle` (throws BundleNotVerifiedError before any connection), LIST and special-use mapping,
 * per folder an inventory (state file, then size and sha256 of unclaimed server messages), APPEND of what is
 * missing (in bundle order, with flags and INTERNALDATE), then a verification FETCH in batches.
 * Connection failures and throttling reconnect with back-off and go on (TargetUnreachableError after
 * `retry.attempts` consecutive failures); a NO to one APPEND is recorded as that message's refusal.
 */
export async function restoreBundle(options: RestoreOptions): Promise<RestoreReport> {
  if (options.dryRun) return restoreUnlocked(options);
  // Before the minutes a large bundle's checks take: a state file that cannot be written stops nothing midway.
  await StateFile.checkWritable(options.statePath);
  // Two runs on one state at once (two terminals) would both find a message missing and both append it.
  const release = await lockState(options.statePath);
  try {
    return await restoreUnlocked(options);
  } finally {
    await release();
  }
}

/**
 * `<state>.lock` holding the process id, created exclusively. A lock whose process is gone (a killed run) is
 * taken over; one whose process lives is RestoreStateError.
 */
async function lockState(statePath: string): Promise<() => Promise<void>> {
  const lock = `${statePath}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lock, 'wx', 0o600);
      await handle.write(`${process.pid}\n`);
      await handle.close();
      return async () => {
        await unlink(lock).catch(() => undefined);
      };
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST' || attempt > 0) throw error;
      const pid = Number.parseInt(await readFile(lock, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid))
        throw new RestoreStateError(
          `another restore (process ${pid}) is using ${statePath}: wait for it to finish (or remove ${lock} if that process is not a restore)`,
        );
      await unlink(lock).catch(() => undefined);
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

async function restoreUnlocked(options: RestoreOptions): Promise<RestoreReport> {
  const verified = await verifyBundle(options.openBundleStream());
  if (!verified.ok || !verified.manifest) throw new BundleNotVerifiedError(verified);
  const manifest = verified.manifest;
  if (manifest.bundleFormat !== 'maildir') {
    throw new RestoreUnsupportedError(
      'restore reads maildir bundles; an mboxrd bundle is for the new provider\'s own importer (export again without "--format mboxrd" to restore over IMAP)',
    );
  }
  const wanted = selectFolders(manifest, options.folders);
  const session = new Session(options);
  const runs = new Map<string, FolderRun>();
  for (const folder of wanted) {
    const messages = manifest.messages
      .filter((m) => m.folder === folder)
      .map(
        (message): Planned => ({
          message,
          imapSize: 0,
          imapSha256: '',
          flags: [...new Set(message.flags)],
          internalDateSecs: Math.floor(Date.parse(message.receivedAt) / 1000),
          state: 'pending',
        }),
      );
    runs.set(folder, { name: folder, target: folder, messages, claimed: new Set(), unclaimed: new Map() });
  }
  const all = [...runs.values()].flatMap((r) => r.messages);
  const byFile = new Map(all.map((p) => [p.message.file, p]));
  // First read: size and sha256 of every message as it will be appended (the server check needs both).
  for await (const { file, bytes } of readMessageFiles(
    options.source,
    new Set(byFile.keys()),
    options.openBundleStream,
  )) {
    const planned = byFile.get(file);
    if (!planned) continue;
    const imapBytes = toImapLineEndings(bytes);
    planned.read = true;
    planned.imapSize = imapBytes.length;
    planned.imapSha256 = sha256(imapBytes);
    if (imapBytes.indexOf(0) >= 0) planned.highBitSha256 = sha256(nulAsHighBit(imapBytes));
  }
  const missing = all.filter((p) => !p.read);
  if (missing.length > 0)
    throw new RestoreUnsupportedError(
      `${missing.length} messages of the manifest are not in the bundle (first: ${missing[0]?.message.file})`,
    );
  const progress: RestoreProgress = {
    bytesDone: 0,
    bytesTotal: all.reduce((sum, p) => sum + p.imapSize, 0),
    messagesDone: 0,
    messagesTotal: all.length,
    moved: 0,
    alreadyThere: 0,
    refused: 0,
  };
  const refusals: Refusal[] = [];
  const state = await StateFile.open(options.statePath, manifest, options.dryRun ?? false);
  try {
    await session.run(async (client) => {
      const mapping = await mapFolders(client, [...runs.keys()]);
      for (const run of runs.values()) run.target = mapping.get(run.name) ?? run.name;
    });
    for (const run of runs.values()) await inventory(session, run, state, options.dryRun ?? false);

    const advance = (planned: Planned) => {
      progress.messagesDone += 1;
      progress.bytesDone += planned.imapSize;
      options.onProgress?.({ ...progress });
    };
    for (const planned of all) {
      if (planned.state !== 'there') continue;
      progress.alreadyThere += 1;
      advance(planned);
    }
    // Second read: what is not there yet, appended in bundle order.
    const pending = new Set(all.filter((p) => p.state === 'pending').map((p) => p.message.file));
    let stoppedForQuota: string | undefined;
    for await (const { file, bytes } of readMessageFiles(options.source, pending, options.openBundleStream)) {
      const planned = byFile.get(file);
      const run = planned && runs.get(planned.message.folder);
      if (!planned || !run) continue;
      if (options.dryRun) {
        progress.moved += 1; // would be moved
      } else {
        const outcome = await appendOne(session, run, planned, toImapLineEndings(bytes), state);
        if (outcome.refusal) {
          refusals.push(outcome.refusal);
          progress.refused += 1;
          options.log?.(
            `refused: ${run.name} UID ${planned.message.uid} (${planned.imapSize} bytes): ${outcome.refusal.serverText}`,
          );
        } else {
          progress.moved += 1;
        }
        // Over quota, every further APPEND would be refused the same way: stop, and let a later run go on.
        if (outcome.refusal?.reason === 'quota') {
          stoppedForQuota = outcome.refusal.serverText;
          options.log?.(
            'stopping: the server is refusing mail for quota; run the same command again once there is room',
          );
          advance(planned);
          break;
        }
      }
      advance(planned);
    }

    const report: RestoreReport = {
      dryRun: options.dryRun ?? false,
      folders: [],
      messages: all.length,
      moved: progress.moved,
      alreadyThere: progress.alreadyThere,
      refused: refusals,
      verified: 0,
      notVerified: [],
      nulAsHighBit: 0,
      reconnects: 0,
      statePath: options.statePath,
      ...(stoppedForQuota ? { stoppedForQuota } : {}),
      notAttempted: options.dryRun ? 0 : all.filter((p) => p.state === 'pending').length,
    };
    // Verified over a new connection, and dates before 1970 once more over another: Dovecot 2.3.19 gave a 1958
    // INTERNALDATE back to the appending session and to the next one, and 2094 (unsigned 32-bit) to every later
    // one. Only a later session sees what the server really keeps.
    await session.close();
    if (!options.dryRun) {
      await verifyOnTarget(session, [...runs.values()], report, options.verifyBatch);
      await session.close();
      await recheckOldDates(session, [...runs.values()], report);
    }
    for (const run of runs.values()) {
      const count = (s: Planned['state']) => run.messages.filter((p) => p.state === s).length;
      report.folders.push({
        folder: run.name,
        target: run.target,
        inBundle: run.messages.length,
        // In a dry run nothing is moved: the column is what would be.
        moved: count(options.dryRun ? 'pending' : 'moved'),
        alreadyThere: count('there'),
        refused: count('refused'),
        verified: run.messages.filter((p) => p.verified).length,
      });
    }
    report.reconnects = session.reconnects;
    return report;
  } catch (error) {
    throw explainCommandError(error);
  } finally {
    await session.close();
    await state.close();
  }
}

function selectFolders(manifest: BundleManifest, only: string[] | undefined): string[] {
  const names = manifest.folders.map((f) => f.name);
  if (!only?.length) return names;
  const key = (n: string) => (n.toUpperCase() === 'INBOX' ? 'INBOX' : n);
  const unknown = only.filter((o) => !names.some((n) => key(n) === key(o)));
  if (unknown.length)
    throw new RestoreUnsupportedError(
      `no folder ${unknown.map((u) => JSON.stringify(u)).join(', ')} in the bundle (it has: ${names.join(', ')})`,
    );
  return names.filter((n) => only.some((o) => key(o) === key(n)));
}

const SPECIAL_USE: Record<string, string> = {
  sent: '\\Sent',
  junk: '\\Junk',
  drafts: '\\Drafts',
  trash: '\\Trash',
};

/**
 * Bundle folder -> target path. Sent, Junk, Drafts and Trash go to the folder the server marks with that
 * special-use attribute (RFC 6154; the server's LIST flags, never a guess from names); INBOX is INBOX; any other
 * folder keeps its name, levels joined with the server's delimiter under its personal namespace prefix.
 */
export async function mapFolders(client: ImapFlow, folders: string[]): Promise<Map<string, string>> {
  const listed = await client.list();
  const delimiter = client.namespace?.delimiter || listed[0]?.delimiter || '/';
  const prefix = client.namespace?.prefix ?? '';
  const out = new Map<string, string>();
  for (const folder of folders) {
    if (folder.toUpperCase() === 'INBOX') {
      out.set(folder, 'INBOX');
      continue;
    }
    const use = SPECIAL_USE[folder.toLowerCase()];
    const special = use && listed.find((l) => l.flags.has(use));
    if (special) {
      out.set(folder, special.path);
      continue;
    }
    const levels = folder.split('/').map((level) => level.split(delimiter).join('_'));
    out.set(folder, `${prefix}${levels.join(delimiter)}`);
  }
  return out;
}

/** Per folder: create it if missing, then attribute target messages to bundle messages (state, then size). */
async function inventory(session: Session, run: FolderRun, state: StateFile, dryRun: boolean) {
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

/**
 * CREATE of a bundle folder's target. Some servers refuse characters in a name (Dovecot with a maildir and the
 * "/" separator refuses ".": `NO [CANNOT] Character not allowed in mailbox name: '.'`); the name is then tried
 * once with "." written as "_" in each level (as the exporter names such a folder in its own Maildir), so a
 * later run maps it the same way. Still refused: TargetRefusedError with the server's words.
 */
async function createFolder(client: ImapFlow, run: FolderRun, log?: (line: string) => void) {
  try {
    await client.mailboxCreate(run.target);
    return;
  } catch (error) {
    if (!isCommandAnswer(error) || !run.target.includes('.')) throw explainCommandError(error);
    const alternative = withoutDots(run.target, client.namespace?.delimiter || '/');
    const listed = await client.list();
    if (!listed.some((l) => l.path === alternative)) {
      try {
        await client.mailboxCreate(alternative);
      } catch (second) {
        throw new TargetRefusedError(
          `the IMAP server refuses to create folder ${JSON.stringify(run.target)} (${serverWords(error)}) and ${JSON.stringify(alternative)} (${serverWords(second)}) for bundle folder ${JSON.stringify(run.name)}; restore the other folders with --folder`,
          { cause: second },
        );
      }
    }
    log?.(
      `folder ${JSON.stringify(run.name)}: the server refuses the name ${JSON.stringify(run.target)} (${serverWords(error)}); using ${JSON.stringify(alternative)}`,
    );
    run.target = alternative;
  }
}

/** A folder path with "." written as "_" in every level (the delimiter itself is kept). */
function withoutDots(path: string, delimiter: string): string {
  return path
    .split(delimiter)
    .map((level) => level.replaceAll('.', '_'))
    .join(delimiter);
}

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

/**
 * APPENDs one message. After a disconnect during the APPEND, the folder is looked at again first: the message may
 * have landed without its answer reaching us, and is then found by size and sha256 instead of appended twice.
 */
async function appendOne(
  session: Session,
  run: FolderRun,
  planned: Planned,
  imapBytes: Buffer,
  state: StateFile,
): Promise<{ refusal?: Refusal }> {
  let sent = false;
  try {
    const uid = await session.run(async (client, fresh) => {
      if (fresh && sent) {
        await inventory(session, run, state, false);
        if (planned.state === 'there') return planned.targetUid;
      }
      if (client.mailbox === false || client.mailbox?.path !== run.target) {
        const box = await client.mailboxOpen(run.target);
        run.uidValidity = box.uidValidity;
      }
      sent = true;
      const appended = await client.append(
        run.target,
        imapBytes,
        planned.flags,
        new Date(planned.internalDateSecs * 1000),
      );
      if (!appended) throw new Error('APPEND was not sent (the connection is not authenticated)');
      if (appended.uidValidity !== undefined) run.uidValidity = appended.uidValidity;
      return appended.uid;
    });
    planned.state = 'moved';
    planned.targetUid = uid;
    if (uid !== undefined) run.claimed.add(uid);
    await state.record(run, planned);
    return {};
  } catch (error) {
    const refused = refusalOf(error);
    if (!refused) throw error;
    planned.state = 'refused';
    return {
      refusal: {
        folder: run.name,
        uid: planned.message.uid,
        sha256: planned.message.sha256,
        size: planned.imapSize,
        ...refused,
      },
    };
  }
}

/** A tagged NO or BAD to one command: that message's refusal, not a reason to reconnect. */
function refusalOf(error: unknown): { reason: RefusalReason; serverText: string } | undefined {
  const e = error as {
    responseStatus?: string;
    responseText?: string;
    serverResponseCode?: string;
    code?: string;
  };
  if (e.code === 'ETHROTTLE') return undefined;
  const code = (e.serverResponseCode ?? '').toUpperCase();
  if (code === 'APPENDLIMIT') {
    return { reason: 'too large', serverText: errorMessage(error) };
  }
  if (e.responseStatus !== 'NO' && e.responseStatus !== 'BAD') return undefined;
  if (TEMPORARY_CODES.has(code)) return undefined;
  const text = `${e.responseStatus}${code ? ` [${code}]` : ''} ${(e.responseText ?? '').replace(/\s*\(\d+\.\d+ \+ \d+\.\d+(?: \+ \d+\.\d+)? secs\)\.?$/, '')}`;
  const reason: RefusalReason =
    code === 'LIMIT' || code === 'TOOBIG' || /too (large|big)|size|exceed.*limit/i.test(e.responseText ?? '')
      ? 'too large'
      : code === 'OVERQUOTA' || /quota/i.test(e.responseText ?? '')
        ? 'quota'
        : 'rejected';
  return { reason, serverText: text.trim() };
}
/** RFC 5530 codes that mean "try again later". */
const TEMPORARY_CODES = new Set(['INUSE', 'UNAVAILABLE', 'SERVERBUG']);

/** Fetches every restored message back in batches; compares sha256, INTERNALDATE (seconds) and flags. */
async function verifyOnTarget(
  session: Session,
  runs: FolderRun[],
  report: RestoreReport,
  limits: RestoreOptions['verifyBatch'],
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
        const got = new Map<number, { source?: Buffer; binary?: Buffer; flags: string[]; date?: Date }>();
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

/** Dates before 1970 fetched again in a new session (see above); a changed one is not verified. */
async function recheckOldDates(session: Session, runs: FolderRun[], report: RestoreReport) {
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

function checkOne(
  p: Planned,
  got: { source?: Buffer; binary?: Buffer; flags: string[]; date?: Date } | undefined,
): string | undefined {
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
  const served_flags = got.flags.filter((f) => f !== '\\Recent').sort();
  const expected = [...p.flags].sort();
  if (served_flags.join(' ') !== expected.join(' '))
    problems.push(`flags ${served_flags.join(' ') || '(none)'} != ${expected.join(' ') || '(none)'}`);
  if (problems.length) return problems.join('; ');
  return nulNote;
}

/**
 * One IMAP connection that comes back: `run(fn)` gives `fn` a connected client; on a connection failure or
 * throttling it waits (doubling from `firstDelayMs`, at most 30 s), connects again and calls `fn` again with
 * `fresh` true. A tagged NO/BAD is `fn`'s to handle: it is thrown to the caller as it is.
 */
class Session {
  private client: ImapFlow | undefined;
  reconnects = 0;
  /** Set once a connection logged in: before that, a failure to connect is a wrong address, not an outage. */
  private connectedOnce = false;
  private where = 'the target';
  private readonly attempts: number;
  private readonly firstDelayMs: number;

  constructor(private readonly options: RestoreOptions) {
    this.attempts = options.retry?.attempts ?? 8;
    this.firstDelayMs = options.retry?.firstDelayMs ?? 1000;
  }

  get log(): ((line: string) => void) | undefined {
    return this.options.log;
  }

  async run<T>(fn: (client: ImapFlow, fresh: boolean) => Promise<T>): Promise<T> {
    let failures = 0;
    let fresh = false;
    for (;;) {
      try {
        if (!this.client?.usable) {
          if (this.client) {
            this.reconnects += 1;
            this.client.close();
          }
          this.client = undefined;
          const client = this.options.newClient();
          this.where = `${client.host}:${client.port}`;
          client.on('error', () => undefined);
          try {
            await client.connect();
          } catch (error) {
            // A client that failed to connect or log in still holds its socket: left open, it kept the
            // process alive after the error was printed (a wrong password hung the command).
            client.close();
            throw whyNotConnected(error, client, this.connectedOnce);
          }
          this.client = client;
          this.connectedOnce = true;
          fresh = true;
        }
        return await fn(this.client, fresh);
      } catch (error) {
        if (isCommandAnswer(error) || error instanceof TargetLoginError) throw error;
        // Never reached at all: a wrong host, port or TLS setting. Waiting and trying again changes nothing.
        if (error instanceof TargetUnreachableError) throw error;
        failures += 1;
        if (this.client) {
          this.client.close();
        }
        // Before any login succeeded, a server that keeps closing the connection is not an outage to wait
        // out for minutes: three tries, then what it did.
        const attempts = this.connectedOnce ? this.attempts : Math.min(this.attempts, FIRST_CONNECT_ATTEMPTS);
        if (failures >= attempts) {
          throw new TargetUnreachableError(
            this.connectedOnce
              ? `the IMAP server ${this.where} failed ${failures} times in a row; last: ${errorMessage(error)}`
              : `no IMAP session with ${this.where} after ${failures} tries (last: ${describe(error)}): check the host, the port and imaps:// or imap://`,
            { cause: error },
          );
        }
        const throttle = (error as { throttleReset?: number }).throttleReset;
        const delay = Math.min(30_000, Math.max(throttle ?? 0, this.firstDelayMs * 2 ** (failures - 1)));
        this.options.log?.(
          `${(error as { code?: string }).code === 'ETHROTTLE' ? 'throttled' : this.connectedOnce ? 'connection lost' : 'could not connect'} (${describe(error)}); reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${failures + 1} of ${attempts})`,
        );
        await new Promise((r) => setTimeout(r, delay));
        if (this.client) this.reconnects += 1;
        this.client = undefined;
      }
    }
  }

  async close() {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    try {
      if (client.usable) await client.logout();
    } catch {
      client.close();
    }
  }
}

/**
 * Why a connection failed, for the user. A login refusal is TargetLoginError (with the server's words). Before any
 * connection of this run logged in, a refused connection, an unknown host, a TLS mismatch or a port that does not
 * greet like IMAP is TargetUnreachableError naming host and port and what to check; otherwise (a connection lost
 * mid-run) the error is returned as it is, to be retried.
 */
function whyNotConnected(error: unknown, client: ImapFlow, connectedOnce: boolean): unknown {
  const e = error as { authenticationFailed?: boolean; code?: string; message?: string };
  const where = `${client.host}:${client.port}`;
  if (e.authenticationFailed)
    return new TargetLoginError(`the IMAP server ${where} refused the login: ${serverWords(error)}`, {
      cause: error,
    });
  if (connectedOnce) return error;
  const code = e.code ?? '';
  const tls = client.secureConnection;
  const hint =
    code === 'ECONNREFUSED'
      ? 'nothing accepts connections there: check the host and the port (imaps:// is 993 by default, imap:// 143)'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'no such host: check the name after the last @'
        : code === 'GREETING_TIMEOUT'
          ? tls
            ? 'the server sent no IMAP greeting over TLS: is that an IMAP port?'
            : 'the server sent no IMAP greeting: is that an IMAP port? A TLS-only port (993) needs imaps://'
          : /SSL|TLS|certificate|EPROTO/i.test(`${code} ${e.message ?? ''}`)
            ? tls
              ? 'TLS failed: if the port speaks plain IMAP (or STARTTLS), use imap:// instead of imaps://'
              : `TLS failed: ${e.message ?? code}`
            : undefined;
  if (!hint) return error;
  return new TargetUnreachableError(
    `cannot reach the IMAP server ${where} (${describe(error).trim()}): ${hint}`,
    {
      cause: error,
    },
  );
}

/** The server's own words of a tagged NO/BAD (`NO [CANNOT] Character not allowed ...`), timings removed. */
function serverWords(error: unknown): string {
  const e = error as { responseStatus?: string; responseText?: string; serverResponseCode?: string };
  if (!e.responseStatus) return errorMessage(error);
  const code = e.serverResponseCode ? ` [${e.serverResponseCode}]` : '';
  const text = (e.responseText ?? '').replace(/\s*\(\d+\.\d+ \+ \d+\.\d+(?: \+ \d+\.\d+)? secs\)\.?$/, '');
  return `${e.responseStatus}${code} ${text}`.trim();
}

/**
 * imapflow rejects a refused command with "Command failed" alone; the user needs the command and the server's
 * words. Errors of ours, and anything that is not a server's answer, pass unchanged.
 */
function explainCommandError(error: unknown): unknown {
  const e = error as { responseStatus?: string; executedCommand?: string };
  if (!(error instanceof Error) || error.name !== 'Error' || !e.responseStatus) return error;
  // The tag first, then the command; an APPEND's literal never gets here (refusals are per message).
  const command = (e.executedCommand ?? '')
    .split(/\r?\n/)[0]
    ?.replace(/^\S+\s+/, '')
    .slice(0, 200);
  return new TargetRefusedError(
    `the IMAP server refused ${command ? JSON.stringify(command) : 'a command'}: ${serverWords(error)}`,
    { cause: error },
  );
}

function isCommandAnswer(error: unknown): boolean {
  const e = error as {
    responseStatus?: string;
    serverResponseCode?: string;
    authenticationFailed?: boolean;
    code?: string;
  };
  if (e.authenticationFailed) return true;
  // Throttling (Microsoft 365 answers "BAD Request is throttled. Suggested Backoff Time: N milliseconds").
  if (e.code === 'ETHROTTLE') return false;
  if (e.serverResponseCode === 'APPENDLIMIT') return true;
  if (e.responseStatus !== 'NO' && e.responseStatus !== 'BAD') return false;
  return !TEMPORARY_CODES.has((e.serverResponseCode ?? '').toUpperCase());
}

function describe(error: unknown): string {
  const e = error as { code?: string; message?: string; responseText?: string };
  return [e.code, e.responseText ?? e.message].filter(Boolean).join(': ');
}

/**
 * The state file: JSON Lines, one header line naming the bundle, then one line per message attributed on the
 * target: bundle folder, bundle UID, sha256, the target folder's UIDVALIDITY and the message's target UID.
 * Appended after every APPEND; a torn last line (a killed run) is ignored. An entry counts only while the
 * folder's UIDVALIDITY is unchanged and the UID still exists; otherwise the server check decides.
 */
class StateFile {
  private readonly entries = new Map<string, { uidValidity: string; uid: number }>();
  private handle: FileHandle | undefined;

  static async open(path: string, manifest: BundleManifest, dryRun: boolean): Promise<StateFile> {
    const state = new StateFile();
    let text = '';
    if (existsSync(path)) {
      text = await readFile(path, 'utf8');
      for (const line of text.split('\n')) {
        try {
          const entry = JSON.parse(line) as { f?: string; u?: number; h?: string; v?: string; t?: number };
          if (entry.f !== undefined && entry.u !== undefined && entry.h && entry.v && entry.t)
            state.entries.set(StateFile.key(entry.f, entry.u, entry.h), {
              uidValidity: entry.v,
              uid: entry.t,
            });
        } catch {
          // a torn line from a run that was killed while writing
        }
      }
    }
    if (dryRun) return state;
    await mkdir(dirname(path), { recursive: true });
    state.handle = await open(path, 'a', 0o600);
    if (text === '')
      await state.handle.write(
        `${JSON.stringify({ version: STATE_VERSION, mailbox: manifest.mailbox, bundleCreatedAt: manifest.createdAt })}\n`,
      );
    else if (!text.endsWith('\n')) await state.handle.write('\n'); // end a torn line before adding to it
    return state;
  }

  /** Creates the file (and its directory) if missing and opens it for appending, or says why it cannot. */
  static async checkWritable(path: string): Promise<void> {
    try {
      if (!existsSync(dirname(path))) await mkdir(dirname(path), { recursive: true });
      const handle = await open(path, 'a', 0o600);
      await handle.close();
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new RestoreStateError(
        `cannot write the restore state file ${path} (${code ?? errorMessage(error)}): give a writable place with --state FILE`,
        { cause: error },
      );
    }
  }

  private static key(folder: string, uid: number, sha: string) {
    return `${folder}\u0000${uid}\u0000${sha}`;
  }

  lookup(folder: string, message: ManifestMessage, uidValidity: bigint): number | undefined {
    const entry = this.entries.get(StateFile.key(folder, message.uid, message.sha256));
    return entry && entry.uidValidity === String(uidValidity) ? entry.uid : undefined;
  }

  async record(run: FolderRun, planned: Planned) {
    if (!this.handle || planned.targetUid === undefined || run.uidValidity === undefined) return;
    const key = StateFile.key(run.name, planned.message.uid, planned.message.sha256);
    const value = { uidValidity: String(run.uidValidity), uid: planned.targetUid };
    this.entries.set(key, value);
    await this.handle.write(
      `${JSON.stringify({ f: run.name, u: planned.message.uid, h: planned.message.sha256, v: value.uidValidity, t: value.uid })}\n`,
    );
  }

  async close() {
    await this.handle?.close();
    this.handle = undefined;
  }
}

/**
 * Message files of the bundle, in bundle order, read whole (one at a time). A bundle file is read with the bundle
 * rule's reader (shared/bundle/entries.ts) under its limits; in a directory a file is opened without following a
 * link, and must be a regular file (verify checked the tree, but it may have changed since).
 */
async function* readMessageFiles(
  source: BundleSource,
  files: Set<string>,
  openBundleStream: () => Readable,
): AsyncGenerator<{ file: string; bytes: Buffer }> {
  if (files.size === 0) return;
  if (source.kind === 'directory') {
    for (const file of files) {
      const handle = await open(join(source.path, file), constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        if (!(await handle.stat()).isFile())
          throw new UnsafeBundleError(source.path, [`${file}: not a regular file`]);
        yield { file, bytes: await handle.readFile() };
      } finally {
        await handle.close();
      }
    }
    return;
  }
  const damage: string[] = [];
  for await (const entry of readBundleEntries(openBundleStream(), DEFAULT_BUNDLE_LIMITS, damage)) {
    const path = entryPath(entry.path);
    if ((entry.type !== 'File' && entry.type !== 'OldFile') || !files.has(path)) continue;
    const chunks: Buffer[] = [];
    for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
    yield { file: path, bytes: Buffer.concat(chunks) };
  }
}

/**
 * What is appended: the message with every bare CR and bare LF written as CRLF. IMAP carries RFC 5322 text, whose
 * lines end in CRLF ("CR and LF MUST only occur together as CRLF", RFC 5322 section 2.3). A bundle stores
 * CRLF-only messages with LF, so those come back to their original bytes; only messages that had bare CR or LF
 * differ from their original, by their line endings alone. Dovecot does the same to a bare LF on APPEND and drops
 * a final bare CR, so appending the bytes unchanged could not be verified anyway.
 */
export function toImapLineEndings(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 13) {
      if (bytes[i + 1] === 10) {
        i += 1;
        continue;
      }
    } else if (b !== 10) {
      continue;
    }
    parts.push(bytes.subarray(start, i), CRLF);
    start = i + 1;
  }
  if (start === 0) return bytes;
  parts.push(bytes.subarray(start));
  return Buffer.concat(parts);
}
const CRLF = Buffer.from('\r\n');

function nulAsHighBit(bytes: Buffer): Buffer {
  if (bytes.indexOf(0) < 0) return bytes;
  const out = Buffer.from(bytes);
  for (let i = out.indexOf(0); i >= 0; i = out.indexOf(0, i + 1)) out[i] = 0x80;
  return out;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function* batches<T>(
  items: T[],
  maxItems: number,
  maxBytes: number,
  sizeOf: (item: T) => number,
): Generator<T[]> {
  let batch: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (batch.length > 0 && (batch.length >= maxItems || bytes + sizeOf(item) > maxBytes)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(item);
    bytes += sizeOf(item);
  }
  if (batch.length) yield batch;
}
