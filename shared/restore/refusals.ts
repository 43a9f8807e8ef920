// What an IMAP server's answer means for a restore: a tagged NO or BAD to one command is that command's answer
// (an APPEND's refusal of one message, or a CREATE the user must hear about), while throttling and the RFC 5530
// "try again later" codes are outages to wait out. imapflow rejects a refused command with an Error carrying
// `responseStatus`, `responseText` and `serverResponseCode`; these read those fields without trusting their shape.
import { errorMessage } from '../errors';
import { TargetRefusedError } from './errors';
import type { RefusalReason } from './report';

/** RFC 5530 codes that mean "try again later". */
const TEMPORARY_CODES = new Set(['INUSE', 'UNAVAILABLE', 'SERVERBUG']);

/** Dovecot's timing suffix on a tagged answer (" (0.001 + 0.000 secs)."), which says nothing to the user. */
const TIMINGS = /\s*\(\d+\.\d+ \+ \d+\.\d+(?: \+ \d+\.\d+)? secs\)\.?$/;

/** The answer fields of whatever was thrown (nothing for `undefined`, `null` or a primitive). */
function answerOf(error: unknown): CommandAnswer {
  return typeof error === 'object' && error !== null ? (error as CommandAnswer) : {};
}

interface CommandAnswer {
  responseStatus?: string;
  responseText?: string;
  serverResponseCode?: string;
  authenticationFailed?: boolean;
  executedCommand?: string;
  code?: string;
}

/** Why the server refused one message, and its own words. */
export interface ServerRefusal {
  reason: RefusalReason;
  serverText: string;
}

/**
 * A tagged NO or BAD to one APPEND: that message's refusal (RFC 5530 [LIMIT]/[TOOBIG] or the words "too large"
 * are 'too large', [OVERQUOTA] or "quota" is 'quota', anything else 'rejected'), not a reason to reconnect.
 * `undefined` for throttling, a temporary code, or anything that is not a server's answer.
 */
export function refusalOf(error: unknown): ServerRefusal | undefined {
  const e = answerOf(error);
  if (e.code === 'ETHROTTLE') return undefined;
  const code = (e.serverResponseCode ?? '').toUpperCase();
  if (code === 'APPENDLIMIT') {
    return { reason: 'too large', serverText: errorMessage(error) };
  }
  if (e.responseStatus !== 'NO' && e.responseStatus !== 'BAD') return undefined;
  if (TEMPORARY_CODES.has(code)) return undefined;
  const text = `${e.responseStatus}${code ? ` [${code}]` : ''} ${(e.responseText ?? '').replace(TIMINGS, '')}`;
  const reason: RefusalReason =
    code === 'LIMIT' || code === 'TOOBIG' || /too (large|big)|size|exceed.*limit/i.test(e.responseText ?? '')
      ? 'too large'
      : code === 'OVERQUOTA' || /quota/i.test(e.responseText ?? '')
        ? 'quota'
        : 'rejected';
  return { reason, serverText: text.trim() };
}

/**
 * Whether the error is the server's final answer to a command (a login refusal, a NO or BAD without a temporary
 * code, imapflow's APPENDLIMIT check): the caller's to handle, never retried by reconnecting.
 */
export function isCommandAnswer(error: unknown): boolean {
  const e = answerOf(error);
  if (e.authenticationFailed) return true;
  // Throttling (Microsoft 365 answers "BAD Request is throttled. Suggested Backoff Time: N milliseconds").
  if (e.code === 'ETHROTTLE') return false;
  if (e.serverResponseCode === 'APPENDLIMIT') return true;
  if (e.responseStatus !== 'NO' && e.responseStatus !== 'BAD') return false;
  return !TEMPORARY_CODES.has((e.serverResponseCode ?? '').toUpperCase());
}

/** The server's own words of a tagged NO/BAD (`NO [CANNOT] Character not allowed ...`), timings removed. */
export function serverWords(error: unknown): string {
  const e = answerOf(error);
  if (!e.responseStatus) return errorMessage(error);
  const code = e.serverResponseCode ? ` [${e.serverResponseCode}]` : '';
  const text = (e.responseText ?? '').replace(TIMINGS, '');
  return `${e.responseStatus}${code} ${text}`.trim();
}

/**
 * imapflow rejects a refused command with "Command failed" alone; the user needs the command and the server's
 * words: TargetRefusedError. Errors of ours, and anything that is not a server's answer, pass unchanged.
 */
export function explainCommandError(error: unknown): unknown {
  const e = answerOf(error);
  if (!(error instanceof Error) || error.name !== 'Error' || !e.responseStatus) return error;
  // The tag first, then the command; an APPEND's literal never gets here (refusals are per message).
  const command = (e.executedCommand ?? '')
    .split(/\r?\n/)[0]
    ?.replace(/^\S+\s+/, '')
    .slice(0, 200);
  return new TargetRefusedError(
    `the IMAP server refused ${command ? JSON.stringify(command) : 'a command'}: ${serverWords(error)}`,
    { cause: error },
  );
}

/**
 * What the user can do about a refused message, in a sentence or two for the report: `where` says how to get the
 * message's exact bytes out of the bundle (a path, or the tar command that extracts it), `mailbox` is the
 * bundle's mailbox (for the export command).
 */
export function nextStep(refused: ServerRefusal, where: string, mailbox: string): string {
  const exportCommand = `mail-archiver export ${mailbox} --format mboxrd`;
  if (refused.reason === 'quota')
    return "make room in the account (or wait for the provider's daily upload limit to reset), then run the same command again: it goes on where it stopped";
  if (refused.reason === 'too large')
    return `the server takes no message this large over IMAP: load it with the provider's own importer (${exportCommand} writes an mbox file; most importers also take the single message, ${where}), or keep it in the archive`;
  if (/header/i.test(refused.serverText))
    return `the server refuses a header line of this message (often a line in the header that is neither a field nor an indented continuation, RFC 5322 section 2.2); the provider's own importer may take it as it is (${exportCommand}, or the single message, ${where}); or fix that line in a copy of the file and upload the copy, knowing it is no longer the archived original`;
  return `the server refuses this message's content; try the provider's own importer (${exportCommand}, or the single message, ${where}); the archive and the bundle keep it byte for byte either way`;
}
