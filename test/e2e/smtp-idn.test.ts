// The local stack receives for an internationalised domain: smtp-server hands a RCPT TO domain as a U-label
// (Punycode decoded), where SES hands the envelope with A-labels; the SMTP listener in SES's role spells it as SES
// does, so mailboxes configured in either spelling get their mail, and doctor's canary round trip passes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canaryCheck, localCanaryRoundTrip } from '../../cli/doctor/canary';
import { startLocalArchive } from '../../cli/local/archive';
import { type SmtpListener, startSmtpListener } from '../../cli/local/smtp-listener';
import type { Archive } from '../../cli/target/archive';
import { exampleConfig } from '../support/config';

const config = exampleConfig({
  domains: ['xn--bcher-kva.example'],
  mailboxes: {
    'alice@xn--bcher-kva.example': { forwardTo: [] },
    'bob@bücher.example': { forwardTo: [] },
  },
});
let work: string;
let archive: Archive | undefined;
let smtp: SmtpListener | undefined;
const lines: string[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mail-archiver-smtp-idn-'));
  archive = await startLocalArchive(config, { home: join(work, 'home') });
  smtp = await startSmtpListener(config, archive, { port: 0, log: (line) => lines.push(line) });
}, 60_000);
afterAll(async () => {
  await smtp?.stop();
  await archive?.close();
  rmSync(work, { recursive: true, force: true });
});

async function inbox(mailbox: string): Promise<string[]> {
  const subjects: string[] = [];
  for await (const row of (archive as Archive).index.folderDeliveries(mailbox, 'INBOX'))
    subjects.push(row.sesMessageId);
  return subjects;
}

describe('the local SMTP listener with an internationalised domain', () => {
  it('accepts RCPT TO in either spelling, hands the envelope with A-labels, and archives for both mailboxes', async () => {
    const transport = createTransport({
      host: '127.0.0.1',
      port: smtp?.port,
      secure: false,
      ignoreTLS: true,
    });
    const info = await transport.sendMail({
      from: 'sender@example.org',
      to: ['alice@xn--bcher-kva.example', 'bob@bücher.example'],
      subject: 'idn',
      text: 'x\n',
    });
    expect(info.rejected).toEqual([]);
    expect(lines).toContainEqual(
      expect.stringMatching(/^archived \S+ for alice@xn--bcher-kva\.example, bob@xn--bcher-kva\.example$/),
    );
    const sesMessageId = info.response.match(/Ok (\S+)/)?.[1];
    expect(sesMessageId).toBeDefined();
    expect(await inbox('alice@xn--bcher-kva.example')).toEqual([sesMessageId]);
    expect(await inbox('bob@bücher.example')).toEqual([sesMessageId]);
  }, 30_000);

  it('an unknown recipient on the domain is 550 5.1.1, not a syntax error', async () => {
    const transport = createTransport({
      host: '127.0.0.1',
      port: smtp?.port,
      secure: false,
      ignoreTLS: true,
    });
    await expect(
      transport.sendMail({
        from: 'sender@example.org',
        to: 'carol@bücher.example',
        subject: 'x',
        text: 'x\n',
      }),
    ).rejects.toMatchObject({ responseCode: 550, response: expect.stringMatching(/5\.1\.1/) });
  }, 30_000);

  it("doctor's canary round trip to canary@xn--bcher-kva.example passes", async () => {
    const roundTrip = await localCanaryRoundTrip(config, archive as Archive, smtp as SmtpListener, 5_000);
    expect(canaryCheck(config, roundTrip)).toMatchObject({ status: 'ok' });
  }, 30_000);
});
