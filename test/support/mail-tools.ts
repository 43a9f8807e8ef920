// The tools people keep mail with, run for real against a Dovecot on loopback: a seeded account (folders, flags,
// INTERNALDATEs, and the message shapes that trouble mbox readers), then getmail6, neomutt, mbsync (isync),
// offlineimap3 and mb2md fetch or convert it the way their documentation says, into a directory the import reads.
// Each runner says which Debian package is missing instead of failing, so a test can skip visibly.
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type DovecotServer, startDovecot } from '../../cli/local/dovecot';
import { imapClientFor } from './imap';

/** The tools, by the binary a test runs and the Debian package that has it. */
export const MAIL_TOOLS = {
  getmail: 'getmail6',
  neomutt: 'neomutt',
  mbsync: 'isync',
  offlineimap: 'offlineimap3',
  mb2md: 'mb2md',
} as const;
export type MailTool = keyof typeof MAIL_TOOLS;

const has = (binary: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** The Debian package to install when `tool` cannot run here, else undefined. */
export function missingPackage(tool: MailTool): string | undefined {
  if (!has(tool)) return MAIL_TOOLS[tool];
  // neomutt runs in the pseudo terminal script(1) gives it.
  if (tool === 'neomutt' && !has('script')) return 'bsdutils';
  return undefined;
}

export interface SeedMessage {
  /** The IMAP folder, `/` between levels. */
  folder: string;
  flags: string[];
  internalDate: Date;
  raw: Buffer;
  messageId: string;
  subject: string;
  /**
   * The received time the message's own header gives (the server's Received stamp, else its Date): what a copy
   * that does not keep the INTERNALDATE can say.
   */
  headerDate: Date;
}

const rfc5322 = (d: Date) => d.toUTCString().replace('GMT', '+0000');

/**
 * The account the tools fetch: CRLF messages as a server holds them. Most carry the server's own Received field
 * stamped at their INTERNALDATE (what delivery writes); mail the user wrote (Sent, Drafts) has none and a Date a
 * little before its INTERNALDATE; one was migrated (its Received is years older than its INTERNALDATE).
 */
export function seedMessages(): SeedMessage[] {
  const seeds: SeedMessage[] = [];
  const add = (
    folder: string,
    flags: string[],
    internal: string,
    body: string,
    options: { received?: string | null; finalEol?: boolean; extra?: string[]; subject?: string } = {},
  ) => {
    const n = seeds.length + 1;
    const at = new Date(internal);
    const subject = options.subject ?? `message ${n} in ${folder}`;
    const messageId = `<seed-${n}@example.net>`;
    const stamp = options.received ? new Date(options.received) : at;
    const date = new Date(at.getTime() - 60_000);
    const received =
      options.received === null
        ? []
        : [`Received: from mx.example.net by mail.example.com with LMTP id ${n}; ${rfc5322(stamp)}`];
    const lines = [
      ...received,
      'From: Alice <alice@example.net>',
      'To: bob@example.com',
      `Subject: ${subject}`,
      `Date: ${rfc5322(date)}`,
      `Message-ID: ${messageId}`,
      ...(options.extra ?? []),
      '',
      ...body.split('\n'),
    ];
    const text = lines.join('\r\n') + (options.finalEol === false ? '' : '\r\n');
    const headerDate = options.received === null ? date : stamp;
    seeds.push({ folder, flags, internalDate: at, raw: Buffer.from(text), messageId, subject, headerDate });
  };
  add('INBOX', ['\\Seen'], '2021-03-04T10:00:00Z', 'plain body');
  add('INBOX', [], '2021-03-05T10:00:00Z', 'no final line end', { finalEol: false });
  add(
    'INBOX',
    ['\\Answered', '\\Seen'],
    '2021-03-06T10:00:00Z',
    'From my point of view, this is body text.\n\nFrom here on it is body.',
  );
  add(
    'INBOX',
    ['\\Flagged'],
    '2021-03-07T10:00:00Z',
    'quoting mail:\n\nFrom alice@example.net Mon Jan  1 00:00:00 2001\nSubject: quoted\n\nquoted body',
  );
  add('INBOX', ['\\Deleted', '\\Seen'], '2021-03-08T10:00:00Z', '>From already escaped\n>>From twice');
  add('INBOX', ['$Forwarded', '\\Seen'], '2021-03-09T10:00:00Z', 'forwarded, no final line end', {
    finalEol: false,
  });
  add('INBOX', ['\\Seen'], '2021-03-10T10:00:00Z', 'migrated: received long before', {
    received: '2019-01-01T00:00:00Z',
  });
  add('INBOX', [], '2021-03-11T10:00:00Z', 'ends with an empty line\n');
  add('INBOX', ['Project', '\\Seen'], '2021-03-12T10:00:00Z', 'with a keyword');
  add(
    'INBOX',
    ['\\Seen'],
    '2021-03-13T10:00:00Z',
    'a long subject, folded again by programs that rewrite headers',
    { subject: 'a subject long enough that a program writing headers at 78 characters folds it again' },
  );
  add(
    'INBOX',
    ['\\Seen'],
    '2021-03-14T10:00:00Z',
    '--b1\nContent-Type: text/plain\n\nforwarded below:\nFrom bob@example.org Sun Mar 14 09:00:00 2021\nSubject: inner\n\ninner body\n--b1--',
    { extra: ['MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"'], finalEol: false },
  );
  add('Work', ['\\Seen'], '2022-01-01T09:00:00Z', 'work 1', { finalEol: false });
  add('Work', [], '2022-01-02T09:00:00Z', 'work 2');
  add('Work/Clients', ['\\Flagged', '\\Seen'], '2022-02-01T09:00:00Z', 'client 1');
  add('Work/Clients', [], '2022-02-02T09:00:00Z', 'client 2\nFrom the client: hello', { finalEol: false });
  add('Archive 2023', ['\\Seen'], '2023-05-01T09:00:00Z', 'archived');
  add('Reisen/Tōkyō', ['\\Seen'], '2023-06-01T09:00:00Z', 'a folder name beyond ASCII');
  add('Sent', ['\\Seen'], '2021-04-01T08:00:03Z', 'sent by bob', { received: null });
  add('Sent', ['\\Answered', '\\Seen'], '2021-04-02T08:00:03Z', 'sent 2', { received: null });
  add('Drafts', ['\\Draft', '\\Seen'], '2021-04-03T08:00:00Z', 'a draft', { received: null });
  add('Trash', ['\\Deleted', '\\Seen'], '2021-04-04T08:00:00Z', 'trashed');
  return seeds;
}

export interface SeededServer {
  server: DovecotServer;
  seeds: SeedMessage[];
  folders: string[];
  maildir: string;
}

/** A Dovecot on loopback holding {@link seedMessages}, appended over IMAP with their flags and INTERNALDATEs. */
export async function startSeededServer(work: string): Promise<SeededServer> {
  const maildir = join(work, 'maildir');
  mkdirSync(maildir, { recursive: true });
  const server = await startDovecot({ maildir, workDir: join(work, 'dovecot') });
  void server.exited.then((how) => ended.set(server, how));
  const seeds = seedMessages();
  const folders = [...new Set(seeds.map((s) => s.folder))];
  const client = imapClientFor(server);
  await client.connect();
  try {
    for (const folder of folders) if (folder !== 'INBOX') await client.mailboxCreate(folder);
    for (const seed of seeds) await client.append(seed.folder, seed.raw, seed.flags, seed.internalDate);
  } finally {
    await client.logout();
  }
  return { server, seeds, folders, maildir };
}

/** How long one tool may run (ms); the tests that run tools allow TOOL_TEST_TIMEOUT_MS. */
export const TOOL_TIMEOUT_MS = 90_000;
export const TOOL_TEST_TIMEOUT_MS = 150_000;

/**
 * Runs a tool to its end; throws with its output when it fails or stalls past TOOL_TIMEOUT_MS (and, for a tool
 * that talked to `server`, the tail of that Dovecot's log: why it refused or closed a connection).
 */
function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; server?: DovecotServer } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, TZ: 'UTC', LANG: 'C.UTF-8', ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d;
    });
    // Below the tests' own timeout, so a tool that stalls is reported with what it printed so far.
    const started = Date.now();
    const timer = setTimeout(() => child.kill('SIGKILL'), TOOL_TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else
        reject(
          new Error(
            `${command} ${args.join(' ')} ${signal ? `was killed (${signal}) after ${Date.now() - started} ms` : `exited ${code}`}: ${output.slice(-3000)}${options.server ? serverLogTail(options.server) : ''}`,
          ),
        );
    });
  });
}

