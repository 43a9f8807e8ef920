// The one charset decoding path for headers, names and text of mail (the indexer, the forwarding rewrite, the
// importer's folder names): iconv-lite, which covers the WHATWG encodings, the ISO-8859 and Windows families,
// the CJK encodings, UTF-7 and IMAP's modified UTF-7; and encoding-japanese for ISO-2022-JP (RFC 1468), the
// 7-bit Japanese mail encoding iconv-lite lacks. libmime (used by mailparser's splitter to decode encoded words
// and RFC 2231 parameters) decodes through the same two libraries, so the aliases registered here reach it too.
//
// MIME charset names of the classic Macintosh encodings (`x-mac-cyrillic`, `x-mac-ce`, ...: the names Apple Mail,
// Outlook for Mac and Eudora wrote) are not iconv-lite's names (`maccyrillic`, `maccenteuro`, ...): they are
// mapped here. Source of the MIME names: the IANA charset registry and the Microsoft/Apple code page names
// (x-mac-* in .NET's Encoding list).
import Encoding from 'encoding-japanese';
import iconv from 'iconv-lite';
import libmime from 'libmime';

/**
 * MIME charset label (compared as iconv-lite does: lower case, letters and digits only) -> iconv-lite encoding.
 * Apple's CJK Mac encodings are supersets of the standard ones below; their extra characters are rare.
 */
export const MAC_CHARSET_ALIASES: Readonly<Record<string, string>> = {
  xmacroman: 'macintosh',
  xmacce: 'maccenteuro',
  xmaccentraleurroman: 'maccenteuro',
  xmaccentraleurope: 'maccenteuro',
  xmaccentraleuropean: 'maccenteuro',
  xmaccenteuro: 'maccenteuro',
  xmaclatin2: 'maccenteuro',
  xmaccyrillic: 'maccyrillic',
  xmacrussian: 'maccyrillic',
  xmacukrainian: 'macukraine',
  xmacukraine: 'macukraine',
  xmacgreek: 'macgreek',
  xmacturkish: 'macturkish',
  xmacicelandic: 'maciceland',
  xmaciceland: 'maciceland',
  xmaccroatian: 'maccroatian',
  xmacromanian: 'macromania',
  xmacromania: 'macromania',
  xmacthai: 'macthai',
  xmacjapanese: 'shiftjis',
  xmacchinesetrad: 'big5',
  xmacchinesesimp: 'gb2312',
  xmackorean: 'euckr',
};

/** iconv-lite's own normalisation of an encoding name (lib/index.js `_canonicalizeEncoding`). */
function canonical(label: string): string {
  return label.toLowerCase().replace(/:\d{4}$|[^0-9a-z]/g, '');
}

let registered = false;
/** Adds the aliases to iconv-lite's table once (its table is loaded lazily on first use). */
function registerAliases(): void {
  if (registered) return;
  iconv.encodingExists('utf8'); // loads iconv.encodings
  const table = (iconv as unknown as { encodings: Record<string, unknown> }).encodings;
  for (const [alias, target] of Object.entries(MAC_CHARSET_ALIASES)) {
    if (!(alias in table)) table[alias] = target;
  }
  registered = true;
}
registerAliases();

/**
 * The iconv-lite name for a MIME charset label (`"x-mac-cyrillic"` -> `"maccyrillic"`), or `undefined` when no
 * decoder knows it. An RFC 2231 language suffix (`utf-8*en`) is ignored.
 */
export function decoderName(label: string | undefined): string | undefined {
  if (!label) return undefined;
  const name = canonical(label.split('*')[0] ?? '');
  if (!name) return undefined;
  const mapped = MAC_CHARSET_ALIASES[name] ?? name;
  return iconv.encodingExists(mapped) ? mapped : undefined;
}

/** ISO-2022-JP's labels (IANA charset registry), compared as iconv-lite compares names. */
const ISO_2022_JP_LABELS = new Set(['iso2022jp', 'csiso2022jp']);

