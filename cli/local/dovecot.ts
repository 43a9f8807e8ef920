// A private Dovecot on loopback serving one maildir: `mail-archiver serve` and the conformance tests use it.
// Its own config, run directory, logs and indexes live in a work directory; indexes never touch the maildir.
// Dovecot refuses to run its login process as root, so as root it runs as an unprivileged system user.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { waitUntil } from '../../shared/retry/poll';
import { assertPortFree, busyPortError } from '../process/net-ports';
import {
  diesWithThisProcess,
  MissingDependencyError,
  onFreePort,
  PortTakenError,
  stopChild,
} from './services';

export const DOVECOT_BINARY = '/usr/sbin/dovecot';
const SERVICE_USER = 'mailarchiver';

export interface DovecotServer {
  host: string;
  port: number;
  user: string;
  password: string;
  logPath: string;
  /** The account Dovecot runs as; `created` when this run added it (as root, a system user). */
  account: { name: string; created: boolean };
  stop(): Promise<void>;
  /** Resolves when Dovecot exits (stopped, or died), with how it ended and the tail of its log. */
  exited: Promise<string>;
}

export function assertDovecot(): void {
  if (!existsSync(DOVECOT_BINARY)) {
    throw new MissingDependencyError(
      'Dovecot is not installed.\n' +
        '  Debian/Ubuntu: sudo apt-get install -y --no-install-recommends dovecot-imapd\n' +
        '  macOS:         brew install dovecot\n' +
        'or run scripts/install-system-deps.sh dovecot',
    );
  }
}

/**
 * The account a local mail server runs as: this user, or as root an unprivileged system user (created on first
 * use with useradd --system). Dovecot refuses to run its login process as root; the test suite's Cyrus runs so too.
 */
