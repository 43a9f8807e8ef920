// `mail-archiver sync`: a replica of the archive's mailboxes on the user's own disk, kept current from the delivery
// log (shared/delivery-log). Each run lists the log after its cursor (one LIST when nothing is new, and no journal
// read) and reads the new log objects in steps of up to 1,000 records, the next step's objects read while a step is
// applied. A step downloads each new delivery's raw object once into the tmp/ of every folder that holds it, checks
// it against the record's sha256, fsyncs it (fetch.ts), puts the files into cur/ under Dovecot's uidlist lock with
// the uidlist rewritten (folder.ts), appends the records to each mailbox's journal, and only then moves the cursor
// (state.ts); the next step's downloads go on meanwhile, and steps commit one at a time, in order (pipeline.ts).
// Each mailbox's manifest is rewritten once, at the end of the run, from its journal. What a run holds of a
// mailbox it writes to is a compact index built from its journal (mailbox-index.ts), not its records. A run killed
// anywhere ends, on the next run, with the same tree: the records after the saved cursor are read again and each
// is either found in place (in-place.ts) or written again under the same name.
//
// It never destroys: nothing upstream is deleted through it, a message gone upstream stays in the replica, a
// record whose object cannot be read or whose bytes do not match is reported and tried again on the next run,
// and a UID that the replica already holds under another file stops the run (it never renumbers).
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectoryWriteOnceStore } from '../adapters/dir-write-once-store';
import { takeLock } from '../adapters/pid-lock';
import { bundleFolderPath } from '../bundle/layout';
import { advanceCursor } from '../delivery-log/layout';
import type { DeliveryLog } from '../delivery-log/log';
import type { DeliveryRecord } from '../delivery-log/record';
import { errorMessage, errorName, networkFailure } from '../errors';
import type { RawMailStore, WriteOnceStore } from '../ports';
import { sealedLogCursor } from '../transparency/leaf';
import { type MirrorResult, mirrorLog } from '../transparency/replica-log';
import { checkReplicaDirectory } from './directory';
import { ReplicaProgressError } from './errors';
import { type FetchSlots, type FetchTarget, fetchAll, fetchSlots, ObjectMissingError } from './fetch';
import { writeDueMailboxFiles } from './mailbox-files';
import { MailboxIndex } from './mailbox-index';
import { type PipelineStep, StepPipeline } from './pipeline';
import { type MailboxPlan, MailboxState, planMailbox } from './plan';
import { newReport, type SyncNotice, type SyncProblem, type SyncReport } from './report';
import { applyLeaves, readsNothingYet } from './sealed';
import { loadProgress, type StartContext, startOverDamaged } from './start-over';
import { type ReplicaProgress, type ReplicaRun, replicaPaths, writeProgress } from './state';
import { commitMailbox, readyFolders } from './step';
import { dropParsed, UnparsedObjects } from './unparsed';

/** Where a replica reads from: the archive's delivery log and raw store. */
export interface ReplicaSource {
  log: DeliveryLog;
  store: RawMailStore;
  /** `local` or `aws`: kept in the progress file (a replica copies one archive). */
  target: string;
  /** The archive's transparency log, read only: copied into the replica, which witnesses it (replica-log.ts). */
  transparency?: WriteOnceStore;
}

