import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SNSEvent } from 'aws-lambda';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiveRawMessage } from '../../cli/local/archive';
import { type RunningLocalStack, startLocalStack } from '../../cli/local/stack';
import { createFeedbackHandler } from '../../lambdas/feedback/handler';
import { SendError } from '../../shared/forwarding/errors';
import type { ForwardEntry } from '../../shared/forwarding/ledger';
import type { MailSender } from '../../shared/ports';
import { buildReceivedNotification } from '../../shared/receiving/ses-notification';
import { runCli } from '../support/cli';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';

const TARGET = 'alice.example@gmail.com';
let home: string;
let stack: RunningLocalStack;
/** Errors the next sends throw, in order: how the tests inject SES throttling and rejections. */
const injected: SendError[] = [];
let sendCalls = 0;

const faulty = (inner: MailSender): MailSender => ({
  async send(input) {
    sendCalls++;
    const fault = injected.shift();
    if (fault) throw fault;
    return inner.send(input);
  },
});

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mail-archiver-forward-'));
  stack = await startLocalStack(exampleConfig(), {
    home,
    smtpPort: 0,
    sinkPort: 0,
    wrapSender: faulty,
    forwardRetry: { attempts: 4, backoffMs: 10 },
  });
});
afterAll(async () => {
  await stack?.stop();
  rmSync(home, { recursive: true, force: true });
});

function sinkCopies(): { raw: Buffer; to: string }[] {
  const dir = stack.sinkDir as string;
  return readdirSync(dir)
    .filter((n) => n.endsWith('.eml'))
    .sort()
    .map((n) => ({
      raw: readFileSync(join(dir, n)),
      to: (JSON.parse(readFileSync(join(dir, n.replace(/\.eml$/, '.json')), 'utf8')) as { to: string }).to,
    }));
}

async function send(subject: string, extra: Record<string, unknown> = {}) {
  const transport = createTransport({
    host: stack.smtp.host,
    port: stack.smtp.port,
    secure: false,
    ignoreTLS: true,
  });
  await transport.sendMail({
    from: 'Ann <ann@sender.example.org>',
    to: 'alice@example.com',
    subject,
    text: `${subject}\n`,
    ...extra,
  });
}

const cli = (args: string[]) => runCli(args, { home });

async function ledger(): Promise<ForwardEntry[]> {
  const out: ForwardEntry[] = [];
  for await (const e of stack.archive.index.listForwards('alice@example.com')) out.push(e);
  return out;
}

