// How the CLI talks to people and to scripts: exit codes, the error class for user mistakes, --json/--quiet/
// --verbose, colour only on a terminal, and a quiet exit when the reader of stdout goes away (`| head`).

import { errorMessage } from '../../shared/errors';
import { BIDI_FORMATTING_CHARACTER, CONTROL_CHARACTER } from '../../shared/mail/display-text';
import { describeError } from './describe-error';

/**
 * The exit codes, documented in the README ("Exit codes"). Scripts may rely on them.
 *  - 0 the command did what was asked (an EPIPE on stdout, `mail-archiver list ... | head`, is also 0: the
 *    reader chose to stop, as with `ls`).
 *  - 1 it did not: a mistake in what was asked (unknown mailbox, missing file), a check that found problems
 *    (`verify`, `reconcile`), or a failure (a service down, a message that could not be archived).
 *  - 2 the command line itself is wrong (unknown option, missing argument): nothing was attempted.
 *  - 130 / 143 interrupted by SIGINT (Ctrl-C) / SIGTERM, after cleaning up (128 + the signal number, as shells do).
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  interrupted: 130,
  terminated: 143,
} as const;

/**
 * A mistake the user can fix (a typo'd mailbox, a missing file, a busy port): printed as one plain line plus
 * an optional hint, never with a stack trace. Everything else is a bug or an outage and prints its message too,
 * with the stack only under `--verbose`.
 */
export class UserError extends Error {
  override name = 'UserError';
  /** What to do about it, printed on its own line ("choose another with --port N"). */
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(message: string, options: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.failed;
  }
}

/**
 * Why a file the user named cannot be used, in plain words (the errno code's meaning), for a UserError's line;
 * anything else is the error's own message.
 */
export function fileProblem(error: unknown): string {
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    default:
      return errorMessage(error);
  }
}

/** The global output options (`--json`, `--quiet`, `--verbose`), read once per run. */
export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

/**
 * Whether to colour a stream: only a terminal, never when `NO_COLOR` is set to anything non-empty
 * (https://no-color.org), never on `TERM=dumb`; `FORCE_COLOR` (non-empty, not "0") turns it on anywhere.
 */
export function colourEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

type Paint = (text: string) => string;
export interface Palette {
  bold: Paint;
  dim: Paint;
  red: Paint;
  green: Paint;
  yellow: Paint;
}

const sgr =
  (open: number, close: number): Paint =>
  (text) =>
    `\u001b[${open}m${text}\u001b[${close}m`;
const plain: Paint = (text) => text;

export function palette(enabled: boolean): Palette {
  return enabled
    ? { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39) }
    : { bold: plain, dim: plain, red: plain, green: plain, yellow: plain };
}

interface Writable {
  write(text: string): unknown;
  isTTY?: boolean;
}

/**
 * The one way commands print. `result` is the answer (stdout; suppressed under --json, where `json` prints
 * instead); `info` is narration (stdout, suppressed by --quiet and --json); `detail` only under --verbose
 * (stderr); `warn` always goes to stderr.
 */
export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  /** Colours for stdout. */
  readonly style: Palette;
  /** Colours for stderr. */
  readonly errStyle: Palette;

  constructor(
    options: OutputOptions = {},
    private readonly stdout: Writable = process.stdout,
    private readonly stderr: Writable = process.stderr,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.json = Boolean(options.json);
    this.quiet = Boolean(options.quiet);
    this.verbose = Boolean(options.verbose);
    this.style = palette(colourEnabled(stdout, env));
    this.errStyle = palette(colourEnabled(stderr, env));
  }

  /** The command's answer, for people. Not printed under --json. */
  result(line: string): void {
    if (!this.json) this.stdout.write(`${line}\n`);
  }

  /** Narration ("stopping...", banners' hints). Not printed under --quiet or --json. */
  info(line: string): void {
    if (!this.json && !this.quiet) this.stdout.write(`${line}\n`);
  }

  /** One JSON document (or one JSON line of a stream) on stdout; printed only under --json. */
  jsonLine(value: unknown): void {
    if (this.json) this.stdout.write(`${JSON.stringify(value)}\n`);
  }

  warn(line: string): void {
    this.stderr.write(`${this.errStyle.yellow('warning:')} ${line}\n`);
  }

  /** One line on stderr about how the command runs (not its answer): not printed under --quiet. */
  notice(line: string): void {
    if (!this.quiet) this.stderr.write(`${line}\n`);
  }

  detail(line: string): void {
    if (this.verbose) this.stderr.write(`${line}\n`);
  }

  /** Prints an error the way the CLI always does; returns the exit code to use. */
  error(error: unknown): number {
    const red = this.errStyle.red;
    if (error instanceof UserError) {
      this.stderr.write(`${red('mail-archiver:')} ${error.message}\n`);
      if (error.hint) this.stderr.write(`  ${error.hint}\n`);
      if (this.verbose && error.cause instanceof Error) this.stderr.write(`${error.cause.stack}\n`);
      return error.exitCode;
    }
    const e = error instanceof Error ? error : new Error(String(error));
    // Every cause in the chain, one per line (cli/process/describe-error.ts): the outermost message alone rarely says why.
    this.stderr.write(`${red('mail-archiver:')} ${describeError(e)}\n`);
    if (this.verbose) this.stderr.write(`${e.stack}\n`);
    else this.stderr.write('  (run again with --verbose for the details)\n');
    return ExitCode.failed;
  }
}