export function runAs(): { uid: number; gid: number; name: string; created: boolean } {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) {
    return {
      uid,
      gid: process.getgid?.() ?? uid,
      name: execFileSync('id', ['-un'], { encoding: 'utf8' }).trim(),
      created: false,
    };
  }
  let created = false;
  try {
    execFileSync('id', ['-u', SERVICE_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', SERVICE_USER], {
      stdio: 'ignore',
    });
    created = true;
  }
  return {
    created,
    uid: Number(execFileSync('id', ['-u', SERVICE_USER], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', SERVICE_USER], { encoding: 'utf8' }).trim()),
    name: SERVICE_USER,
  };
}

/** How long Dovecot may take to log the first user in, in milliseconds (idle: well under a second). */
export const DOVECOT_START_TIMEOUT_MS = 60_000;

export interface DovecotOptions {
  maildir: string;
  workDir: string;
  /** The port `serve --port` asked for; without it a free one (`pickPort`, default freePort; see onFreePort). */
  port?: number;
  pickPort?: () => Promise<number>;
  /** Appended to the generated configuration (e.g. the quota plugin for a per-message size limit). */
  extraConfig?: string;
  /**
   * Where Dovecot keeps its index. `memory` (what `serve` uses) rebuilds it from the maildir in every session:
   * Dovecot's on-disk index stores received dates as unsigned 32-bit seconds, so once written, a date before
   * 1970 comes back wrapped (1958 as 2094). `disk` behaves like a provider's server (restore's tests use it).
   * @default 'memory'
   */
  index?: 'memory' | 'disk';
}

/**
 * Starts Dovecot over `options.maildir`, ready once it logs our user in. Throws UserError when the port `serve
 * --port` asked for is in use; a free port it chose that another program takes first is replaced by another.
 */
export async function startDovecot(options: DovecotOptions): Promise<DovecotServer> {
  assertDovecot();
  if (!options.port) return onFreePort((port) => startDovecotOn(port, options), options.pickPort);
  // A busy port is said before anything starts; the login check catches a race for it.
  const port = options.port;
  await assertPortFree('127.0.0.1', port, '--port');
  return startDovecotOn(port, options).catch((error: unknown) => {
    throw error instanceof PortTakenError ? busyPortError('127.0.0.1', port, '--port', error) : error;
  });
}

async function startDovecotOn(port: number, options: DovecotOptions): Promise<DovecotServer> {
  const account = runAs();
  const work = options.workDir;
  // Private: the password file, the config and the indexes are for Dovecot's user alone.
  mkdirSync(work, { recursive: true, mode: 0o700 });
  chmodSync(work, 0o700);
  for (const dir of ['run', 'state', 'index']) {
    mkdirSync(join(work, dir), { recursive: true, mode: 0o700 });
    chmodSync(join(work, dir), 0o700);
  }
  const password = randomBytes(9).toString('base64url');
  const user = 'archive';
  writePrivate(join(work, 'users'), `${user}:{PLAIN}${password}:${account.uid}:${account.gid}::${work}::\n`);
  const logPath = join(work, 'dovecot.log');
  // A new log per start: a port taken on an earlier try (onFreePort) must not be read as this one's.
  rmSync(logPath, { force: true });
  const conf = `
instance_name = mail-archiver-${port}
base_dir = ${work}/run
state_dir = ${work}/state
log_path = ${logPath}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = ${account.name}
default_internal_group = ${account.name}
default_login_user = ${account.name}
first_valid_uid = 1
service anvil {
  chroot =
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${work}/users
}
userdb {
  driver = passwd-file
  args = username_format=%u ${work}/users
}
mail_location = maildir:${options.maildir}:INDEX=${options.index === 'disk' ? `${work}/index/%u` : 'MEMORY'}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Junk {
    special_use = \\Junk
  }
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Trash {
    special_use = \\Trash
  }
}
${options.extraConfig ?? ''}
`;
  const confPath = join(work, 'dovecot.conf');
  writePrivate(confPath, conf);
  if ((process.getuid?.() ?? 0) === 0) {
    for (const path of [work, options.maildir]) ensureTraversable(path, account);
    execFileSync('chown', ['-R', `${account.uid}:${account.gid}`, work, options.maildir]);
  }
  const command =
    (process.getuid?.() ?? 0) === 0
      ? [
          'setpriv',
          [
            // Dies with this process (see diesWithThisProcess in ./services).
            '--pdeathsig',
            'KILL',
            `--reuid=${account.uid}`,
            `--regid=${account.gid}`,
            '--init-groups',
            DOVECOT_BINARY,
            '-F',
            '-c',
            confPath,
          ],
        ]
      : diesWithThisProcess(DOVECOT_BINARY, '-F', '-c', confPath);
  const child = spawn(command[0] as string, command[1] as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) =>
      resolve(
        `(${signal ? `killed by ${signal}` : `exit code ${code}`})\n${existsSync(logPath) ? readFileSync(logPath, 'utf8').slice(-2000) : ''}`,
      ),
    ),
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d;
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d;
  });
  // Ready means OUR server accepts the credentials just written: another program answering on the port
  // (it was free a moment ago) would greet too, but would not log this user in. A LOGIN left unanswered is
  // Dovecot waiting for its auth process, which a loaded machine starts slowly: waited for, never a refusal.
  // Only a refusal that lasts means another server.
  let refusedSince: number | undefined;
  const readLog = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');
  const notStarted = () =>
    new Error(`Dovecot did not start: ${output.slice(-2000)}${readLog().slice(-2000)}`);
  try {
    await waitUntil(
      async () => {
        const login = await tryLogin(port, user, password);
        if (login === 'ok') return true;
        refusedSince = login === 'refused' ? (refusedSince ?? Date.now()) : undefined;
        if (
          /Address already in use/i.test(output + readLog()) ||
          (refusedSince && Date.now() - refusedSince > 3000)
        )
          throw new PortTakenError(`port ${port} is in use by another program`);
        if (child.exitCode !== null) throw notStarted();
        return false;
      },
      {
        intervalMs: 50,
        timeoutMs: DOVECOT_START_TIMEOUT_MS,
        what: 'Dovecot to log the user in',
        onTimeout: notStarted,
      },
    );
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    logPath,
    account: { name: account.name, created: account.created },
    stop: () => stopChild(child),
    exited,
  };
}

