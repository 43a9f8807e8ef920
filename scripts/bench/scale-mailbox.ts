// A mailbox of any size made of real messages for the scale benchmarks (issues 29 and 30): copies of the
// SpamAssassin corpus made distinct (a header naming the copy, so every copy has its own sha256) and dated over
// 15 years (the Date header rewritten, oldest first), everything else byte for byte as the corpus has it.
import { nthCorpusCopy } from '../../test/support/spam-assassin';

/** How far back the mailbox's dates reach. */
export const SCALE_MAILBOX_YEARS = 15;

/**
 * Message `i` of a mailbox of `count` made from `corpus`: distinct from every other `i`, dated
 * `SCALE_MAILBOX_YEARS` years before `end` plus i/count of that span (RFC 5322 3.3 date-time, UTC).
 */
export function scaleMailboxMessage(
  corpus: readonly Buffer[],
  i: number,
  count: number,
  end = new Date(),
): Buffer {
  const copy = nthCorpusCopy(corpus, i);
  const at = scaleMailboxDate(i, count, end);
  const date = at.toUTCString().replace('GMT', '+0000');
  const eol = copy.includes('\r\n') ? '\r\n' : copy.includes('\n') ? '\n' : '\r';
  const text = copy.toString('latin1');
  const headerEnd = text.indexOf(`${eol}${eol}`);
  const head = headerEnd < 0 ? text : text.slice(0, headerEnd);
  // The first Date field of the header (folded continuation lines included) gives way to the new one.
  const field = new RegExp(
    `(^|${eol})Date:[^${eol === '\r' ? '\\r' : '\\n'}]*(${eol}[ \\t][^\\r\\n]*)*`,
    'i',
  );
  const stamped = field.test(head)
    ? head.replace(field, (_m, lead: string) => `${lead}Date: ${date}`)
    : `Date: ${date}${eol}${head}`;
  return Buffer.concat([
    Buffer.from(`X-Scale-Copy: ${i}${eol}`, 'latin1'),
    Buffer.from(stamped, 'latin1'),
    Buffer.from(headerEnd < 0 ? '' : text.slice(headerEnd), 'latin1'),
  ]);
}

/** The date of message `i` of a mailbox of `count` ending at `end` (the Date header it is given). */
export function scaleMailboxDate(i: number, count: number, end = new Date()): Date {
  const spanMs = SCALE_MAILBOX_YEARS * 365.25 * 24 * 3600 * 1000;
  return new Date(end.getTime() - spanMs + Math.floor((spanMs * i) / Math.max(1, count)));
}

/** The whole mailbox of `count` messages, one at a time (nothing held). */
export function* scaleMailbox(corpus: readonly Buffer[], count: number, end = new Date()): Generator<Buffer> {
  for (let i = 0; i < count; i++) yield scaleMailboxMessage(corpus, i, count, end);
}
