// The local stack's ingest dead-letter queue: MAIL_ARCHIVER_HOME/dead-letters/<SES id>.json, one file per
// message that was stored but could not be indexed (the SMTP listener parks it there, as SQS parks a record
// after its last receive on AWS). `redrive` delivers each again through the ingest handler and removes the
// files that went through; `status` counts them.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../../shared/errors';
import { parseSesNotification, type SesReceivedNotification } from '../../shared/receiving/ses-notification';

/** A file in a dead-letter folder that is not what the folder holds (not JSON, or not the right shape). */
export interface UnreadableFile {
  file: string;
  reason: string;
}

/**
 * The `.json` files of a dead-letter folder, each read and checked by `check` (which throws to refuse it). A file
 * that cannot be read, is not JSON or is refused is returned in `unreadable` with its reason, never thrown: one
 * stray file must not hide (or block the redrive of) every other dead letter. A missing folder holds nothing.
 */
export function readParkedFiles<T>(
  dir: string,
  check: (parsed: unknown) => T,
): { entries: { file: string; name: string; value: T }[]; unreadable: UnreadableFile[] } {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return { entries: [], unreadable: [] };
  }
  const entries: { file: string; name: string; value: T }[] = [];
  const unreadable: UnreadableFile[] = [];
  for (const name of names.sort()) {
    const file = join(dir, name);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      unreadable.push({ file, reason: `not JSON (${errorMessage(error)})` });
      continue;
    }
    try {
      entries.push({ file, name, value: check(parsed) });
    } catch (error) {
      unreadable.push({ file, reason: errorMessage(error) });
    }
  }
  return { entries, unreadable };
}

export interface ParkedNotification {
  notification: SesReceivedNotification;
  /** Why ingest failed, with its causes. */
  error: string;
  at: string;
}

export interface DeadLetterRedrive {
  redriven: number;
  failed: { id: string; reason: string }[];
}

export class LocalDeadLetters {
  constructor(readonly dir: string) {}

  park(notification: SesReceivedNotification, error: string, at = new Date()): void {
    mkdirSync(this.dir, { recursive: true });
    const parked: ParkedNotification = { notification, error, at: at.toISOString() };
    writeFileSync(this.path(notification.mail.messageId), JSON.stringify(parked, null, 2));
  }

  /** The folder, read once: the parked notifications, oldest first, and the files that are not one, with why. */
  read(): { parked: (ParkedNotification & { id: string })[]; unreadable: UnreadableFile[] } {
    const { entries, unreadable } = this.scan();
    const parked = entries
      .map(({ name, value }) => ({ id: name.slice(0, -'.json'.length), ...value }))
      .sort((a, b) => a.at.localeCompare(b.at));
    return { parked, unreadable };
  }

  /** The parked notifications, oldest first (files that are not one: `unreadable()`). */
  list(): (ParkedNotification & { id: string })[] {
    return this.read().parked;
  }

  /** Files in the folder that are not a parked notification, with why: `redrive` cannot use them. */
  unreadable(): UnreadableFile[] {
    return this.scan().unreadable;
  }

  count(): number {
    return this.list().length;
  }

  private scan() {
    return readParkedFiles(this.dir, (parsed): ParkedNotification => {
      const parked = (parsed ?? {}) as Partial<ParkedNotification>;
      try {
        return {
          notification: parseSesNotification(parked.notification),
          error: String(parked.error ?? ''),
          at: typeof parked.at === 'string' ? parked.at : '',
        };
      } catch (error) {
        throw new Error(`not a parked notification (${errorMessage(error)})`, { cause: error });
      }
    });
  }

  /**
   * Delivers every parked notification again; what fails again stays parked, with its new cause. Files that are
   * not a parked notification are left where they are and reported failed, named, with why.
   */
  async redrive(
    deliver: (notification: SesReceivedNotification) => Promise<void>,
    describe: (error: unknown) => string = (error) => errorMessage(error),
  ): Promise<DeadLetterRedrive> {
    const report: DeadLetterRedrive = { redriven: 0, failed: [] };
    const { parked: notifications, unreadable } = this.read();
    for (const { file, reason } of unreadable) report.failed.push({ id: file, reason });
    for (const parked of notifications) {
      try {
        await deliver(parked.notification);
        rmSync(this.path(parked.id), { force: true });
        report.redriven += 1;
      } catch (error) {
        const reason = describe(error);
        this.park(parked.notification, reason);
        report.failed.push({ id: parked.id, reason });
      }
    }
    return report;
  }

  private path(id: string): string {
    return join(this.dir, `${id.replace(/[^A-Za-z0-9_-]/g, '_')}.json`);
  }
}

/** The local ingest dead letters: notifications ingest failed on, in MAIL_ARCHIVER_HOME/dead-letters. */
export const localIngestDeadLetters = (home: string) => new LocalDeadLetters(join(home, 'dead-letters'));
