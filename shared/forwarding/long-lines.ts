// SES refuses a raw message with a line over 1,000 characters ("552 message line is too long"; SESv2 RawMessage:
// "The length of any single line of text in the message can't exceed 1,000 characters", RFC 5321 4.5.3.1.6), and
// RFC 5322 2.1.1 allows 998 octets before the line ending. A copy with such a line is changed here, only where a
// line is too long, in ways that keep what the recipient sees:
// - a header field (the top level's or a MIME part's) is folded at whitespace (RFC 5322 2.2.3: unfolding gives
//   the same value back); a line with no whitespace to fold at is cut, which adds one space where it was cut;
// - a MIME leaf (or a non-MIME body) is re-encoded so that its decoded bytes stay the same: quoted-printable for
//   text/* that was 7bit, 8bit, binary or had no Content-Transfer-Encoding, base64 for anything else; a part
//   already in base64 or quoted-printable is re-wrapped (76 characters, soft line breaks in quoted-printable).
//   Its Content-Transfer-Encoding field says so (added when missing; a non-MIME message also gets MIME-Version).
// Every such change is reported (each starts with LONG_LINE_CHANGE) for the forwarding ledger entry. The MIME
// structure is read by mailparser's own splitter (@zone-eu/mailsplit), which gives back every byte it does not
// change; lines are measured by the project's one line rule (shared/mail/lines.ts).
import type { PassThrough, Transform } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import mailsplit from '@zone-eu/mailsplit';
import type { MimeNode, SplitterChunk } from '@zone-eu/mailsplit/lib/types';
import libbase64 from 'libbase64';
import libqp from 'libqp';
import { errorMessage } from '../errors';
import {
  foldField,
  type HeaderField,
  headerEndingOf,
  joinHeaderBlock,
  MAX_LINE_OCTETS,
  rawValueOf,
  splitHeaderBlock,
} from '../mail/header-block';
import { splitLines } from '../mail/lines';

/** How every line-length change recorded on a ledger entry starts. */
export const LONG_LINE_CHANGE = 'line over 998 octets';

/** The longest line of `bytes` by the one line rule (octets, line ending excluded). */
export function longestLine(bytes: Buffer): number {
  let longest = 0;
  for (const line of splitLines(bytes)) if (line.text.length > longest) longest = line.text.length;
  return longest;
}

const tooLong = (bytes: Buffer) => longestLine(bytes) > MAX_LINE_OCTETS;

/** The line convention of a message, as far as the splitter is concerned. */
type Convention = 'as-is' | 'bare-cr';

/** Where a change was made, in words: "the message header", "part 1.2". */
function placeOf(node: MimeNode): string {
  const number = node.partNr ? node.partNr.join('.') : '';
  return node.root ? 'the message' : `part ${number || '?'}`;
}

/** `input` through a decoder stream, gathered. */
function through(transform: Transform | PassThrough, input: Buffer): Promise<Buffer> {
  transform.end(input);
  return buffer(transform);
}

/** The line ending a part's own lines use (CRLF when it has one, else LF, else what its header uses). */
function partEol(body: Buffer, headerEol: string): string {
  if (body.includes('\r\n')) return '\r\n';
  if (body.includes('\n')) return '\n';
  return headerEol;
}

/** Folds every field of a header block that has a line over 998 octets; returns the block and what changed. */
function foldHeaderBlock(raw: Buffer, place: string, changes: string[]): Buffer {
  if (!tooLong(raw)) return raw;
  const block = splitHeaderBlock(raw);
  const fields = block.fields.map((field): HeaderField => {
    const longest = longestLine(field.raw);
    if (longest <= MAX_LINE_OCTETS) return field;
    if (!field.name) {
      changes.push(
        `${LONG_LINE_CHANGE}: a header line of ${place} that is not a field (${longest} octets) was left as it is`,
      );
      return field;
    }
    const ending = headerEndingOf(field.raw) || block.eol;
    const folded = foldField(field.name, rawValueOf(field), ending);
    changes.push(
      `${LONG_LINE_CHANGE}: ${field.name} of ${place} (a line of ${longest} octets) was folded${
        folded.hard
          ? ' and, having no whitespace to fold at, cut (unfolding adds a space at each cut)'
          : ' at whitespace'
      }`,
    );
    return { name: field.name, raw: folded.raw };
  });
  return joinHeaderBlock({ ...block, fields });
}

/** Sets a header block's Content-Transfer-Encoding (and MIME-Version at the top of a non-MIME message). */
function withTransferEncoding(raw: Buffer, encoding: string, root: boolean): Buffer {
  const block = splitHeaderBlock(raw);
  // Added fields end as the header block's last line does: a lone CR written before the empty line's LF would
  // join them into one CRLF and end the header block later than it did.
  const last = block.fields.at(-1);
  const eol = (last && headerEndingOf(last.raw)) || block.eol;
  const fields = block.fields.filter((f) => f.name.toLowerCase() !== 'content-transfer-encoding');
  const added: HeaderField[] = [];
  if (root && !fields.some((f) => f.name.toLowerCase() === 'mime-version'))
    added.push({ name: 'MIME-Version', raw: Buffer.from(`MIME-Version: 1.0${eol}`) });
  added.push({
    name: 'Content-Transfer-Encoding',
    raw: Buffer.from(`Content-Transfer-Encoding: ${encoding}${eol}`),
  });
  // In place of the old field when there was one, else last, where the header block ends.
  const at = block.fields.findIndex((f) => f.name.toLowerCase() === 'content-transfer-encoding');
  const position =
    at >= 0 ? block.fields.slice(0, at).filter((f) => fields.includes(f)).length : fields.length;
  fields.splice(position, 0, ...added);
  return joinHeaderBlock({ ...block, fields });
}

