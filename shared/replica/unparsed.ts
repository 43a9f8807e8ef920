// Delivery-log objects holding a line that does not parse (a line a newer writer wrote that this version cannot read
// yet, or a damaged one). The cursor moves past such an object once its other records are applied, so its key is
// kept in the replica's progress (`unparsed`) and the object read again and reported on every run until it parses:
// then its records are applied and it leaves the list. Never forgotten by the cursor's moving on.
import type { DeliveryLog, LogObject } from '../delivery-log/log';
import type { DeliveryRecord } from '../delivery-log/record';
import { errorMessage, networkFailure } from '../errors';
import type { SyncProblem } from './report';
import type { ReplicaProgress } from './state';

export class UnparsedObjects {
  /** The objects whose lines this run reported (each once a run). */
  private readonly reported = new Set<string>();

  constructor(
    private readonly log: DeliveryLog,
    /** The run's progress (replaced when a run starts over). */
    private readonly progress: () => ReplicaProgress,
    private readonly problem: (problem: SyncProblem) => void,
    /** The run's report: each object read again counts as a log object read. */
    private readonly report: { logObjects: number },
  ) {}

  /** Reports the object's lines that do not parse (once a run) and lists its key in the progress. */
  note(
    object: LogObject,
    why = 'the other records are applied; read again on every sync until it parses',
  ): void {
    if (object.errors.length === 0 || this.reported.has(object.key)) return;
    this.reported.add(object.key);
    const progress = this.progress();
    const listed = progress.unparsed ?? [];
    if (!listed.includes(object.key)) progress.unparsed = [...listed, object.key].sort();
    for (const error of object.errors)
      this.problem({
        kind: 'bad-log-line',
        message: `${object.key} line ${error.line}: ${error.reason} (${why})`,
      });
  }

  /**
   * Drops every listed object (`sync --accept-unparsed`): their lines that do not parse are taken as lost, and no
   * longer read again or reported. Returns the line saying so, or undefined when none was listed.
   */
  accept(): string | undefined {
    const progress = this.progress();
    const keys = progress.unparsed ?? [];
    delete progress.unparsed;
    if (keys.length === 0) return undefined;
    return `no longer reported (--accept-unparsed): the lines that do not parse of ${keys.join(', ')}, taken as lost (mail-archiver reconcile names deliveries missing from the log, and reindex logs them again)`;
  }

  /**
   * Reads again each listed object. One that still does not parse is reported again and stays listed; one that
   * parses now gives its records and key (the caller applies them, then drops the key with {@link dropParsed}, so
   * that it leaves the list only with its records applied). Throws when S3 does not answer; an object that cannot
   * be read stays listed and is reported.
   */
  async readAgain(): Promise<{ records: DeliveryRecord[]; keys: string[] }> {
    const parsed = { records: [] as DeliveryRecord[], keys: [] as string[] };
    for (const key of this.progress().unparsed ?? []) {
      try {
        for await (const object of this.log.readObjects([key])) {
          this.report.logObjects += 1;
          if (object.errors.length > 0)
            this.note(
              object,
              'still: reported on every sync until it parses; its other records were applied',
            );
          else {
            parsed.records.push(...object.records);
            parsed.keys.push(key);
          }
        }
      } catch (error) {
        if (networkFailure(error)) throw error;
        if (this.reported.has(key)) continue;
        this.reported.add(key);
        this.problem({
          kind: 'bad-log-line',
          message: `${key} held a line that did not parse and cannot be read again (${errorMessage(error)}): still reported on every sync`,
        });
      }
    }
    return parsed;
  }
}

/** Drops `keys` (objects that parse now, their records applied) from the progress's list. */
export function dropParsed(progress: ReplicaProgress, keys: readonly string[]): void {
  if (keys.length === 0) return;
  const unparsed = (progress.unparsed ?? []).filter((key) => !keys.includes(key));
  if (unparsed.length > 0) progress.unparsed = unparsed;
  else delete progress.unparsed;
}
