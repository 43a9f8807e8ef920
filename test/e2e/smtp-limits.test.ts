// The local SMTP listener keeps SES's limits (50 recipients per message, 40 MB: the 552 is in
// local-stack.test.ts), caps connected clients and idle time, spools DATA to a private file instead of memory,
// and warns when it listens beyond loopback.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalArchive } from '../../cli/local/archive';
import { isLoopback, MAX_RECIPIENTS, smtpExposureWarning } from '../../cli/local/smtp-limits';
import { type SmtpListener, startSmtpListener } from '../../cli/local/smtp-listener';
import type { Archive } from '../../cli/target/archive';
import { exampleConfig } from '../support/config';

const config = exampleConfig();
let work: string;
let archive: Archive | undefined;
let smtp: SmtpListener | undefined;
let spoolDir: string;
const lines: string[] = [];
const MAX_CLIENTS = 4;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mail-archiver-smtp-limits-'));
  spoolDir = join(work, 'spool');
  archive = await startLocalArchive(config, { home: join(work, 'home') });
  smtp = await startSmtpListener(config, archive, {
    port: 0,
    spoolDir,
    maxClients: MAX_CLIENTS,
    idleTimeoutMs: 1500,
    log: (line) => lines.push(line),
  });
});
afterAll(async () => {
  await smtp?.stop();
  await archive?.close();
  rmSync(work, { recursive: true, force: true });
});

/** A raw SMTP conversation: `next()` resolves with the next complete reply. */
function session(): {
  socket: Socket;
  next(): Promise<string>;
  send(line: string): void;
  closed: Promise<void>;
} {
  const socket = connect(smtp?.port as number, '127.0.0.1');
  let buffer = '';
  const waiting: ((reply: string) => void)[] = [];
  const replies: string[] = [];
  socket.on('data', (data) => {
    buffer += data.toString();
    // A reply ends with a line "NNN text" (a space after the code, not a dash).
    for (
      let m = buffer.match(/^(?:\d{3}-.*\r\n)*\d{3}(?: .*)?\r\n/);
      m;
      m = buffer.match(/^(?:\d{3}-.*\r\n)*\d{3}(?: .*)?\r\n/)
    ) {
      buffer = buffer.slice(m[0].length);
      const w = waiting.shift();
      if (w) w(m[0]);
      else replies.push(m[0]);
    }
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return {
    socket,
    closed,
    next: () =>
      new Promise((resolve) => {
        const ready = replies.shift();
        if (ready !== undefined) resolve(ready);
        else waiting.push(resolve);
      }),
    send: (line) => socket.write(`${line}\r\n`),
  };
}

describe('the local SMTP listener keeps limits', () => {
  it(`accepts at most ${MAX_RECIPIENTS} recipients per message and answers 452 to the rest`, async () => {
    const transport = createTransport({
      host: '127.0.0.1',
      port: smtp?.port,
      secure: false,
      ignoreTLS: true,
    });
    const to = Array.from({ length: 60 }, (_, i) => `alice+r${i}@example.com`);
    const info = await transport.sendMail({ from: 'sender@example.org', to, subject: 'many', text: 'x\n' });
    expect(info.accepted).toHaveLength(MAX_RECIPIENTS);
    expect(info.rejected).toHaveLength(10);
    const rejectedErrors = (info as unknown as { rejectedErrors?: { responseCode?: number }[] })
      .rejectedErrors;
    expect(rejectedErrors?.[0]?.responseCode).toBe(452);
    transport.close();
  });

  it(`greets ${MAX_CLIENTS} clients at once and answers the next with 421`, async () => {
    const open = Array.from({ length: MAX_CLIENTS }, () => session());
    for (const s of open) expect(await s.next()).toMatch(/^220 /);
    const extra = session();
    expect(await extra.next()).toMatch(/^421 .*Too many/);
    await extra.closed;
    for (const s of open) s.socket.destroy();
    await Promise.all(open.map((s) => s.closed));
    const again = session();
    expect(await again.next()).toMatch(/^220 /);
    again.socket.destroy();
  });

  it('closes an idle connection', async () => {
    const idle = session();
    expect(await idle.next()).toMatch(/^220 /);
    const started = Date.now();
    await idle.closed;
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('spools an unfinished DATA to a private file on disk, and removes it once the message is stored', async () => {
    const s = session();
    expect(await s.next()).toMatch(/^220 /);
    s.send('EHLO test');
    expect(await s.next()).toMatch(/^250/);
    s.send('MAIL FROM:<sender@example.org>');
    expect(await s.next()).toMatch(/^250/);
    s.send('RCPT TO:<alice@example.com>');
    expect(await s.next()).toMatch(/^250/);
    s.send('DATA');
    expect(await s.next()).toMatch(/^354/);
    s.send('From: sender@example.org\r\nTo: alice@example.com\r\nSubject: spooled\r\n');
    const line = `${'x'.repeat(998)}\r\n`;
    const body = line.repeat(4096); // 4 MB, sent in pieces while the connection stays open
    for (let i = 0; i < body.length; i += 256 * 1024) s.socket.write(body.slice(i, i + 256 * 1024));
    let spooled: string | undefined;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const files = readdirSync(spoolDir).map((f) => join(spoolDir, f));
      spooled = files.find((f) => statSync(f).size >= 4 * 1000 * 1000);
      if (spooled) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(spooled, 'the unfinished DATA is on disk').toBeDefined();
    expect(statSync(spooled as string).mode & 0o777).toBe(0o600);
    expect(statSync(spoolDir).mode & 0o777).toBe(0o700);
    s.send('.');
    expect(await s.next()).toMatch(/^250 Ok /);
    expect(readdirSync(spoolDir)).toEqual([]);
    expect(lines.some((l) => /^archived .* for alice@example.com$/.test(l))).toBe(true);
    s.send('QUIT');
    s.socket.destroy();
  });
});

describe('listening beyond loopback', () => {
  it('knows loopback addresses from the others', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1'])
      expect(isLoopback(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.168.1.5', '10.0.0.1', 'mail.example.com', '::ffff:10.0.0.1'])
      expect(isLoopback(host), host).toBe(false);
    expect(smtpExposureWarning('127.0.0.1')).toBeUndefined();
  });

  it('warns when it listens on every interface', async () => {
    const said: string[] = [];
    const open = await startSmtpListener(config, archive as Archive, {
      host: '0.0.0.0',
      port: 0,
      spoolDir: join(work, 'spool-2'),
      log: (line) => said.push(line),
    });
    await open.stop();
    expect(said.join('\n')).toMatch(
      /WARNING: the SMTP listener on 0\.0\.0\.0 is reachable from other machines.*no authentication and no TLS/,
    );
  });
});