/** Dovecot servers that exited, with how they ended (DovecotServer.exited). */
const ended = new WeakMap<DovecotServer, string>();

function serverLogTail(server: DovecotServer): string {
  const log = existsSync(server.logPath) ? readFileSync(server.logPath, 'utf8') : '(no log)';
  const state = ended.has(server) ? `exited ${ended.get(server)?.split('\n')[0]}` : 'still running';
  return `\n--- Dovecot (${state}), the tail of its log (${server.logPath}):\n${log.slice(-3000)}`;
}

/** getmail refuses to deliver as root: as root, tools run as `nobody`, owning their output directory. */
function asUser(dir: string): { command: (cmd: string, args: string[]) => [string, string[]] } {
  if (process.getuid?.() !== 0) return { command: (cmd, args) => [cmd, args] };
  const uid = execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim();
  const gid = execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim();
  execFileSync('chown', ['-R', `${uid}:${gid}`, dir]);
  // The test's own directories above it (made 0700) must let that user through.
  for (let parent = dirname(dir); parent.startsWith(`${tmpdir()}/`); parent = dirname(parent))
    chmodSync(parent, statSync(parent).mode | 0o001);
  return {
    command: (cmd, args) => ['setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', cmd, ...args]],
  };
}

/**
 * getmail6 fetching every folder (`mailboxes = ALL`) into one mboxrd file (its Mboxrd destination) or one maildir,
 * with its defaults: it writes its own Return-Path, Delivered-To and Received on top of every message and
 * records the folder in X-getmail-retrieved-from-mailbox.
 */