export interface SyncOptions {
  /** The replica directory (created when missing; an existing one must be empty or a replica). */
  dir: string;
  /** Only these mailboxes (addresses); all when absent or empty. */
  mailboxes?: readonly string[];
  /** Left out when `mailboxes` is empty (the CLI: the canary's); what the replica holds of them is kept. */
  skip?: readonly string[];
  /** Raw objects read at a time, and log objects read at a time (ahead, while a step is applied). @default 8 */
  concurrency?: number;
  /** Records applied per step (a step ends with the cursor saved). @default 1000 */
  stepRecords?: number;
  now?: () => Date;
  /** Called as messages are written: `done` of `seen` records so far (the total grows as the log is read). */
  onProgress?: (progress: { done: number; seen: number; bytes: number }) => void;
  /** Called with each problem as it is found (they are in the report too). */
  onProblem?: (problem: SyncProblem) => void;
  /** Called with what the run repaired itself (a damaged progress file rebuilt), as it is found. */
  onNotice?: (notice: SyncNotice) => void;
  /**
   * Check every message file of the replica against its record and download again what is missing or changed
   * (edited by hand, a bad disk): the progress and the journals are kept aside and rebuilt from the tree and the
   * log, as for a damaged progress file. Reads every record again (from the transparency log's entry bundles when
   * sealed) and hashes every file.
   */
  repair?: boolean;
  /** The replica exists already (a watch's later runs): a directory gone since is an error, not made again. */
  existing?: boolean;
  /** Stop reading again and reporting the log objects earlier runs found lines in that do not parse (unparsed.ts). */
  acceptUnparsed?: boolean;
}

/**
 * One sync of the replica at `options.dir`. Returns what it did; problems (a record whose object is missing
 * upstream, bytes that do not match, a log line that does not parse) are in the report and the rest is applied.
 * Throws ReplicaDirectoryError (not a replica, another archive's replica), LockHeldError (another sync runs),
 * ReplicaConflictError (a UID or UIDVALIDITY the replica holds otherwise), and what the store or the file system
 * throw (a full disk: the progress is not moved, the next run resumes).
 */
export async function syncReplica(source: ReplicaSource, options: SyncOptions): Promise<SyncReport> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const paths = replicaPaths(options.dir);
  await checkReplicaDirectory(options.dir, options.existing);
  await mkdir(paths.journals, { recursive: true, mode: 0o700 });
  const lock = await takeLock(paths.lock);
  try {
    return await new SyncRun(source, options, startedAt, lock.tookOver).run();
  } finally {
    await lock.release();
  }
}

class SyncRun {
  private readonly paths;
  private readonly now: () => Date;
  private readonly selection: string[] | null;
  private readonly skipped: ReadonlySet<string>; // SyncOptions.skip
  /** The mailboxes this run reads or writes: each one's index, loaded from its journal on first use. */
  private readonly mailboxes = new Map<string, MailboxState>();
  /** The folders whose tmp/ this run cleared of a killed run's leftovers (once, before its first download). */
  private readonly cleaned = new Set<string>();
  /** The mailboxes whose manifest this run marked due (state.ts touchDurably). */
  private readonly filesDue = new Set<string>();
  private readonly report: SyncReport;
  private progress!: ReplicaProgress;
  private seen = 0;
  /** The log objects holding lines that do not parse (unparsed.ts). */
  private readonly unparsed: UnparsedObjects;
  /** The transparency log could not be copied in this run (reported once; not tried again in the same run). */
  private logCopyFailed = false;

  constructor(
    private readonly source: ReplicaSource,
    private readonly options: SyncOptions,
    startedAt: Date,
    tookOver: { pid: number; host: string } | undefined,
  ) {
    this.paths = replicaPaths(options.dir);
    this.now = options.now ?? (() => new Date());
    this.selection = options.mailboxes?.length ? [...new Set(options.mailboxes)].sort() : null;
    this.skipped = new Set(this.selection ? [] : (options.skip ?? []));
    this.report = newReport(options.dir, startedAt, tookOver);
    this.unparsed = new UnparsedObjects(
      source.log,
      () => this.progress,
      (p) => this.problem(p),
      this.report,
    );
  }

  private problem(problem: SyncProblem) {
    this.report.problems.push(problem);
    this.options.onProblem?.(problem);
  }

  private notice(notice: SyncNotice) {
    this.report.notices.push(notice);
    this.options.onNotice?.(notice);
  }