describe('forwarding on the local stack', () => {
  it('forwards N messages as N copies per target, rewritten, and none for a mailbox without targets', async () => {
    for (let i = 0; i < 5; i++) await send(`forward me ${i}`);
    await createTransport({
      host: stack.smtp.host,
      port: stack.smtp.port,
      secure: false,
      ignoreTLS: true,
    }).sendMail({
      from: 'ann@sender.example.org',
      to: 'bob@example.com',
      subject: 'archive only',
      text: 'x\n',
    });
    const copies = sinkCopies();
    expect(copies).toHaveLength(5);
    for (const copy of copies) {
      expect(copy.to).toBe(TARGET);
      const text = copy.raw.toString();
      expect(text).toMatch(/^From: "Ann via example\.com" <forwarder@example\.com>\r\n/);
      expect(text).toContain('\r\nReply-To: Ann <ann@sender.example.org>\r\n');
      expect(text).toContain('\r\nX-Original-To: alice@example.com\r\n');
      expect(text).not.toContain('\r\nReturn-Path:');
    }
    const entries = await ledger();
    expect(entries.filter((e) => e.state === 'sent')).toHaveLength(5);
    expect(entries.every((e) => e.target === TARGET && e.attempts === 1)).toBe(true);
  });

  it('sends one copy when the same event arrives three times, in a row or at once', async () => {
    const before = sinkCopies().length;
    const notification = await receiveRawMessage(stack.archive, {
      raw: makeMessage({ subject: 'delivered thrice' }),
      envelopeFrom: 'ann@sender.example.org',
      recipients: ['alice@example.com'],
    });
    for (let i = 0; i < 3; i++) await stack.archive.deliver(notification);
    await Promise.all([1, 2, 3].map(() => stack.archive.deliver(notification)));
    expect(sinkCopies().length - before).toBe(1);
  });

  it('retries a send that is throttled twice and then succeeds: one copy', async () => {
    const before = sinkCopies().length;
    injected.push(
      new SendError('Throttling: Maximum sending rate exceeded', false),
      new SendError('Throttling', false),
    );
    const calls = sendCalls;
    await send('throttled twice');
    expect(sendCalls - calls).toBe(3);
    expect(sinkCopies().length - before).toBe(1);
    const entry = (await ledger()).find((e) => e.state === 'sent' && e.attempts === 3);
    expect(entry).toBeDefined();
  });

  it('parks a permanent failure in the ledger and the dead-letter queue, and redrive delivers it once', async () => {
    const before = sinkCopies().length;
    injected.push(new SendError('MessageRejected: Email address is not verified', true));
    await send('rejected once');
    let failed = (await ledger()).filter((e) => e.state === 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ permanent: true, error: expect.stringMatching(/MessageRejected/) });
    const parkedDir = join(home, 'forward-dead-letters');
    expect(readdirSync(parkedDir)).toHaveLength(1);
    // A duplicate of the original event does not resend a parked failure.
    expect(sinkCopies().length).toBe(before);

    const listed = await cli(['forwards', 'alice@example.com', '--state', 'failed', '--json']);
    expect(listed.stdout.trim().split('\n')).toHaveLength(1);
    const redriven = await cli(['redrive']);
    expect(redriven.stdout, redriven.stderr).toMatch(/redriven 1: 1 sent, 0 still failing/);
    expect(sinkCopies().length - before).toBe(1);
    failed = (await ledger()).filter((e) => e.state === 'failed');
    expect(failed).toHaveLength(0);
    expect(existsSync(parkedDir) ? readdirSync(parkedDir) : []).toHaveLength(0);
    // A second redrive finds nothing to do.
    expect((await cli(['redrive'])).stdout).toMatch(/redriven 0/);
  });

  it('lists a refusal whole in the table: a long, multi-line SMTP reply is not cut', async () => {
    const reply =
      '550-5.7.1 [203.0.113.5] The user or domain that you are sending to (or from) has a policy that\r\n550 5.7.1 prohibited the mail that you sent. Please contact your domain administrator for further details.';
    injected.push(new SendError(`rejected: ${reply}`, true));
    await send('refused with a long reply');
    const table = await cli(['forwards', 'alice@example.com', '--state', 'failed']);
    expect(table.code, table.stderr).toBe(0);
    const row = table.stdout.split('\n').find((line) => line.includes('refused with a long reply'));
    expect(row).toContain(`rejected: ${reply.replace('\r\n', ' ')}`);
    expect((await cli(['redrive'])).stdout).toMatch(/redriven 1: 1 sent/);
  });

  it('does not forward spam, viruses or loops, and records why', async () => {
    const before = sinkCopies().length;
    const cases: [string, Partial<Record<'spam' | 'virus', 'FAIL'>>][] = [
      ['spam here', { spam: 'FAIL' }],
      ['virus here', { virus: 'FAIL' }],
    ];
    for (const [subject, verdicts] of cases) {
      const raw = makeMessage({ subject });
      const stored = await receiveRawMessage(stack.archive, {
        raw,
        envelopeFrom: 'x@y.example',
        recipients: ['alice@example.com'],
      });
      const notification = buildReceivedNotification({
        messageId: stored.mail.messageId,
        timestamp: new Date(),
        source: 'x@y.example',
        recipients: ['alice@example.com'],
        bucket: stored.receipt.action.bucketName,
        objectKey: stored.receipt.action.objectKey,
        verdicts: { spam: 'PASS', virus: 'PASS', ...verdicts },
      });
      await stack.archive.deliver(notification);
    }
    await send('looping', { headers: { 'X-Mail-Archiver-Forwarded': 'abc; example.com' } });
    expect(sinkCopies().length).toBe(before);
    const listed = await cli(['forwards', 'alice@example.com', '--state', 'skipped', '--json']);
    const reasons = listed.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as ForwardEntry).reason);
    expect(reasons.sort()).toEqual([
      'loop: the message already carries X-Mail-Archiver-Forwarded',
      'spam verdict FAIL (kept in Junk)',
      'virus verdict FAIL',
    ]);
  });

  it('records bounces and complaints of forwarded copies from SES events', async () => {
    const sent = (await ledger()).filter((e) => e.state === 'sent');
    const [bounced, complained] = sent;
    const handler = createFeedbackHandler({
      ledger: stack.archive.index,
      logger: { info: () => undefined, warn: () => undefined },
    });
    const sns = (message: unknown) =>
      ({ Records: [{ Sns: { Message: JSON.stringify(message) } }] }) as unknown as SNSEvent;
    await handler(
      sns({
        eventType: 'Bounce',
        mail: { messageId: bounced?.sesMessageId },
        bounce: {
          bounceType: 'Permanent',
          bounceSubType: 'General',
          bouncedRecipients: [{ emailAddress: TARGET, diagnosticCode: 'smtp; 550 5.1.1 no such user' }],
        },
      }),
    );
    await handler(
      sns({
        eventType: 'Complaint',
        mail: { messageId: complained?.sesMessageId },
        complaint: { complaintFeedbackType: 'abuse' },
      }),
    );
    const after = await ledger();
    expect(after.find((e) => e.messageKey === bounced?.messageKey)).toMatchObject({
      state: 'bounced',
      feedback: expect.stringMatching(/550 5\.1\.1/),
    });
    expect(after.find((e) => e.messageKey === complained?.messageKey)).toMatchObject({
      state: 'complained',
      feedback: 'complaint: abuse',
    });
  });
});

