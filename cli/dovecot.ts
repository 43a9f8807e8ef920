// A private Dovecot on loopback serving one maildir: `mail-archiver serve` and the conformance tests use it.
// Its own config, run directory, logs and indexes live in a work directory; indexes never touch the maildir.
// Dovecot refuses to run its login process as root, so as root it runs as an unprivileged system user.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { freePort, MissingDependencyError, stopChild } from './local-services';
import { assertPortFree, busyPortError } from './net-ports';

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

function runAs(): { uid: number; gid: number; name: string; created: boolean } {
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

export async function startDovecot(options: {
  maildir: string;
  workDir: string;
  port?: number;
}): Promise<DovecotServer> {
  assertDovecot();
  // A busy port is said before anything starts; the login check below catches a race for it.
  if (options.port) await assertPortFree('127.0.0.1', options.port, '--port');
  const account = runAs();
  const port = options.port || (await freePort());
  const work = options.workDir;
  for (const dir of ['run', 'state', 'index']) mkdirSync(join(work, dir), { recursive: true });
  const password = randomBytes(9).toString('base64url');
  const user = 'archive';
  writeFileSync(join(work, 'users'), `${user}:{PLAIN}${password}:${account.uid}:${account.gid}::${work}::\n`);
  const logPath = join(work, 'dovecot.log');
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
mail_location = maildir:${options.maildir}:INDEX=${work}/index/%u
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
`;
  const confPath = join(work, 'dovecot.conf');
  writeFileSync(confPath, conf);
  if ((process.getuid?.() ?? 0) === 0) {
    for (const path of [work, options.maildir]) ensureTraversable(path, account.name);
    execFileSync('chown', ['-R', `${account.uid}:${account.gid}`, work, options.maildir]);
  }
  const command =
    (process.getuid?.() ?? 0) === 0
      ? [
          'setpriv',
          [
            `--reuid=${account.uid}`,
            `--regid=${account.gid}`,
            '--init-groups',
            DOVECOT_BINARY,
            '-F',
            '-c',
            confPath,
          ],
        ]
      : [DOVECOT_BINARY, ['-F', '-c', confPath]];
  const child = spawn(command[0] as string, command[1] as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d;
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d;
  });
  // Ready means OUR server accepts the credentials just written: another program answering on the port
  // (it was free a moment ago) would greet too, but would not log this user in.
  // Dovecot may refuse a login while its auth process starts: only a refusal that lasts means another server.
  const deadline = Date.now() + 15_000;
  let refusedSince: number | undefined;
  for (;;) {
    const login = await tryLogin(port, user, password);
    if (login === 'ok') break;
    refusedSince = login === 'refused' ? (refusedSince ?? Date.now()) : undefined;
    const log = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
    if (/Address already in use/i.test(output + log) || (refusedSince && Date.now() - refusedSince > 3000)) {
      await stopChild(child);
      throw busyPortError('127.0.0.1', port, '--port');
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`Dovecot did not start: ${output.slice(-2000)}${log.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    logPath,
    account: { name: account.name, created: account.created },
    stop: () => stopChild(child),
  };
}

/**
 * As root, Dovecot runs as an unprivileged user who must be able to reach the directories. Directories under
 * the temporary directory (where `serve` and the tests unpack) are opened for traversal (o+x, not read);
 * anywhere else we say what to do instead of changing a user's permissions.
 */
function ensureTraversable(path: string, user: string) {
  const root = resolve(tmpdir());
  for (let dir = dirname(resolve(path)); dir !== dirname(dir); dir = dirname(dir)) {
    const mode = statSync(dir).mode;
    if (mode & 0o001) continue;
    if (dir.startsWith(`${root}/`)) chmodSync(dir, mode | 0o001);
    else
      throw new Error(
        `Dovecot runs as ${user} and cannot enter ${dir}: serve a copy under ${root}, or chmod o+x ${dir}`,
      );
  }
}

const imapQuote = (text: string) => `"${text.replace(/["\\]/g, '\\$&')}"`;

/**
 * One IMAP LOGIN with the given credentials on 127.0.0.1:`port`. 'ok': logged in (then LOGOUT); 'refused':
 * something answered and rejected them (or is not IMAP); 'down': nothing answered yet.
 */
export function tryLogin(port: number, user: string, password: string): Promise<'ok' | 'refused' | 'down'> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = '';
    let greeted = false;
    const finish = (answer: 'ok' | 'refused' | 'down') => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => finish(greeted ? 'refused' : 'down'), 2000);
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
      } else finish('refused');
    });
    socket.once('error', () => finish(greeted ? 'refused' : 'down'));
    socket.once('close', () => finish(greeted ? 'refused' : 'down'));
  });
}
