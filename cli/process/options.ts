// Option parsing shared by the commands: commander calls these on the raw strings and reports what they throw.
import { InvalidArgumentError } from 'commander';
import { normaliseAddress, UNROUTED_MAILBOX } from '../../shared/receiving/routing';

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

export function parseDate(value: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new InvalidArgumentError('must be a date like 2026-01-31 or 2026-01-31T12:00:00Z');
  return date;
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