/** Written 0600 whatever the umask, and set to 0600 if it existed. */
function writePrivate(path: string, text: string) {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/**
 * As root, Dovecot runs as an unprivileged user who must be able to reach the directories. A directory under
 * the temporary directory (where `serve` and the tests unpack) that this process owns and that user cannot
 * enter is given to that user (owner only: nobody else gains access, root keeps it); anywhere else we say
 * what to do instead of changing a user's permissions. Never opened to everyone: a world-traversable work
 * directory let another local user read the password file.
 */
export function ensureTraversable(path: string, account: { uid: number; gid: number; name: string }) {
  const root = resolve(tmpdir());
  const me = process.getuid?.() ?? 0;
  for (let dir = dirname(resolve(path)); dir !== dirname(dir); dir = dirname(dir)) {
    const info = statSync(dir);
    if (canEnter(info, account)) continue;
    if (dir.startsWith(`${root}/`) && info.uid === me) {
      chownSync(dir, account.uid, account.gid);
      chmodSync(dir, (info.mode & 0o7777) | 0o100);
    } else
      throw new Error(
        `Dovecot runs as ${account.name} and cannot enter ${dir}: serve a copy under ${root}, or let ${account.name} enter ${dir}`,
      );
  }
}

function canEnter(info: { mode: number; uid: number; gid: number }, account: { uid: number; gid: number }) {
  if (info.uid === account.uid) return (info.mode & 0o100) !== 0;
  if (info.gid === account.gid) return (info.mode & 0o010) !== 0;
  return (info.mode & 0o001) !== 0;
}

const imapQuote = (text: string) => `"${text.replace(/["\\]/g, '\\$&')}"`;

/** What one LOGIN attempt found (tryLogin). */
export type LoginAttempt = 'ok' | 'refused' | 'waiting' | 'down';

/**
 * One IMAP LOGIN with the given credentials on 127.0.0.1:`port`. 'ok': logged in (then LOGOUT); 'refused':
 * something answered and rejected them (a tagged NO or BAD, a connection closed instead of an answer) or is not
 * IMAP; 'waiting': an IMAP server greeted and has not answered the LOGIN within `answerMs` (Dovecot holds a LOGIN
 * until its auth process is up), or answered that authentication is unavailable for now (RFC 5530 UNAVAILABLE);
 * 'down': nothing answered yet (no greeting within `answerMs`).
 */
export function tryLogin(
  port: number,
  user: string,
  password: string,
  answerMs = 10_000,
): Promise<LoginAttempt> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = '';
    let greeted = false;
    let done = false;
    const finish = (answer: LoginAttempt) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => finish(greeted ? 'waiting' : 'down'), answerMs);
    socket.on('data', (data: Buffer) => {
      buffer += data.toString('latin1');
      if (!greeted) {
        if (!buffer.includes('\r\n')) return;
        if (!buffer.startsWith('* OK')) return finish('refused');
        greeted = true;
        buffer = '';
        socket.write(`a1 LOGIN ${imapQuote(user)} ${imapQuote(password)}\r\n`);
        return;
      }
      const tagged = buffer.split('\r\n').find((line) => line.startsWith('a1 '));
      if (!tagged) return;
      if (tagged.startsWith('a1 OK')) {
        socket.write('a2 LOGOUT\r\n');
        finish('ok');
      } else finish(/^a1 NO \[UNAVAILABLE\]/i.test(tagged) ? 'waiting' : 'refused');
    });
    socket.once('error', () => finish(greeted ? 'refused' : 'down'));
    socket.once('close', () => finish(greeted ? 'refused' : 'down'));
  });
}
