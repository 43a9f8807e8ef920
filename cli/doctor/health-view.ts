// The health view in `doctor` (cli/target/health.ts healthView, the view `status` shows): the checks that only the
// view answers, on both targets. Today one: when mail was last received (canaries aside), judged against
// health.silenceAlarmHours when it is set (the SilenceAlarm's threshold).
import type { ArchiverConfig } from '../../shared/config';
import type { ArchiveHealth } from '../target/health';
import { type Check, fail, ok, warn } from './check';
import { age } from './sync-replicas';

const LAST_RECEIVED = 'last received';

/**
 * The last message received (canaries aside): ok with its time; warn when none was yet; fail when
 * health.silenceAlarmHours is set and it is older (the SilenceAlarm fires, or will).
 */
export function lastReceivedCheck(
  config: ArchiverConfig,
  health: Pick<ArchiveHealth, 'lastReceivedAt'>,
  now: Date,
): Check {
  const last = health.lastReceivedAt;
  if (last === undefined) return warn(LAST_RECEIVED, 'not read', 'mail-archiver status');
  if (last === null)
    return warn(
      LAST_RECEIVED,
      'no message received yet (canaries aside)',
      'send one to a mailbox of the domain; the canary check says whether the receiving path works',
    );
  const hours = config.health.silenceAlarmHours;
  const since = `${last} (${age(last, now)} ago)`;
  if (hours !== undefined && now.getTime() - Date.parse(last) > hours * 3_600_000)
    return fail(
      LAST_RECEIVED,
      `${since}: longer than health.silenceAlarmHours (${hours} h)`,
      'the mx, receipt rule set and identity checks; SilenceAlarm in docs/operations.md, "Alarms"',
    );
  return ok(LAST_RECEIVED, since);
}