export async function runGetmail(
  server: DovecotServer,
  dir: string,
  destination: 'mboxrd' | 'maildir',
): Promise<string> {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const out = destination === 'mboxrd' ? join(dir, 'getmail.mbox') : join(dir, 'Maildir');
  if (destination === 'mboxrd') writeFileSync(out, '');
  else for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(out, sub), { recursive: true });
  writeFileSync(
    join(dir, 'getmailrc'),
    [
      '[retriever]',
      'type = SimpleIMAPRetriever',
      'server = 127.0.0.1',
      `port = ${server.port}`,
      `username = ${server.user}`,
      `password = ${server.password}`,
      'mailboxes = ALL',
      '',
      '[destination]',
      `type = ${destination === 'mboxrd' ? 'Mboxrd' : 'Maildir'}`,
      `path = ${out}${destination === 'maildir' ? '/' : ''}`,
      '',
      '[options]',
      'read_all = true',
      'delete = false',
      '',
    ].join('\n'),
  );
  // getmail6 6.18 can miss the end of its own delivery child on a loaded machine and wait 180 s: the shim waits
  // for it with waitpid (getmail-wait/sitecustomize.py says why); copied here, where getmail's user can read it.
  mkdirSync(join(dir, 'python'), { recursive: true });
  copyFileSync(
    join(import.meta.dirname, 'getmail-wait', 'sitecustomize.py'),
    join(dir, 'python', 'sitecustomize.py'),
  );
  const [cmd, args] = asUser(dir).command('getmail', [
    '--getmaildir',
    dir,
    '--rcfile',
    join(dir, 'getmailrc'),
    // Not --quiet: what it printed (one line per message) says where a stalled run stopped.
  ]);
  await run(cmd, args, { env: { HOME: dir, PYTHONPATH: join(dir, 'python') }, server });
  return out;
}

/**
 * neomutt saving (copying) every message of each folder into an mbox file named after it (`Work/Clients.mbox`
 * for Work/Clients): what `<tag-pattern>~A<tag-prefix><copy-message>` does, run in a pseudo terminal. neomutt
 * writes mboxcl2: Status, X-Status, Content-Length and Lines fields, no `From ` escaping, the envelope date the
 * server's INTERNALDATE (in the local time zone: UTC here).
 */
