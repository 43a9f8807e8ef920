// Restore: every message of a maildir bundle appended to an IMAP server (a new provider), then fetched back and
// checked. Identity is the bundle's own (sha256 of the bytes), never the Message-ID: two different messages that
// share a Message-ID are both moved, and the same bytes twice are moved twice. Resumable and idempotent: a small
// state file records each append (with the server's APPENDUID), and where the state is missing the server is
// checked by RFC822.SIZE, then by sha256 of what it serves.
//
// This file runs the steps; each mechanism has its own file in this folder: plan.ts (what to move), lock.ts and
// state-file.ts (one run per state, what earlier runs did), session.ts (the connection and reconnects),
// folders.ts (folder mapping), inventory.ts (what the server already holds), append.ts and refusals.ts (APPEND and
// what a NO means), verify-target.ts (the check after).
//
// Rules this module relies on: RFC 3501/9051 APPEND (flags, INTERNALDATE; a literal carries CRLF lines),
// RFC 3516 BINARY (literal8 for NUL bytes; imapflow uses it when the server offers BINARY), RFC 4315 UIDPLUS
// (APPENDUID), RFC 6154 special use (\Sent \Junk \Drafts \Trash on LIST), RFC 5530 response codes
// ([LIMIT], [TOOBIG], [OVERQUOTA], [INUSE], [UNAVAILABLE]).
import type { ImapFlow } from 'imapflow';
import { type BundleSource, openBundle } from '../bundle/source';
import { verifyBundle } from '../bundle/verify';
import { toImapLineEndings } from '../mail/lines';
import { appendOne } from './append';
import { readMessageFiles, whereIs } from './bundle-files';
import { BundleNotVerifiedError, RestoreUnsupportedError } from './errors';
import { mapFolders } from './folders';
import { inventory } from './inventory';
import { lockState } from './lock';
import { type Planned, planRuns, selectFolders } from './plan';
import { explainCommandError, nextStep } from './refusals';
import type { Refusal, RestoreProgress, RestoreReport } from './report';
import { Session } from './session';
import { StateFile } from './state-file';
import { recheckOldDates, verifyOnTarget } from './verify-target';

export interface RestoreOptions {
  /** The bundle: its file, or the directory it was unpacked into (shared/bundle/source.ts). */
  source: BundleSource;
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

/**
 * Restores a maildir bundle into an IMAP server.
 * Order: `verifyBundle` (throws BundleNotVerifiedError before any connection), LIST and special-use mapping,
 * per folder an inventory (state file, then size and sha256 of unclaimed server messages), APPEND of what is
 * missing (in bundle order, with flags and INTERNALDATE), then a verification FETCH in batches.
 * Connection failures and throttling reconnect with back-off and go on (TargetUnreachableError after
 * `retry.attempts` consecutive failures); a NO to one APPEND is recorded as that message's refusal.
 * Throws RestoreStateError when the state file cannot be written or another run holds it.
 */
export async function restoreBundle(options: RestoreOptions): Promise<RestoreReport> {
  if (options.dryRun) return restoreUnlocked(options);
  // Before the minutes a large bundle's checks take: a state file that cannot be written stops nothing midway.
  await StateFile.checkWritable(options.statePath);
  const release = await lockState(options.statePath);
  try {
    return await restoreUnlocked(options);
  } finally {
    await release();
  }
}

async function restoreUnlocked(options: RestoreOptions): Promise<RestoreReport> {
  const verified = await verifyBundle(openBundle(options.source), undefined, { keepProofs: false });
  if (!verified.ok || !verified.manifest) throw new BundleNotVerifiedError(verified);
  const manifest = verified.manifest;
  if (manifest.bundleFormat !== 'maildir') {
    throw new RestoreUnsupportedError(
      'restore reads maildir bundles; an mboxrd bundle is for the new provider\'s own importer (export again without "--format mboxrd" to restore over IMAP)',
    );
  }
  const session = new Session(options);
  const runs = await planRuns(manifest, selectFolders(manifest, options.folders), options.source);
  const all = [...runs.values()].flatMap((r) => r.messages);
  const byFile = new Map(all.map((p) => [p.message.file, p]));
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
      for (const run of runs.values()) {
        const found = mapping.get(run.name);
        if (!found) continue;
        run.target = found.target;
        run.match = found.match;
        if (found.use) run.use = found.use;
      }
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
    for await (const { file, bytes } of readMessageFiles(options.source, pending)) {
      const planned = byFile.get(file);
      const run = planned && runs.get(planned.message.folder);
      if (!planned || !run) continue;
      if (options.dryRun) {
        progress.moved += 1; // would be moved
      } else {
        const { refused } = await appendOne(session, run, planned, toImapLineEndings(bytes), state);
        if (refused) {
          refusals.push({
            folder: run.name,
            uid: planned.message.uid,
            sha256: planned.message.sha256,
            file: planned.message.file,
            size: planned.imapSize,
            ...refused,
            nextStep: nextStep(refused, whereIs(options.source, planned.message.file), manifest.mailbox),
          });
          progress.refused += 1;
          options.log?.(
            `refused: ${run.name} UID ${planned.message.uid} (${planned.imapSize} bytes): ${refused.serverText}`,
          );
        } else {
          progress.moved += 1;
        }
        // Over quota, every further APPEND would be refused the same way: stop, and let a later run go on.
        if (refused?.reason === 'quota') {
          stoppedForQuota = refused.serverText;
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
      altered: [],
      notVerified: [],
      nulAsHighBit: 0,
      reconnects: 0,
      statePath: options.statePath,
      ...(stoppedForQuota ? { stoppedForQuota } : {}),
      notAttempted: options.dryRun ? 0 : all.filter((p) => p.state === 'pending').length,
    };
    // Verified over a new connection, and dates before 1970 once more over another (see recheckOldDates).
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
        match: run.match,
        ...(run.use ? { use: run.use } : {}),
        created: run.created ?? false,
        inBundle: run.messages.length,
        // In a dry run nothing is moved: the column is what would be.
        moved: count(options.dryRun ? 'pending' : 'moved'),
        alreadyThere: count('there'),
        refused: count('refused'),
        verified: run.messages.filter((p) => p.verified).length,
        altered: run.messages.filter((p) => p.altered).length,
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