/**
 * When the reader of stdout goes away (`mail-archiver list ... | head -2`), stop quietly with exit 0, as `ls`
 * and `aws` do, instead of an unhandled EPIPE stack trace. Installed once, at start-up.
 */
export function exitQuietlyOnEpipe(
  stream: NodeJS.WriteStream = process.stdout,
  beforeExit: () => Promise<unknown> = async () => undefined,
): void {
  stream.on('error', async (error: NodeJS.ErrnoException) => {
    // Services started for the command (DynamoDB Local, s3rver) are stopped first: exit leaves children running.
    await beforeExit().catch(() => undefined);
    if (error.code === 'EPIPE') process.exit(ExitCode.ok);
    process.stderr.write(`mail-archiver: cannot write to stdout: ${error.message}\n`);
    process.exit(ExitCode.failed);
  });
}

/** A cell as a terminal shows it: every control or bidi formatting character becomes U+FFFD. */
export function terminalSafe(text: string): string {
  // What a terminal would act on instead of showing; mail puts them in subjects and names at will.
  return text.replace(CONTROL_CHARACTER, '\uFFFD').replace(BIDI_FORMATTING_CHARACTER, '\uFFFD');
}

/** What each command's read of the index reads, as `--verbose` names it. */
const INDEX_READ_ITEMS = {
  rows: 'rows',
  sender: "items (the sender's index entries and the rows fetched from them)",
  status:
    "items (the mailbox registry, the folder items, each mailbox's newest row, and the rows of a folder with no kept count)",
} as const;

/**
 * What `--verbose` says a read of the index went through (list, search, status): the items DynamoDB read (what read
 * units pay for) and the rows printed, what the filters and the limit kept of them. DynamoDB's own count after its
 * filter expression is neither: a page returns rows the limit or a filter on our side then drops. `sender`: a search
 * that read one sender's index entries and fetched rows from them; `status`: the counts per mailbox and folder.
 */
export function indexReadDetail(
  read: number,
  printed: number,
  plan: keyof typeof INDEX_READ_ITEMS = 'rows',
): string {
  return `the index read ${read} ${INDEX_READ_ITEMS[plan]}; ${printed} printed`;
}

/**
 * Tables for people: columns padded, cells cut at 60 characters with an ellipsis, control and bidi formatting
 * characters shown as U+FFFD (terminalSafe). `wholeLast`: the last column is never cut (nothing follows it to push
 * out of line; the terminal wraps it), for a column whose end matters, as a refusal's reason.
 */
export function formatTable(
  header: string[],
  unsafeRows: string[][],
  options: { wholeLast?: boolean } = {},
): string[] {
  const rows = unsafeRows.map((row) => row.map(terminalSafe));
  const width = (i: number) => Math.min(60, Math.max(...[header, ...rows].map((r) => (r[i] ?? '').length)));
  const widths = header.map((_, i) => width(i));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const w = widths[i] ?? 10;
        const last = i === cells.length - 1;
        const cell = c.length > w && !(last && options.wholeLast) ? `${c.slice(0, w - 1)}…` : c;
        return last ? cell : cell.padEnd(w);
      })
      .join('  ');
  return [line(header), ...rows.map(line)];
}

export function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

/** Prints a table (formatTable) on stdout. */
export function printTable(header: string[], rows: string[][], options: { wholeLast?: boolean } = {}): void {
  for (const line of formatTable(header, rows, options)) console.log(line);
}

/** JSON lines on stdout, one object per line. */
export function printJsonLines(items: Iterable<unknown>): void {
  for (const item of items) process.stdout.write(`${JSON.stringify(item)}\n`);
}

/** An ISO 8601 UTC time as people read it in a table: `2026-01-31 12:00:00`. */
export function tableTime(iso: string): string {
  return iso.replace('T', ' ').slice(0, 19);
}