export async function runNeomutt(server: DovecotServer, dir: string, folders: string[]): Promise<string> {
  const out = join(dir, 'mail');
  mkdirSync(out, { recursive: true });
  const rc = join(dir, 'neomuttrc');
  writeFileSync(
    rc,
    [
      `set folder = "imap://127.0.0.1:${server.port}/"`,
      `set imap_user = "${server.user}"`,
      `set imap_pass = "${server.password}"`,
      'set ssl_starttls = no',
      'set ssl_force_tls = no',
      'set mbox_type = mbox',
      'set confirmappend = no',
      'set confirmcreate = no',
      'set delete = no',
      'set move = no',
      'set mark_old = no',
      'set wait_key = no',
      'set quit = yes',
      'set header_cache = ""',
      'set message_cachedir = ""',
      '',
    ].join('\n'),
  );
  for (const [index, folder] of folders.entries()) {
    // Typed into neomutt's prompt, a space would not survive: the file is renamed afterwards.
    const typed = join(out, `folder-${index}`);
    const url = `imap://127.0.0.1:${server.port}/${encodeURI(folder)}`;
    const push = `push "<tag-pattern>~A<enter><tag-prefix><copy-message>${typed}<enter><quit>"`;
    // neomutt needs a terminal: script(1) gives it one.
    const line = ['neomutt', '-n', '-F', rc, '-f', url, '-e', push].map(shellQuote).join(' ');
    const said = await run('script', ['-qfec', line, '/dev/null'], {
      env: { TERM: 'xterm', HOME: dir },
      server,
    });
    if (!existsSync(typed))
      throw new Error(`neomutt wrote nothing for ${folder}: ${said.slice(-2000)}${serverLogTail(server)}`);
    const file = join(out, `${folder}.mbox`);
    mkdirSync(dirname(file), { recursive: true });
    renameSync(typed, file);
  }
  return out;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * mbsync pulling every folder into a maildir tree (`SubFolders Verbatim`), with `CopyArrivalDate yes` (the
 * server's INTERNALDATE as each file's time) unless `copyArrivalDate` is false. It writes X-TUID into every file.
 */
export async function runMbsync(server: DovecotServer, dir: string, copyArrivalDate = true): Promise<string> {
  const out = join(dir, 'mail');
  mkdirSync(out, { recursive: true });
  const rc = join(dir, 'mbsyncrc');
  writeFileSync(
    rc,
    [
      'IMAPAccount test',
      'Host 127.0.0.1',
      `Port ${server.port}`,
      `User ${server.user}`,
      `Pass ${server.password}`,
      'SSLType None',
      'AuthMechs LOGIN',
      '',
      'IMAPStore remote',
      'Account test',
      '',
      'MaildirStore local',
      `Path ${out}/`,
      `Inbox ${out}/INBOX`,
      'SubFolders Verbatim',
      '',
      'Channel all',
      'Far :remote:',
      'Near :local:',
      'Patterns *',
      'Create Near',
      'Sync Pull',
      'SyncState *',
      `CopyArrivalDate ${copyArrivalDate ? 'yes' : 'no'}`,
      '',
    ].join('\n'),
  );
  await run('mbsync', ['-q', '-c', rc, '-a'], { env: { HOME: dir }, server });
  return out;
}

/** offlineimap copying every folder into its default local layout (`Work.Clients/`, `.` for the separator). */
export async function runOfflineimap(server: DovecotServer, dir: string): Promise<string> {
  const out = join(dir, 'mail');
  mkdirSync(out, { recursive: true });
  mkdirSync(join(dir, 'metadata'), { recursive: true });
  const rc = join(dir, 'offlineimaprc');
  writeFileSync(
    rc,
    [
      '[general]',
      'accounts = test',
      `metadata = ${join(dir, 'metadata')}`,
      '',
      '[Account test]',
      'localrepository = local',
      'remoterepository = remote',
      '',
      '[Repository local]',
      'type = Maildir',
      `localfolders = ${out}`,
      '',
      '[Repository remote]',
      'type = IMAP',
      'remotehost = 127.0.0.1',
      `remoteport = ${server.port}`,
      `remoteuser = ${server.user}`,
      `remotepass = ${server.password}`,
      'ssl = no',
      'starttls = no',
      'readonly = True',
      '',
    ].join('\n'),
  );
  await run('offlineimap', ['-c', rc, '-o', '-u', 'quiet'], { env: { HOME: dir }, server });
  return out;
}

/**
 * mb2md converting a directory of mbox files (mutt's folders, named without an extension) into one Maildir++
 * tree (`-s <dir> -R -d <maildir>`): flags from Status and X-Status, file times from the envelope lines.
 */
export async function runMb2md(mboxDir: string, out: string): Promise<string> {
  mkdirSync(dirname(out), { recursive: true });
  await run('mb2md', ['-s', mboxDir, '-R', '-d', out], { env: { HOME: dirname(out) } });
  return out;
}

/** Every file under `dir`, for a test's failure message. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(path);
    }
  };
  walk(dir);
  return out;
}
