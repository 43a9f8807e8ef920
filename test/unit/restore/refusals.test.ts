// What a server's answer means to restore (shared/restore/refusals.ts): a refusal of one message (and why), a
// command the user must hear about, or an outage to wait out. Errors are shaped as imapflow 2.1 throws them.
import { describe, expect, it } from 'vitest';
import { TargetRefusedError } from '../../../shared/restore/errors';
import {
  explainCommandError,
  isCommandAnswer,
  nextStep,
  refusalOf,
  serverWords,
} from '../../../shared/restore/refusals';
import { commandError, loginError, socketError, throttleError } from '../../support/fake-imap';

describe('refusalOf: a NO or BAD to one APPEND', () => {
  it('is "too large" for RFC 5530 [TOOBIG] and [LIMIT], the words of size limits, and imapflow\'s APPENDLIMIT check', () => {
    const cases = [
      commandError({ status: 'NO', code: 'TOOBIG', text: 'Message too big' }),
      commandError({ status: 'NO', code: 'LIMIT', text: 'Mail max size exceeded' }),
      commandError({ status: 'NO', text: 'Message too large (0.001 + 0.000 secs).' }),
      commandError({ status: 'NO', text: 'Message exceeds the size limit' }),
      Object.assign(new Error('Message content too big for APPENDLIMIT=1000'), {
        serverResponseCode: 'APPENDLIMIT',
      }),
    ];
    for (const error of cases) expect(refusalOf(error)?.reason, serverWords(error)).toBe('too large');
    expect(refusalOf(cases[4])?.serverText).toBe('Message content too big for APPENDLIMIT=1000');
  });

  it('is "quota" for [OVERQUOTA] and for a quota in the words', () => {
    expect(refusalOf(commandError({ status: 'NO', code: 'OVERQUOTA', text: 'Quota exceeded' }))).toEqual({
      reason: 'quota',
      serverText: 'NO [OVERQUOTA] Quota exceeded',
    });
    expect(refusalOf(commandError({ status: 'NO', text: 'Daily upload quota reached' }))?.reason).toBe(
      'quota',
    );
  });

  it('is "rejected" otherwise, with the server\'s words (code kept, Dovecot\'s timings removed)', () => {
    expect(
      refusalOf(
        commandError({
          status: 'NO',
          text: 'Message contains invalid header (0.001 + 0.000 + 0.001 secs).',
        }),
      ),
    ).toEqual({ reason: 'rejected', serverText: 'NO Message contains invalid header' });
    expect(refusalOf(commandError({ status: 'BAD', code: 'CANNOT', text: 'Bad literal' }))).toEqual({
      reason: 'rejected',
      serverText: 'BAD [CANNOT] Bad literal',
    });
  });

  it('is no refusal for throttling, "try again later" codes and anything that is not an answer', () => {
    expect(refusalOf(throttleError(50))).toBeUndefined();
    for (const code of ['INUSE', 'UNAVAILABLE', 'SERVERBUG', 'inuse'])
      expect(refusalOf(commandError({ status: 'NO', code, text: 'try later' })), code).toBeUndefined();
    expect(refusalOf(socketError('ECONNRESET'))).toBeUndefined();
    expect(refusalOf(new Error('Connection not available'))).toBeUndefined();
    expect(refusalOf('a string')).toBeUndefined();
  });
});

describe('isCommandAnswer: final answers are never retried by reconnecting', () => {
  it('is true for a refused login, a NO/BAD without a temporary code and the APPENDLIMIT check', () => {
    expect(isCommandAnswer(loginError())).toBe(true);
    expect(isCommandAnswer(commandError({ status: 'NO', text: 'Mailbox does not exist' }))).toBe(true);
    expect(isCommandAnswer(commandError({ status: 'BAD', text: 'Error in IMAP command' }))).toBe(true);
    expect(isCommandAnswer({ serverResponseCode: 'APPENDLIMIT' })).toBe(true);
  });

  it('is false for throttling, temporary codes, socket errors and other values', () => {
    expect(isCommandAnswer(throttleError(10))).toBe(false);
    expect(isCommandAnswer(commandError({ status: 'NO', code: 'UNAVAILABLE', text: 'backend down' }))).toBe(
      false,
    );
    expect(isCommandAnswer(socketError('EPIPE'))).toBe(false);
    expect(isCommandAnswer(undefined)).toBe(false);
  });
});

describe('explainCommandError', () => {
  it("names the refused command (without its tag) and the server's words", () => {
    const error = commandError({
      status: 'NO',
      code: 'CANNOT',
      text: "Character not allowed in mailbox name: '.' (0.001 + 0.000 secs).",
      command: 'CREATE "a.b z"',
    });
    const explained = explainCommandError(error);
    expect(explained).toBeInstanceOf(TargetRefusedError);
    expect((explained as Error).message).toBe(
      'the IMAP server refused "CREATE \\"a.b z\\"": NO [CANNOT] Character not allowed in mailbox name: \'.\'',
    );
    expect((explained as Error).cause).toBe(error);
  });

  it('passes errors of ours and anything that is not a server answer unchanged', () => {
    const ours = new TargetRefusedError('already explained');
    expect(explainCommandError(ours)).toBe(ours);
    const socket = socketError('ECONNRESET');
    expect(explainCommandError(socket)).toBe(socket);
    expect(explainCommandError('text')).toBe('text');
  });
});

describe('nextStep: what the user can do about a refused message', () => {
  const where = "extracted with: tar -xzf alice.tar.gz 'Maildir/cur/1.a.mail-archiver,S=1,W=1:2,S'";
  const step = (status: 'NO' | 'BAD', text: string, code?: string) => {
    const refused = refusalOf(commandError({ status, text, ...(code ? { code } : {}) }));
    if (!refused) throw new Error('not a refusal');
    return nextStep(refused, where, 'alice@example.com');
  };

  it("an invalid header (Cyrus): the provider's importer with the exact bytes, or a fixed copy said to be one", () => {
    const text = step('NO', 'Message contains invalid header');
    expect(text).toContain('RFC 5322 section 2.2');
    expect(text).toContain('mail-archiver export alice@example.com --format mboxrd');
    expect(text).toContain(where);
    expect(text).toContain('no longer the archived original');
  });

  it("too large: the provider's importer; quota: make room and run again; anything else: the importer", () => {
    expect(step('NO', 'Message too large', 'TOOBIG')).toMatch(
      /no message this large over IMAP: load it with the provider's own importer/,
    );
    expect(step('NO', 'Quota exceeded', 'OVERQUOTA')).toMatch(/make room .* run the same command again/);
    const other = step('NO', 'Message rejected by policy');
    expect(other).toMatch(/refuses this message's content; try the provider's own importer/);
    expect(other).toContain(where);
  });
});
