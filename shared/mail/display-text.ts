// Characters in mail text that must not reach a reader as they are: one home for the rule, used where a name or
// subject is shown to a person (the forwarded From's display name, the CLI's tables).

/** C0, DEL and C1 control characters, one at a time (a C1 such as U+009B is a terminal's CSI, as ESC [ is). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is matched
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/g;

/** Runs of C0 controls and DEL (NUL, bare CR/LF from broken folding): what header values and folder names drop. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]+/g;

/**
 * Unicode's explicit bidirectional formatting characters, one at a time (UAX #9: ALM, LRM, RLM, the embeddings
 * and overrides U+202A-U+202E, the isolates U+2066-U+2069): an override reverses the rest of the line it is in.
 * Text in right-to-left scripts needs none of them.
 */
export const BIDI_FORMATTING_CHARACTER = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