  async run(): Promise<SyncReport> {
    const start: StartContext = {
      dir: this.options.dir,
      paths: this.paths,
      source: { target: this.source.target, bucket: this.source.log.bucket },
      selection: this.selection,
      now: this.now,
      onDamaged: (error, aside) =>
        this.notice({
          kind: 'progress-rebuilt',
          message: `${error.message}: kept in ${aside}; the progress is rebuilt from the tree and the log`,
        }),
      onSelectionChanged: (message) => this.notice({ kind: 'selection-changed', message }),
    };
    this.progress = await loadProgress(start, this.options.repair ?? false);
    try {
      await this.applyLog();
    } catch (error) {
      // A journal is read when the run first writes to its mailbox: one found damaged then is set aside with the
      // progress, and the replica rebuilt from the tree and the log (what is in place is kept, not fetched again).
      if (!(error instanceof ReplicaProgressError)) throw error;
      this.progress = await startOverDamaged(start, error, this.progress);
      this.mailboxes.clear();
      this.filesDue.clear();
      await this.applyLog();
    }
    await this.copyLog();
    const ended = this.now();
    this.report.endedAt = ended.toISOString();
    this.report.ok = this.report.problems.length === 0;
    this.report.pending = this.progress.retry.length;
    this.report.mailboxes = [...this.mailboxes.keys()].sort();
    const run: ReplicaRun = {
      startedAt: this.report.startedAt,
      endedAt: this.report.endedAt,
      ok: this.report.ok,
      added: this.report.added,
      problems: this.report.problems.length,
    };
    this.progress.lastRun = run;
    if (run.ok) this.progress.lastSuccess = run;
    await writeProgress(this.paths.progress, this.progress);
    return this.report;
  }

  /**
   * Reads the log from the cursor and applies it in steps (the first sync from the transparency log's entry
   * bundles), then writes the manifests due.
   */
  private async applyLog(): Promise<void> {
    const stepRecords = this.options.stepRecords ?? 1000;
    const concurrency = this.options.concurrency ?? 8;
    const retry = this.progress.retry;
    this.progress.retry = [];
    // The records to try again go with the first step applied (and back into the retry list if they fail again).
    // The next step's log objects are read, and its downloads run, while the step before commits (pipeline.ts: the
    // cursor moves in order). A step that fails is thrown at the next push, before anything later is committed.
    const pipeline = new StepPipeline();
    const slots = fetchSlots(concurrency);
    const apply = (records: DeliveryRecord[], read: string[], parsedNow: string[] = []) =>
      pipeline.push(() => this.startStep(records, read, slots, pipeline, parsedNow));
    const sealed =
      readsNothingYet(this.progress.cursor) &&
      (await this.applySealed(stepRecords, retry, (records) => apply(records, []), pipeline));
    // Objects that did not parse before and do now: their records go with the first step (listed until it commits).
    const accepted = this.options.acceptUnparsed ? this.unparsed.accept() : undefined;
    if (accepted) this.notice({ kind: 'unparsed-accepted', message: accepted });
    let parsedNow = await this.unparsed.readAgain();
    let step: DeliveryRecord[] = [...(sealed ? [] : retry), ...parsedNow.records];
    let keys: string[] = [];
    for await (const object of this.source.log.read(this.progress.cursor, { concurrency })) {
      this.report.logObjects += 1;
      keys.push(object.key);
      this.unparsed.note(object);
      step.push(...object.records);
      if (step.length >= stepRecords) {
        await apply(step, keys, parsedNow.keys);
        step = [];
        keys = [];
        parsedNow = { records: [], keys: [] };
      }
    }
    if (step.length + keys.length + parsedNow.keys.length > 0) await apply(step, keys, parsedNow.keys);
    await pipeline.drain();
    await writeDueMailboxFiles(
      this.paths,
      async (mailbox) => (await this.mailbox(mailbox)).index,
      this.now(),
    );
  }

