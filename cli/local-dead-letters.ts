// The local stack's ingest dead-letter queue: MAIL_ARCHIVER_HOME/dead-letters/<SES id>.json, one file per
// message that was stored but could not be indexed (the SMTP listener parks it there, as SQS parks a record
// after its last receive on AWS). `redrive` delivers each again through the ingest handler and removes the
// files that went through; `status` counts them.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../shared/errors';
import type { SesReceivedNotification } from '../shared/ses-notification';

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

  /** The parked notifications, oldest first. */
  list(): (ParkedNotification & { id: string })[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith('.json'));
    } catch {
      return [];
    }
    return names
      .map((name) => ({
        id: name.slice(0, -'.json'.length),
        ...(JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as ParkedNotification),
      }))
      .sort((a, b) => a.at.localeCompare(b.at));
  }

  count(): number {
    return this.list().length;
  }

  /** Delivers every parked notification again; what fails again stays parked, with its new cause. */
  async redrive(
    deliver: (notification: SesReceivedNotification) => Promise<void>,
    describe: (error: unknown) => string = (error) => errorMessage(error),
  ): Promise<DeadLetterRedrive> {
    const report: DeadLetterRedrive = { redriven: 0, failed: [] };
    for (const parked of this.list()) {
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
