// Option parsing shared by the commands: commander calls these on the raw strings and reports what they throw.
import { type Command, InvalidArgumentError } from 'commander';
import { normaliseAddress, UNROUTED_MAILBOX } from '../../shared/receiving/routing';
import { ExitCode, UserError } from './output';

/** For repeatable options (`--to a --to b`): commander calls it once per occurrence. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A mailbox as the index keys it: the address normalised, or the unrouted mailbox as it is. */
export function normaliseMailbox(mailbox: string): string {
  return mailbox === UNROUTED_MAILBOX ? mailbox : normaliseAddress(mailbox);
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidArgumentError('must be a port number');
  return port;
}

export function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

// ISO 8601 (RFC 3339 and its reduced-precision dates): YYYY, YYYY-MM, YYYY-MM-DD, and a date with Thh:mm[:ss[.sss]]
// and an optional zone (Z or +hh:mm). Nothing else: V8's own parser guesses ("12" is December 2001, "June 2019"
// and "2019/06/01" are local time, 2020-02-30 rolls into March), and a guessed date is a wrong answer.
const ISO_DATE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * An ISO 8601 date or date-time the user typed: a year, month or day alone is its first moment in UTC (as
 * `new Date('2026-01-31')` reads it); a date-time without a zone is local time. Throws commander's
 * InvalidArgumentError (exit 2) for any other form and for a day, hour or minute that does not exist.
 */
export function parseDate(value: string): Date {
  const text = value.trim();
  const parts = ISO_DATE.exec(text);
  const [year, month = 1, day = 1, hour = 0, minute = 0, second = 0] = (parts?.slice(1, 7) ?? []).map((p) =>
    p === undefined ? undefined : Number(p),
  );
  const daysInMonth = year === undefined ? 0 : new Date(Date.UTC(year, month, 0)).getUTCDate();
  const date = parts ? new Date(text) : undefined;
  if (
    !date ||
    Number.isNaN(date.getTime()) ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  )
    throw new InvalidArgumentError('must be a date like 2026-01-31 or 2026-01-31T12:00:00Z (ISO 8601)');
  return date;
}

/**
 * --since and --until together must leave a window: a since at or after until is a mistake in the command line
 * (exit 2), not "no messages match" (and DynamoDB refuses a BETWEEN whose bounds are reversed). The same moment
 * for both is refused too, not read as that whole day: --until is "before" everywhere, and one bound meaning two
 * things by what the other says would surprise more than the hint does (docs/command-line.md). Throws UserError.
 */
export function checkDateRange(range: { since?: Date; until?: Date }): void {
  if (range.since && range.until && range.since >= range.until) {
    const since = range.since.toISOString();
    const nextDay = new Date(range.since.getTime() + 86_400_000).toISOString().slice(0, 10);
    throw new UserError(
      `--since ${since} is not before --until ${range.until.toISOString()}: no message can be received in that window`,
      {
        exitCode: ExitCode.usage,
        ...(range.since.getTime() === range.until.getTime() && since.endsWith('T00:00:00.000Z')
          ? { hint: `--until is the first moment not included: for one day from --since, --until ${nextDay}` }
          : {}),
      },
    );
  }
}

/**
 * Refuses a flag given together with its negation (`--attachment --no-attachment`): commander keeps whichever
 * came last, silently, and a command line that asks for both has a mistake in it. Call once the command's options
 * are defined and before it parses: commander emits `option:<name>` per occurrence, the only place the two are
 * still apart (they share one value). The check runs before the action: UserError (exit 2) naming both.
 */
export function refuseOppositeFlags(command: Command): void {
  const given = new Set<string>();
  for (const option of command.options) command.on(`option:${option.name()}`, () => given.add(option.name()));
  command.hook('preAction', () => {
    for (const option of command.options) {
      if (!option.negate || !given.has(option.name())) continue;
      const positive = option.name().replace(/^no-/, '');
      if (given.has(positive) && command.options.some((o) => !o.negate && o.name() === positive))
        throw new UserError(
          `--${positive} and --${option.name()} ask for opposite things: give one of them`,
          {
            exitCode: ExitCode.usage,
          },
        );
    }
  });
}

/** A duration such as `90s`, `15m`, `1h` or `1d` (a bare number is seconds), in milliseconds. */
export function parseInterval(value: string): number {
  const match = /^(\d+)\s*(s|m|h|d)?$/.exec(value.trim());
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match?.[2] ?? 's') as 's'];
  const ms = match ? Number(match[1]) * unit : Number.NaN;
  if (!Number.isFinite(ms) || ms <= 0)
    throw new InvalidArgumentError('must be a duration like 90s, 15m, 1h or 1d');
  return ms;
}

/**
 * An http:// or https:// URL (a monitor to ping), checked when the command is read: a typo would otherwise be
 * accepted and only warned about after every run, for as long as a timer runs it.
 */
export function parseHttpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError('must be an http:// or https:// URL');
  return value;
}