  /** A first sync takes what is sealed from the transparency log (sealed.ts); false when it cannot. */
  private async applySealed(
    stepRecords: number,
    retry: DeliveryRecord[],
    apply: (records: DeliveryRecord[]) => Promise<void>,
    pipeline: StepPipeline,
  ): Promise<boolean> {
    const upstream = this.source.transparency;
    const copied = upstream && (await this.copyLog());
    if (!upstream || !copied?.size) return false;
    const cursor = await sealedLogCursor(upstream, copied.size).catch((error) => {
      const message = `${errorMessage(error)}: the delivery log is read from its start instead`;
      this.problem({ kind: 'transparency', message });
    });
    if (!cursor) return false;
    this.report.leaves = await applyLeaves({
      mirror: new DirectoryWriteOnceStore(this.paths.transparency),
      size: copied.size,
      stepRecords,
      first: retry,
      apply,
      onBadLeaf: (message) => this.problem({ kind: 'bad-log-line', message }),
    });
    // Every leaf committed before the cursor moves past the seal.
    await pipeline.drain();
    this.progress.cursor = cursor;
    await writeProgress(this.paths.progress, this.progress);
    return true;
  }

  /**
   * Copies the transparency log's new checkpoint and entries into the replica, after the deliveries (a seal
   * covers deliveries the replica then already holds), and first too on a first sync (applySealed). A log that
   * contradicts the copy is a problem of the run, reported once.
   */
  private async copyLog(): Promise<MirrorResult | undefined> {
    if (!this.source.transparency || this.logCopyFailed) return undefined;
    try {
      const result = await mirrorLog(
        this.source.transparency,
        new DirectoryWriteOnceStore(this.paths.transparency),
      );
      // The report keeps what this run copied: a first sync copies before and checks again after.
      if (!(result.state === 'current' && this.report.transparency?.state === 'grew'))
        this.report.transparency = result;
      return result;
    } catch (error) {
      // S3 not answering is the run's failure, not the log's: thrown, as every other read of the run would be.
      if (networkFailure(error)) throw error;
      this.logCopyFailed = true;
      const denied = /AccessDenied|Forbidden|403/.test(`${errorName(error)} ${errorMessage(error)}`);
      this.problem({
        kind: 'transparency',
        message: denied
          ? `cannot read the transparency log (${errorMessage(error)}): the replica's credential needs the policy \`mail-archiver doctor --target aws\` prints, which reads transparency/ too`
          : `the transparency log: ${errorMessage(error)}`,
      });
      return undefined;
    }
  }

  /** The mailbox's state in this run: its index, read from its journal the first time. */
  private async mailbox(mailbox: string): Promise<MailboxState> {
    let state = this.mailboxes.get(mailbox);
    if (!state) {
      const path = this.paths.journal(mailbox);
      const index = await MailboxIndex.load(path);
      const recorded = this.progress.journals?.[mailbox];
      if (recorded !== undefined && index.journalBytes < recorded)
        throw new ReplicaProgressError(
          `${path} is damaged (${index.journalBytes} bytes of whole lines where the replica had journaled ${recorded}: removed or cut short)`,
        );
      state = new MailboxState(mailbox, this.paths.mailbox(mailbox), index);
      this.mailboxes.set(mailbox, state);
    }
    return state;
  }

