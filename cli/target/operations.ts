// What a command does differently against the local stack and against a deployed stack, behind one interface:
// `redrive`, `seal` and `export` ask the context's `operations()` (cli/context.ts) instead of branching on --target. The
// storage side (raw mail, the index, the logs, delivery) is the Archive of ./archive.ts; dead-letter queues are
// listed once in ./dead-letter-queues.ts. The local implementation is cli/local/operations.ts, the deployed one
// ./aws-operations.ts; each is loaded only when a command runs against it.
import type { BundleEncryption } from '../../shared/bundle/age';
import type { BundleFormat } from '../../shared/bundle/manifest';
import type { ForwardRequest } from '../../shared/forwarding/ledger';
import type { ExportRecord } from '../../shared/index/schema';
import type { SealReport } from '../../shared/transparency/seal';
import type { UnreadableFile } from '../local/dead-letters';

/** What `redrive --dry-run` lists. */
export interface RedrivePlan {
  /**
   * Parked forwards: each request locally; on AWS how many wait in the forward dead-letter queue (SQS cannot list
   * a queue without receiving its messages).
   */
  parked: ForwardRequest[] | number;
  /** Forwards the ledger records as failed, or claimed by a worker that died mid-send. */
  ledger: ForwardRequest[];
  /** Dead-letter files that are not what they claim, left where they are (local folders; none on AWS). */
  unreadable: UnreadableFile[];
}

/** What `redrive` did. */
export interface RedriveReport {
  /** Ingest side, one line: how many messages went through ingest again (or started moving back on AWS). */
  ingest: string;
  /** Messages still failing ingest, one line each (local only: on AWS the ingest Lambda reports them). */
  ingestFailures: string[];
  /** Forwards sent again: requests taken, copies sent, failures (on AWS sent later by the forward Lambda). */
  forwards: { requests: number; sent: number; failed: number; failures: string[] };
}

/** A seal's report with the log's public key line and where the checkpoint was mailed, if it was. */
export type SealResult = SealReport & { key: string; witnessedTo?: string };

/** What `export` asks a target to build: one mailbox, whole or what is new since its last export. */
export interface ExportBuild {
  mailbox: string;
  format: BundleFormat;
  incremental: boolean;
  /** Parts to split the work into (default: by size). */
  parts?: number;
  encryption?: BundleEncryption;
}

/** An export built: its record, and whether each part was encrypted apart (on AWS, to age recipients). */
export interface ExportBuilt {
  record: ExportRecord;
  /** True when the parts are encrypted bundles each (they cannot be joined without a key that opens them). */
  partsEncrypted: boolean;
}

/** The file a part of an export goes to: part `part` (from 0) of `count` of export `exportId`. */
export type PartPath = (exportId: string, part: number, count: number) => string;

export interface TargetOperations {
  /** What `redrive` would take, sending nothing. */
  redrivePlan(): Promise<RedrivePlan>;
  /**
   * Stored messages that failed ingest go through ingest again, then parked and failed forwards are sent again
   * (shared/forwarding/redrive.ts says which).
   */
  redrive(): Promise<RedriveReport>;
  /** Seals the transparency log now (docs/transparency.md); `info`/`warn` carry one-line notes for the user. */
  seal(notes: { info(line: string): void; warn(line: string): void }): Promise<SealResult>;
  /**
   * Builds an export of a mailbox into the files `partPath` names, reporting messages done of the total. Throws a
   * UserError for a mailbox the archive does not know, before anything starts. `signal` stops the writing (Ctrl-C).
   */
  exportBundle(
    build: ExportBuild,
    partPath: PartPath,
    onProgress: (done: number, total: number) => void,
    signal: AbortSignal,
  ): Promise<ExportBuilt>;
}
