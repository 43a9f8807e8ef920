// The local S3 server's versions and Object Lock state (see layer.ts, which enforces it): for each
// versioned bucket, every version of every key, oldest first, with its retention and legal hold. Kept in memory
// and in an append-only journal file per server, replayed at start: this server is the only writer of its data.
// Noncurrent versions' bytes live beside it (`<versionsDir>/<bucket>/<sha256 of key>/<version id>`); the current
// version's bytes are s3rver's object, so every existing s3rver code path still serves it.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';

export type LockMode = 'GOVERNANCE' | 'COMPLIANCE';

export interface VersionRecord {
  versionId: string;
  deleteMarker?: true;
  /** ISO 8601 UTC. */
  lastModified: string;
  size?: number;
  etag?: string;
  contentType?: string;
  retention?: { mode: LockMode; until: string };
  legalHold?: boolean;
  /** The version's object tags (PutObjectTagging, or PutObject's x-amz-tagging). */
  tags?: Record<string, string>;
}

export interface BucketState {
  versioning?: 'Enabled' | 'Suspended';
  objectLock?: boolean;
}

type JournalEvent =
  | { t: 'bucket'; bucket: string; state: BucketState }
  | { t: 'version'; bucket: string; key: string; record: VersionRecord }
  | { t: 'update'; bucket: string; key: string; record: VersionRecord }
  | { t: 'remove'; bucket: string; key: string; versionId: string };

/** S3 version ids are opaque; these sort by creation (base36 time, then randomness) to ease reading the journal. */
export function newVersionId(): string {
  return `${Date.now().toString(36).padStart(9, '0')}${randomBytes(9).toString('base64url')}`;
}

export class VersionJournal {
  private readonly buckets = new Map<string, BucketState>();
  private readonly keys = new Map<string, Map<string, VersionRecord[]>>();
  private readonly file: string;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, 'journal.jsonl');
    if (existsSync(this.file)) {
      for (const line of readFileSync(this.file, 'utf8').split('\n')) {
        if (line.trim()) this.apply(JSON.parse(line) as JournalEvent);
      }
    }
  }

  bucket(bucket: string): BucketState | undefined {
    return this.buckets.get(bucket);
  }

  /** Every version of `key`, oldest first (the last one is current). Empty when none is recorded. */
  versions(bucket: string, key: string): VersionRecord[] {
    return this.keys.get(bucket)?.get(key) ?? [];
  }

  /** Keys with recorded versions, in S3's (UTF-8 binary) order. */
  keysOf(bucket: string): string[] {
    return [...(this.keys.get(bucket)?.keys() ?? [])];
  }

  /** Where a noncurrent version's bytes are kept. */
  bytesPath(bucket: string, key: string, versionId: string): string {
    const hash = createHash('sha256').update(key).digest('hex');
    return join(this.dir, 'bytes', bucket, hash.slice(0, 2), hash, versionId);
  }

  async setBucket(bucket: string, state: BucketState): Promise<void> {
    await this.record({ t: 'bucket', bucket, state: { ...this.buckets.get(bucket), ...state } });
  }

  async addVersion(bucket: string, key: string, record: VersionRecord): Promise<void> {
    await this.record({ t: 'version', bucket, key, record });
  }

  async updateVersion(bucket: string, key: string, record: VersionRecord): Promise<void> {
    await this.record({ t: 'update', bucket, key, record });
  }

  async removeVersion(bucket: string, key: string, versionId: string): Promise<void> {
    await this.record({ t: 'remove', bucket, key, versionId });
  }

  /** Runs `work` alone for its key: a version's write, delete or lock never interleaves with another on it. */
  async exclusive<T>(bucket: string, key: string, work: () => Promise<T>): Promise<T> {
    const id = `${bucket}\n${key}`;
    const before = this.locks.get(id) ?? Promise.resolve();
    const run = before.then(work, work);
    const settled = run.catch(() => undefined);
    this.locks.set(id, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === settled) this.locks.delete(id);
    }
  }

  private async record(event: JournalEvent): Promise<void> {
    await appendFile(this.file, `${JSON.stringify(event)}\n`, { mode: 0o600 });
    this.apply(event);
  }

  private apply(event: JournalEvent): void {
    if (event.t === 'bucket') {
      this.buckets.set(event.bucket, event.state);
      return;
    }
    let byKey = this.keys.get(event.bucket);
    if (!byKey) {
      byKey = new Map();
      this.keys.set(event.bucket, byKey);
    }
    const list = byKey.get(event.key) ?? [];
    if (event.t === 'version') list.push(event.record);
    else if (event.t === 'update') {
      const at = list.findIndex((r) => r.versionId === event.record.versionId);
      if (at >= 0) list[at] = event.record;
    } else {
      const at = list.findIndex((r) => r.versionId === event.versionId);
      if (at >= 0) list.splice(at, 1);
    }
    if (list.length) byKey.set(event.key, list);
    else byKey.delete(event.key);
  }
}