  /**
   * Starts one step's records while the step before may still download or commit (pipeline.ts): each mailbox's new
   * records are found (a conflict stops the run before anything of the step is written), the ones already in place
   * are taken as they are (in-place.ts), and every other raw object starts downloading, once for all the places
   * that hold it. Its commit puts each mailbox's files into place (folder.ts, then its journal) and saves the
   * cursor past `keys` (the log objects the records came from).
   */
  private async startStep(
    records: DeliveryRecord[],
    keys: string[],
    slots: FetchSlots,
    pipeline: StepPipeline,
    parsedNow: string[],
  ): Promise<PipelineStep> {
    const wanted = records.filter((r) =>
      this.selection ? this.selection.includes(r.mailbox) : !this.skipped.has(r.mailbox),
    );
    this.seen += wanted.length;
    const byMailbox = new Map<string, DeliveryRecord[]>();
    for (const record of wanted) {
      const list = byMailbox.get(record.mailbox) ?? [];
      list.push(record);
      byMailbox.set(record.mailbox, list);
    }
    const plans: MailboxPlan[] = [];
    const unplan = () => {
      for (const plan of plans) plan.state.setPlanned(plan.fresh, false);
    };
    let inPlace: Set<DeliveryRecord>;
    try {
      for (const [mailbox, list] of byMailbox) {
        const plan = await planMailbox(await this.mailbox(mailbox), list);
        this.report.present += plan.present;
        if (plan.fresh.length > 0) plans.push(plan);
      }
      inPlace = await readyFolders(plans, this.cleaned);
    } catch (error) {
      unplan();
      throw error;
    }
    this.report.present += inPlace.size;
    // Named by their folder's uidlist already and not in place: restored, not new (--repair, a rebuilt progress).
    const listed = new Set(plans.flatMap((plan) => plan.listed));
    const fetching = this.fetchAll(
      plans.flatMap((plan) =>
        plan.fresh
          .filter((record) => !inPlace.has(record))
          .map((record) => ({
            record,
            tmpDir: join(plan.state.dir, bundleFolderPath(record.folder), 'tmp'),
          })),
      ),
      slots,
      () => pipeline.failed,
      listed,
    );
    fetching.catch(() => undefined);
    return {
      commit: async () => {
        try {
          const staged = await fetching;
          try {
            for (const plan of plans) {
              const journaled = await commitMailbox(plan, staged, inPlace, this.paths, this.filesDue);
              // Saved with the cursor: a journal later found shorter lost records the cursor is past.
              if (journaled !== undefined)
                this.progress.journals = { ...this.progress.journals, [plan.state.mailbox]: journaled };
            }
          } catch (error) {
            // A full disk while committing: the downloads not yet moved into cur/ are removed (their space too).
            for (const temporary of staged.values()) await unlink(temporary).catch(() => undefined);
            throw error;
          }
          this.progress.cursor = advanceCursor(this.progress.cursor, keys);
          dropParsed(this.progress, parsedNow);
          await writeProgress(this.paths.progress, this.progress);
        } finally {
          unplan();
        }
      },
      abandon: async () => {
        const staged = await fetching.catch(() => new Map<DeliveryRecord, string>());
        for (const temporary of staged.values()) await unlink(temporary).catch(() => undefined);
        unplan();
      },
    };
  }

  /**
   * Downloads the targets (fetch.ts fetchAll) through the run's slots, counting those in `listed` as restored and
   * the others as new; the records whose object is missing or whose bytes do not match are reported and kept for
   * the next run. Throws any other failure (a full disk), with nothing left staged.
   */
  private async fetchAll(
    targets: FetchTarget[],
    slots: FetchSlots,
    stopped: () => boolean,
    listed: ReadonlySet<DeliveryRecord>,
  ): Promise<Map<DeliveryRecord, string>> {
    const count = (records: DeliveryRecord[], by: 1 | -1) => {
      for (const record of records) {
        if (listed.has(record)) this.report.restored += by;
        else this.report.added += by;
        this.report.bytes += by * record.size;
      }
    };
    return fetchAll(this.source.store, this.source.log.bucket, targets, {
      slots,
      stopped,
      onStaged: (records) => {
        count(records, 1);
        this.options.onProgress?.({
          done: this.report.added + this.report.restored + this.report.present,
          seen: this.seen,
          bytes: this.report.bytes,
        });
      },
      onUnstaged: (records) => count(records, -1),
      onUnreadable: (record, error) => {
        this.progress.retry.push(record);
        this.problem({
          kind: error instanceof ObjectMissingError ? 'missing-upstream' : 'bytes-mismatch',
          message: `${record.mailbox} ${record.folder} UID ${record.uid}: ${errorMessage(error)} (not written; tried again on the next run)`,
        });
      },
    });
  }
}
