// Benchmark section "scale" (issue 29): how each command's cost grows from a 5,000 to a 50,000 message mailbox.
// One local stack (`mail-archiver start`) and one mailbox of distinct real messages (scripts/bench/scale-mailbox.ts:
// SpamAssassin copies made distinct, dated over 15 years): the 5,000 are every tenth message of the 50,000 (so
// they span the same 15 years), imported and measured first; the other 45,000 are imported into the same mailbox
// and everything is measured again. Every command runs as a user runs it, the compiled CLI in a fresh process,
// with its wall time and its peak RSS (the process's own VmHWM, reported at exit by bench/rss-preload.mjs; DynamoDB Local,
// s3rver and Dovecot are other processes). Figures are written to .bench/scale.json after each command, so a run
// cut short keeps what it measured. BENCH_SCALE_SIZES (default 5000,50000) and BENCH_SCALE_OPS (default all) narrow
// it; BENCH_SCALE_KEEP=1 keeps the work directory.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { ImapFlow } from 'imapflow';
import { escapeMboxrd } from '../shared/bundle/mbox';
import type { BenchRow } from './bench/row';
import { scaleMailboxDate, scaleMailboxMessage } from './bench/scale-mailbox';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'cli/bin.js');
const MAILBOX = 'alice@example.com';
/** The mailbox's last date: fixed, so every run has the same mailbox. */
const END = new Date('2026-12-01T00:00:00Z');
/** Long enough for the 45,000-message import on a loaded machine (a 40-minute limit cut one at 36,680). */
const COMMAND_TIMEOUT_MS = 4 * 3600_000;

export interface ScaleMeasure {
  op: string;
  size: number;
  /** Messages the operation is about (the mailbox's size, or what an import added). */
  messages: number;
  seconds: number;
  peakMb?: number;
  /** The machine's 1-minute load average when the command ended. */
  load: number;
  detail?: string;
  ok: boolean;
}