/** Whether a label names ISO-2022-JP, which encoding-japanese decodes (as libmime does) and iconv-lite cannot. */
function isIso2022Jp(label: string | undefined): boolean {
  return label !== undefined && ISO_2022_JP_LABELS.has(canonical(label.split('*')[0] ?? ''));
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes in a declared charset to text. Never throws: an unknown or missing label is read as UTF-8 when the bytes
 * are valid UTF-8, else as Windows-1252 (what unlabelled 8-bit mail overwhelmingly is). Bytes that are not
 * valid in the declared charset (a header written in Latin-1 by one program in a message another labelled
 * UTF-8) are read as unlabelled ones too, instead of coming out as U+FFFD.
 */
export function decodeBytes(bytes: Uint8Array, label?: string): string {
  // ISO-2022-JP is 7-bit: bytes above 0x7F are not in it, and are read as unlabelled text.
  if (isIso2022Jp(label) && bytes.every((b) => b < 0x80)) {
    return Encoding.convert(Array.from(bytes), { to: 'UNICODE', from: 'JIS', type: 'string' });
  }
  const name = decoderName(label);
  if (!name) return decodeUnlabelled(bytes);
  const text = iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), name);
  if (!text.includes('\uFFFD')) return text;
  const unlabelled = decodeUnlabelled(bytes);
  return unlabelled.includes('\uFFFD') ? text : unlabelled;
}

/** 8-bit text with no (usable) charset label: UTF-8 when it is valid UTF-8, else Windows-1252. */
export function decodeUnlabelled(bytes: Uint8Array): string {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'windows1252');
  }
}

/** Whether a label names a charset this path can decode (after the Macintosh aliases). */
export function isKnownCharset(label: string): boolean {
  return decoderName(label) !== undefined || isIso2022Jp(label);
}

const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

/** The octets an encoded word's text stands for (RFC 2047 4.1 "B", 4.2 "Q"). */
function encodedWordBytes(encoding: string, text: string): Buffer {
  if (encoding.toUpperCase() === 'B') return Buffer.from(text, 'base64');
  const latin1 = text
    .replace(/_/g, ' ')
    .replace(/=([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  return Buffer.from(latin1, 'latin1');
}

/**
 * Encoded words whose charset no decoder knows (`x-bogus`, sendmail's `unknown-8bit`) are relabelled as
 * unlabelled 8-bit text is read: UTF-8 when their octets (all words of that label together) are valid UTF-8,
 * else Windows-1252. libmime would read them as UTF-8 whatever they hold, and Latin-1 came out as U+FFFD.
 * ISO-2022-JP's aliases are relabelled with its own name, the one libmime recognises.
 */
function relabelUnknownCharsets(value: string): string {
  const octets = new Map<string, Buffer[]>();
  const relabel = new Map<string, string>();
  for (const [, label = '', encoding = '', text = ''] of value.matchAll(ENCODED_WORD)) {
    // libmime hands only the label `ISO-2022-JP` itself (and `JIS`) to encoding-japanese, not its aliases.
    if (isIso2022Jp(label)) relabel.set(label, 'ISO-2022-JP');
    if (isKnownCharset(label)) continue;
    octets.set(label, [...(octets.get(label) ?? []), encodedWordBytes(encoding, text)]);
  }
  if (octets.size === 0 && relabel.size === 0) return value;
  for (const [label, parts] of octets) {
    let utf8 = true;
    try {
      utf8Strict.decode(Buffer.concat(parts));
    } catch {
      utf8 = false;
    }
    relabel.set(label, utf8 ? 'utf-8' : 'windows-1252');
  }
  return value.replace(ENCODED_WORD, (word, label: string, encoding: string, text: string) => {
    const known = relabel.get(label);
    return known ? `=?${known}?${encoding}?${text}?=` : word;
  });
}

/**
 * RFC 2047 encoded words to Unicode (adjacent words of one charset joined before decoding, as RFC 2047 6.2
 * requires for multi-byte characters split across words); words in a charset no decoder knows are read as
 * unlabelled 8-bit text (relabelUnknownCharsets). Malformed words are left as they are; never throws.
 */
export function decodeWords(value: string): string {
  try {
    return libmime.decodeWords(relabelUnknownCharsets(value));
  } catch {
    return value;
  }
}

/** IMAP modified UTF-7 (RFC 3501 5.1.3) to Unicode: `Envoy&AOk-s` -> `Envoyés`. */
export function decodeModifiedUtf7(name: string): string {
  return iconv.decode(Buffer.from(name, 'latin1'), 'utf-7-imap');
}

/** Unicode to IMAP modified UTF-7: `Entwürfe` -> `Entw&APw-rfe`. */
export function encodeModifiedUtf7(name: string): string {
  return iconv.encode(name, 'utf-7-imap').toString('latin1');
}