describe('redrive with two targets, one of them sent long ago', () => {
  const targets = ['alice.example@gmail.com', 'alice.backup@gmail.com'];
  const rawConfig = {
    domains: ['example.com'],
    mailboxes: { 'alice@example.com': { forwardTo: targets }, 'bob@example.com': {} },
    alarmEmail: 'ops@example.com',
    ses: { ruleSetName: 'mail-archiver', activateRuleSet: true },
  };
  let twoHome: string;
  let twoStack: RunningLocalStack;
  let refuseBackup = true;

  beforeAll(async () => {
    twoHome = mkdtempSync(join(tmpdir(), 'mail-archiver-forward-two-'));
    writeFileSync(join(twoHome, 'config.json'), JSON.stringify(rawConfig));
    twoStack = await startLocalStack(exampleConfig(rawConfig), {
      home: twoHome,
      smtpPort: 0,
      sinkPort: 0,
      // The backup target refuses the first copy permanently; the other target takes it.
      wrapSender: (inner) => ({
        async send(input) {
          if (input.to === targets[1] && refuseBackup) {
            refuseBackup = false;
            throw new SendError('MessageRejected: mailbox unavailable', true);
          }
          return inner.send(input);
        },
      }),
      forwardRetry: { attempts: 2, backoffMs: 10 },
    });
  });
  afterAll(async () => {
    await twoStack?.stop();
    rmSync(twoHome, { recursive: true, force: true });
  });

  it('counts only the copies this run sent', async () => {
    await createTransport({
      host: twoStack.smtp.host,
      port: twoStack.smtp.port,
      secure: false,
      ignoreTLS: true,
    }).sendMail({
      from: 'ann@sender.example.org',
      to: 'alice@example.com',
      subject: 'two targets',
      text: 'x\n',
    });
    const states = async () => {
      const out: Record<string, string> = {};
      for await (const e of twoStack.archive.index.listForwards('alice@example.com')) out[e.target] = e.state;
      return out;
    };
    expect(await states()).toEqual({ [targets[0] as string]: 'sent', [targets[1] as string]: 'failed' });
    const { stdout, stderr, code } = await runCli(['redrive'], {
      home: twoHome,
      env: { MAIL_ARCHIVER_CONFIG: join(twoHome, 'config.json') },
    });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/redriven 1: 1 sent, 0 still failing/);
    expect(await states()).toEqual({ [targets[0] as string]: 'sent', [targets[1] as string]: 'sent' });
  });
});