/** The most frequent sender (lower case) of `messages`, as ingest stores `fromAddress`. */
export function commonSender(messages: Buffer[]): string {
  const counts = new Map<string, number>();
  for (const m of messages) {
    const head = m.toString('latin1', 0, Math.min(m.length, 16_384));
    const field = /^From:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)/im.exec(head)?.[1];
    const address =
      field && (/<([^<>\s]+@[^<>\s]+)>/.exec(field)?.[1] ?? /([^\s<>"]+@[^\s<>"]+)/.exec(field)?.[1]);
    if (address) counts.set(address.toLowerCase(), (counts.get(address.toLowerCase()) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'nobody@example.com';
}

/** The mbox envelope line's date (C asctime, UTC): `Thu Jan  1 00:00:00 1970`. */
function asctime(at: Date): string {
  const [day, , , , time] = at.toUTCString().split(' ');
  const month = at.toUTCString().split(' ')[2];
  return `${day?.slice(0, 3)} ${month} ${String(at.getUTCDate()).padStart(2, ' ')} ${time} ${at.getUTCFullYear()}`;
}

/** Writes messages `indices` of a mailbox of `total` as one mbox (streamed: nothing held). */
function writeMbox(corpus: Buffer[], indices: Iterable<number>, total: number, path: string): number {
  const fd = openSync(path, 'w');
  let count = 0;
  try {
    for (const i of indices) {
      const message = scaleMailboxMessage(corpus, i, total, END);
      // The envelope line's date is the one the importer takes as the message's INTERNALDATE.
      writeSync(fd, `From MAILER-DAEMON ${asctime(scaleMailboxDate(i, total, END))}\n`);
      writeSync(fd, escapeMboxrd(message));
      writeSync(fd, message[message.length - 1] === 10 ? '\n' : '\n\n');
      count += 1;
    }
  } finally {
    closeSync(fd);
  }
  return count;
}

export async function scaleBench(work: string, corpus: Buffer[], record: (m: ScaleMeasure) => void) {
  const sizes = (process.env.BENCH_SCALE_SIZES ?? '5000,50000').split(',').map(Number);
  const ops = process.env.BENCH_SCALE_OPS?.split(',');
  const wanted = (op: string) => !ops || ops.includes(op);
  const total = Math.max(...sizes);
  mkdirSync(work, { recursive: true });
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-cli.mjs')], { stdio: 'ignore' });
  const preload = pathToFileURL(join(import.meta.dirname, 'bench', 'rss-preload.mjs')).href;
  const home = join(work, 'home');
  mkdirSync(home, { recursive: true });
  const env = {
    ...process.env,
    MAIL_ARCHIVER_HOME: home,
    MAIL_ARCHIVER_CONFIG: join(ROOT, 'mail-archiver.config.json'),
    NO_COLOR: '1',
  };
  const rssFile = join(work, 'rss');

  /** Runs one CLI command to its end: wall seconds, peak RSS, stdout. */
  function cli(args: string[], okCodes = [0]) {
    rmSync(rssFile, { force: true });
    const start = process.hrtime.bigint();
    let stdout = '';
    let code = 0;
    try {
      stdout = execFileSync(process.execPath, ['--import', preload, BIN, ...args], {
        env: { ...env, BENCH_RSS_FILE: rssFile },
        encoding: 'utf8',
        maxBuffer: 512 << 20,
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: COMMAND_TIMEOUT_MS,
      });
    } catch (error) {
      const failed = error as { status?: number; stdout?: string; stderr?: string };
      code = failed.status ?? -1;
      stdout = failed.stdout ?? '';
      if (!okCodes.includes(code))
        console.log(`    ${args[0]} exited ${code}: ${String(failed.stderr ?? '').slice(-600)}`);
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const peakMb = existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8')) / 1024 : undefined;
    return { seconds, peakMb, stdout, ok: okCodes.includes(code) };
  }

  /** The messages the mailbox holds, from `status --json` (`fallback` when it says nothing). */
  const inMailboxOf = (fallback: number) =>
    (
      JSON.parse(cli(['status', '--json']).stdout || '{}') as {
        folders?: { mailbox: string; messages: number }[];
      }
    ).folders
      ?.filter((f) => f.mailbox === MAILBOX)
      .reduce((sum, f) => sum + f.messages, 0) || fallback;

  const stack = spawn(process.execPath, [BIN, 'start', '--smtp-port', '0'], { env, stdio: 'ignore' });
  try {
    for (let waited = 0; !existsSync(join(home, 'stack.json')); waited += 200) {
      if (waited > 300_000 || stack.exitCode !== null) throw new Error('mail-archiver start did not come up');
      await delay(200);
    }
    // Copies keep their From: the corpus' most frequent sender is as frequent in either mailbox.
    const sender = commonSender(corpus);
    let imported = 0;
    for (const size of sizes.sort((a, b) => a - b)) {
      const step = total / size;
      let inMailbox = size;
      const measure = (op: string, result: ReturnType<typeof cli>, messages = inMailbox, detail?: string) => {
        const m: ScaleMeasure = {
          op,
          size,
          messages,
          seconds: result.seconds,
          ...(result.peakMb !== undefined ? { peakMb: result.peakMb } : {}),
          load: loadavg()[0] ?? 0,
          ...(detail ? { detail } : {}),
          ok: result.ok,
        };
        record(m);
      };
      // The mailbox grows to `size`: every step-th message of the whole, those not imported yet.
      const indices = [...Array(total).keys()].filter(
        (i) => i % step === 0 && !(imported > 0 && i % (total / imported) === 0),
      );
      // Named as a client's export of its inbox: the importer files it into INBOX.
      mkdirSync(join(work, `mail-${size}`), { recursive: true });
      const mbox = join(work, `mail-${size}`, 'Inbox.mbox');
      const count = writeMbox(corpus, indices, total, mbox);
      const before = inMailboxOf(imported);
      const importResult = cli(['import', mbox, '--to', MAILBOX, '--quiet']);
      rmSync(mbox, { force: true });
      imported = size;
      // What the mailbox holds (an import that failed part way holds fewer): the per-message figures divide by it.
      inMailbox = inMailboxOf(size);
      if (wanted('import')) {
        measure(
          'import',
          importResult,
          inMailbox - before,
          `${inMailbox - before} of ${count} messages into a mailbox of ${before}`,
        );
      }
      if (wanted('list')) measure('list --limit 50', cli(['list', MAILBOX, '--limit', '50']));
      if (wanted('search-sender')) {
        const r = cli(['search', '--from', sender, '--mailbox', MAILBOX, '--json']);
        measure(
          'search --from (one sender)',
          r,
          size,
          `${r.stdout.split('\n').filter(Boolean).length} of ${sender}`,
        );
      }
      if (wanted('search-year')) {
        const r = cli([
          'search',
          '--since',
          '2016-01-01',
          '--until',
          '2017-01-01',
          '--mailbox',
          MAILBOX,
          '--json',
        ]);
        measure(
          'search --since/--until (one year)',
          r,
          size,
          `${r.stdout.split('\n').filter(Boolean).length} in 2016`,
        );
      }
      if (wanted('status')) measure('status', cli(['status']));
      const bundle = join(work, `bundle-${size}.tar.gz`);
      if (wanted('export')) measure('export', cli(['export', MAILBOX, '--out', bundle, '--quiet']));
      else if (wanted('verify') || wanted('serve')) cli(['export', MAILBOX, '--out', bundle, '--quiet']);
      let badDay = 0;
      if (wanted('verify')) {
        const r = cli(['verify', bundle]);
        measure('verify', r);
        badDay += r.seconds;
      }
      if (wanted('serve')) {
        const r = await serveAndFetch(bundle);
        measure('serve until ready + first FETCH of every message', r, inMailbox, r.detail);
        badDay += r.seconds;
        if (wanted('verify')) {
          record({
            op: 'the bad day: verify + serve + first FETCH',
            size,
            messages: inMailbox,
            seconds: badDay,
            load: loadavg()[0] ?? 0,
            ok: r.ok,
          });
        }
      }
      if (wanted('incremental')) {
        measure(
          'export --incremental, nothing new',
          cli([
            'export',
            MAILBOX,
            '--incremental',
            '--out',
            join(work, `incremental-${size}.tar.gz`),
            '--quiet',
          ]),
        );
      }
      rmSync(bundle, { force: true });
      if (wanted('reconcile')) measure('reconcile', cli(['reconcile', '--quiet']));
      if (wanted('reindex')) measure('reindex, nothing to do', cli(['reindex', '--quiet']));
      const replica = join(work, `replica-${size}`);
      if (wanted('sync')) {
        measure('sync, first', cli(['sync', replica, '--once', '--quiet']));
        measure('sync, nothing new', cli(['sync', replica, '--once', '--quiet']));
      }
      rmSync(replica, { recursive: true, force: true });
    }
  } finally {
    stack.kill('SIGTERM');
    await new Promise((done) => stack.once('exit', done));
  }

  /** `serve` of the bundle, then what a mail client does first: FLAGS, INTERNALDATE and ENVELOPE of every message. */
  async function serveAndFetch(bundle: string) {
    rmSync(rssFile, { force: true });
    const start = process.hrtime.bigint();
    const server = spawn(
      process.execPath,
      ['--import', preload, BIN, 'serve', bundle, '--port', '0', '--json'],
      {
        env: { ...env, BENCH_RSS_FILE: rssFile },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    server.stderr.on('data', (d) => {
      stderr += d;
    });
    try {
      const login = await new Promise<{ host: string; port: number; user: string; password: string }>(
        (done, fail) => {
          let buffered = '';
          server.stdout.on('data', (d) => {
            buffered += d;
            const line = buffered.split('\n').find((l) => l.startsWith('{'));
            if (line) done(JSON.parse(line));
          });
          server.once('exit', (code) => fail(new Error(`serve exited ${code}: ${stderr.slice(-600)}`)));
        },
      );
      const client = new ImapFlow({
        ...login,
        secure: false,
        auth: { user: login.user, pass: login.password },
        logger: false,
      });
      await client.connect();
      let fetched = 0;
      try {
        // What a client does on first opening the account: every folder, every message's summary.
        for (const folder of await client.list()) {
          const box = await client.mailboxOpen(folder.path, { readOnly: true });
          if (box.exists === 0) continue;
          for await (const m of client.fetch('1:*', {
            uid: true,
            flags: true,
            internalDate: true,
            envelope: true,
          })) {
            if (m.envelope) fetched += 1;
          }
        }
      } finally {
        await client.logout();
      }
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      return {
        seconds,
        peakMb: undefined as number | undefined,
        stdout: '',
        ok: true,
        detail: `${fetched} messages fetched`,
      };
    } catch (error) {
      console.log(`    serve: ${String(error)}`);
      return {
        seconds: Number(process.hrtime.bigint() - start) / 1e9,
        peakMb: undefined,
        stdout: '',
        ok: false,
        detail: 'failed',
      };
    } finally {
      server.kill('SIGTERM');
      await new Promise((done) => (server.exitCode !== null ? done(undefined) : server.once('exit', done)));
    }
  }
}

/** The scale table's rows: each measure, and the 50k/5k ratios of time per message and of peak RSS. */
export function scaleRows(measures: ScaleMeasure[]) {
  const rows: BenchRow[] = [];
  const sizes = [...new Set(measures.map((m) => m.size))].sort((a, b) => a - b);
  const [small, large] = [sizes[0], sizes[sizes.length - 1]];
  for (const m of measures) {
    rows.push({
      metric: `${m.op}, ${m.size.toLocaleString('en')} messages${m.ok ? '' : ' (FAILED)'}${m.detail ? ` (${m.detail})` : ''}`,
      value: m.seconds,
      unit: 's',
    });
  }
  if (small === undefined || large === undefined || small === large) return rows;
  for (const op of [...new Set(measures.map((m) => m.op))]) {
    const a = measures.find((m) => m.op === op && m.size === small);
    const b = measures.find((m) => m.op === op && m.size === large);
    if (!a || !b) continue;
    const ratio = b.seconds / b.messages / (a.seconds / a.messages);
    // The two figures go in the measure's name: a ratio's "baseline" would print in the ratio's unit.
    rows.push({
      metric: `${op}: time per message, ${large.toLocaleString('en')} / ${small.toLocaleString('en')} (${((b.seconds / b.messages) * 1000).toFixed(3)} / ${((a.seconds / a.messages) * 1000).toFixed(3)} ms)`,
      value: ratio,
      unit: 'x',
      target: '<= 1.5x',
      met: ratio <= 1.5,
    });
    if (a.peakMb !== undefined && b.peakMb !== undefined) {
      rows.push({
        metric: `${op}: peak RSS, ${large.toLocaleString('en')} / ${small.toLocaleString('en')} (${b.peakMb.toFixed(0)} / ${a.peakMb.toFixed(0)} MB)`,
        value: b.peakMb / a.peakMb,
        unit: 'x',
        target: '<= 1.5x',
        met: b.peakMb / a.peakMb <= 1.5,
      });
    }
  }
  return rows;
}

/** The scale table as docs/benchmarks.md shows it: one line per operation, both sizes side by side. */
export function scaleMarkdown(measures: ScaleMeasure[]): string {
  const sizes = [...new Set(measures.map((m) => m.size))].sort((a, b) => a - b);
  const [small, large] = [sizes[0] ?? 0, sizes[sizes.length - 1] ?? 0];
  const cell = (m: ScaleMeasure | undefined) =>
    m
      ? `${m.seconds.toFixed(m.seconds < 10 ? 2 : 1)} s, ${((m.seconds / m.messages) * 1000).toFixed(3)} ms/msg${m.peakMb !== undefined ? `, ${m.peakMb.toFixed(0)} MB` : ''} (load ${m.load.toFixed(0)})${m.ok ? '' : ' **failed**'}`
      : 'not run';
  const lines = [
    `| operation | ${small.toLocaleString('en')} messages | ${large.toLocaleString('en')} messages | time per message ${large / 1000}k / ${small / 1000}k | peak RSS ${large / 1000}k / ${small / 1000}k |`,
    '|---|---|---|---|---|',
  ];
  for (const op of [...new Set(measures.map((m) => m.op))]) {
    const a = measures.find((m) => m.op === op && m.size === small);
    const b = measures.find((m) => m.op === op && m.size === large);
    const ratio = a && b ? b.seconds / b.messages / (a.seconds / a.messages) : undefined;
    const rss = a?.peakMb !== undefined && b?.peakMb !== undefined ? b.peakMb / a.peakMb : undefined;
    const judged = (x: number | undefined) =>
      x === undefined ? '' : `${x.toFixed(2)}x${x <= 1.5 ? '' : ' **over 1.5x**'}`;
    const detail = [a?.detail, b?.detail].filter(Boolean).join(' / ');
    lines.push(
      `| ${op}${detail ? ` (${detail})` : ''} | ${cell(a)} | ${cell(b)} | ${judged(ratio)} | ${judged(rss)} |`,
    );
  }
  return lines.join('\n');
}