/**
 * A MIME leaf's body re-encoded so that its lines fit, or `undefined` when they already do. The decoded bytes
 * are those the splitter's own decoder (mailparser's) gives for the original.
 */
async function reencodeLeaf(
  node: MimeNode,
  header: Buffer,
  body: Buffer,
  changes: string[],
): Promise<{ header: Buffer; body: Buffer } | undefined> {
  const longest = longestLine(body);
  if (longest <= MAX_LINE_OCTETS) return undefined;
  const was = node.encoding || '';
  const decoded = await through(node.getDecoder(), body);
  const eol = partEol(body, splitHeaderBlock(header).eol);
  const contentType = node.contentType || 'text/plain';
  let encoding: 'quoted-printable' | 'base64';
  if (was === 'base64' || was === 'quoted-printable') encoding = was;
  else encoding = contentType.toLowerCase().startsWith('text/') ? 'quoted-printable' : 'base64';
  // Encoders wrap with CRLF: their breaks are written with the part's own line ending. Quoted-printable keeps
  // the content's own line breaks literal and writes every "=" as =3D, so each "=CRLF" it gives is a soft break.
  const text =
    encoding === 'base64'
      ? libbase64.wrap(libbase64.encode(decoded), 76).replace(/\r\n/g, eol)
      : libqp.wrap(libqp.encode(decoded), 76).replace(/=\r\n/g, `=${eol}`);
  let encoded = Buffer.from(text, 'latin1');
  // The line ending before the next boundary (or at the end of the message) stays where it was.
  const endsWithLine = /(\r\n|\r|\n)$/.exec(body.subarray(-2).toString('latin1'))?.[1];
  if (endsWithLine && encoding === 'base64') encoded = Buffer.concat([encoded, Buffer.from(endsWithLine)]);
  const what = `${contentType}${was ? `, ${was}` : ''}`;
  changes.push(
    was === encoding
      ? `${LONG_LINE_CHANGE}: the body of ${placeOf(node)} (${what}; a line of ${longest} octets) was re-wrapped, its decoded bytes unchanged`
      : `${LONG_LINE_CHANGE}: the body of ${placeOf(node)} (${what}; a line of ${longest} octets) was re-encoded as ${encoding}, its decoded bytes unchanged`,
  );
  return {
    header: was === encoding ? header : withTransferEncoding(header, encoding, node.root),
    body: encoded,
  };
}

/** Every chunk the splitter gives for a message, in order. */
async function splitMessage(raw: Buffer): Promise<SplitterChunk[]> {
  const splitter = new mailsplit.Splitter();
  const chunks: SplitterChunk[] = [];
  splitter.end(raw);
  for await (const chunk of splitter as AsyncIterable<SplitterChunk>) chunks.push(chunk);
  return chunks;
}

/**
 * The copy with every line at most 998 octets, and what was changed (each entry starts with LONG_LINE_CHANGE).
 * A copy whose lines all fit is returned as it is. A line that is no header field's and no part's (a multipart
 * preamble or epilogue) is left as it is and reported. Lines are read by the one line rule; the splitter knows
 * only CRLF and LF, so a message whose lines all end in a lone CR is split with LF and written back with CR.
 * Never throws for what a message holds: a message the splitter cannot read is left as it is, and reported.
 */
export async function fitLongLines(raw: Buffer): Promise<{ raw: Buffer; changes: string[] }> {
  if (!tooLong(raw)) return { raw, changes: [] };
  const changes: string[] = [];
  // Only a message with no LF at all is read with its lone CRs as LFs: where lone CRs and LFs are mixed, the
  // splitter's lines (LF) are longer than SES's, never shorter, so what it re-encodes or folds is enough.
  const convention: Convention = raw.includes(10) || !raw.includes(13) ? 'as-is' : 'bare-cr';
  const view =
    convention === 'bare-cr' ? Buffer.from(raw.toString('latin1').replace(/\r/g, '\n'), 'latin1') : raw;
  let chunks: SplitterChunk[];
  try {
    chunks = await splitMessage(view);
  } catch (error) {
    // A structure the splitter will not read (past its limits): sent as it is, and SES says why it refuses.
    changes.push(
      `${LONG_LINE_CHANGE}: left as it is (the MIME splitter could not read the message: ${errorMessage(error)}); SES may refuse it`,
    );
    return { raw, changes };
  }
  const out: Buffer[] = [];
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i] as SplitterChunk;
    if (chunk.type !== 'node') {
      if (chunk.value && tooLong(chunk.value))
        changes.push(
          `${LONG_LINE_CHANGE}: a line outside every part (a multipart preamble or epilogue, ${longestLine(chunk.value)} octets) was left as it is`,
        );
      if (chunk.value) out.push(chunk.value);
      continue;
    }
    const node = chunk as MimeNode;
    const header = foldHeaderBlock(node.getHeaders(), placeOf(node), changes);
    const body: Buffer[] = [];
    while (chunks[i + 1]?.type === 'body') {
      const value = (chunks[++i] as { value?: Buffer }).value;
      if (value) body.push(value);
    }
    const content = Buffer.concat(body);
    const leaf = node.multipart ? undefined : await reencodeLeaf(node, header, content, changes);
    out.push(leaf?.header ?? header, leaf?.body ?? content);
  }
  // What mailsplit's Joiner does: node headers and body chunks, concatenated.
  const joined = Buffer.concat(out);
  const result =
    convention === 'bare-cr' ? Buffer.from(joined.toString('latin1').replace(/\n/g, '\r'), 'latin1') : joined;
  const left = longestLine(result);
  if (left > MAX_LINE_OCTETS)
    changes.push(`${LONG_LINE_CHANGE}: a line of ${left} octets is left (SES may refuse the copy)`);
  return { raw: result, changes };
}
