// How a word is written for a POSIX shell (sh, bash, zsh) to read it back as that one word: as it is when it holds
// only characters no shell treats specially, else inside single quotes, where nothing is special and a single quote
// itself is written '\'' (close, an escaped quote, reopen). Source: POSIX.1-2017 XCU 2.2.2 (Single-Quotes).

/** `word` quoted for a POSIX shell: `hello world` is `'hello world'`, `it's` is `'it'\''s'`, `a.txt` stays. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A command line, each word quoted by {@link shellWord}. */
export function shellLine(words: readonly string[]): string {
  return words.map(shellWord).join(' ');
}
