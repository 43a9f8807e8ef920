// How the CLI prints: colour only on a terminal, NO_COLOR, --json/--quiet, user mistakes without stacks.
import { describe, expect, it } from 'vitest';
import { countAndFirstFew, skipReasonLines } from '../../../../cli/commands/import';
import { colourEnabled, ExitCode, formatTable, Output, UserError } from '../../../../cli/process/output';
import { NOT_MAIL } from '../../../../shared/history/source-items';

function sink(isTTY = false) {
  const chunks: string[] = [];
  return { isTTY, write: (text: string) => chunks.push(text), text: () => chunks.join('') };
}

describe('colour', () => {
  it('is on for a terminal only, and never with NO_COLOR or TERM=dumb', () => {
    expect(colourEnabled({ isTTY: true }, {})).toBe(true);
    expect(colourEnabled({ isTTY: false }, {})).toBe(false);
    expect(colourEnabled({}, {})).toBe(false);
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    // https://no-color.org: an empty NO_COLOR does not count.
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(colourEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(colourEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
  });

  it('never reaches a pipe', () => {
    const out = sink(false);
    const err = sink(false);
    const output = new Output({}, out, err, {});
    expect(output.error(new UserError('no mailbox x'))).toBe(ExitCode.failed);
    expect(err.text()).not.toContain('\u001b[');
    const tty = sink(true);
    new Output({}, sink(), tty, {}).error(new UserError('no mailbox x'));
    expect(tty.text()).toContain('\u001b[31m');
  });
});

describe('Output', () => {
  it('prints results and narration for people, JSON only under --json, narration not under --quiet', () => {
    const people = sink();
    const forPeople = new Output({}, people, sink(), {});
    forPeople.info('starting');
    forPeople.result('3 messages');
    forPeople.jsonLine({ messages: 3 });
    expect(people.text()).toBe('starting\n3 messages\n');

    const quiet = sink();
    const q = new Output({ quiet: true }, quiet, sink(), {});
    q.info('starting');
    q.result('3 messages');
    expect(quiet.text()).toBe('3 messages\n');

    const scripts = sink();
    const json = new Output({ json: true }, scripts, sink(), {});
    json.info('starting');
    json.result('3 messages');
    json.jsonLine({ messages: 3 });
    expect(scripts.text()).toBe('{"messages":3}\n');
  });

  it('prints a user mistake as one line and its hint, never a stack; other errors show the stack only with --verbose', () => {
    const err = sink();
    const output = new Output({}, sink(), err, {});
    const code = output.error(
      new UserError('port 1143 is in use', {
        hint: 'choose another with --port N',
        exitCode: ExitCode.failed,
      }),
    );
    expect(code).toBe(1);
    expect(err.text()).toBe('mail-archiver: port 1143 is in use\n  choose another with --port N\n');

    const plain = sink();
    new Output({}, sink(), plain, {}).error(new Error('socket hang up'));
    expect(plain.text()).toBe(
      'mail-archiver: socket hang up\n  (run again with --verbose for the details)\n',
    );
    const verbose = sink();
    new Output({ verbose: true }, sink(), verbose, {}).error(new Error('socket hang up'));
    expect(verbose.text()).toMatch(/socket hang up\nError: socket hang up\n {4}at /);
  });
});

describe('tables (list, search, forwards)', () => {
  it("show a message's control and bidi formatting characters as U+FFFD, never hand them to the terminal", () => {
    // A subject and a sender as the index keeps them after decoding encoded words: C0 controls are already
    // gone there, but C1 (U+009B is CSI), DEL and bidi overrides come through.
    const lines = formatTable(
      ['FROM', 'SUBJECT'],
      [['\u009b2J\u202eelgooG <x@example.org>', 'invoice\u202e fdp.exe\u007f\u001b[31m']],
    );
    const row = lines[1] as string;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must be absent
    expect(row).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(row).toContain('\uFFFD2J\uFFFDelgooG <x@example.org>');
    expect(row).toContain('invoice\uFFFD fdp.exe\uFFFD\uFFFD[31m');
    // Columns stay aligned: the header's SUBJECT starts where the row's subject does.
    expect((lines[0] as string).indexOf('SUBJECT')).toBe(row.indexOf('invoice'));
  });
});

describe("import's report of what it skipped", () => {
  it('counts them and names the first few; --json has them all', () => {
    const items = (n: number) => Array.from({ length: n }, (_, i) => ({ origin: `f${i}.txt` }));
    expect(countAndFirstFew([])).toBe('0');
    expect(countAndFirstFew(items(2))).toBe('2 (f0.txt, f1.txt)');
    expect(countAndFirstFew(items(12))).toBe(
      '12 (f0.txt, f1.txt, f2.txt, f3.txt, f4.txt and 7 more: --json lists them all)',
    );
  });

  it('says why for a skip with a reason of its own (a canary), not for a file that is not mail', () => {
    const canary = (i: number) => ({
      origin: `c${i}.eml`,
      reason: 'a canary (every recipient is canary@example.com)',
    });
    const notMail = { origin: 'notes.txt', reason: NOT_MAIL };
    expect(skipReasonLines([notMail])).toEqual([]);
    expect(skipReasonLines([notMail, canary(0)])).toEqual([
      '  skipped: c0.eml: a canary (every recipient is canary@example.com)',
    ]);
    expect(skipReasonLines([canary(0)], 'would skip')).toEqual([
      '  would skip: c0.eml: a canary (every recipient is canary@example.com)',
    ]);
    const many = skipReasonLines(Array.from({ length: 7 }, (_, i) => canary(i)));
    expect(many).toHaveLength(6);
    expect(many[5]).toBe('  and 2 more like these: --json lists them all');
  });
});
