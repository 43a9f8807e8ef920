// A private Dovecot on loopback serving one maildir: `mail-archiver serve` and the conformance tests use it.
// Its own config, run directory, logs and indexes live in a work directory; indexes never touch the maildir.
// Dovecot refuses to run its login process as root, so as root it runs as an unprivileged system user.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { freePort, MissingDependencyError, stopChild } from './local-services';

export const DOVECOT_BINARY = '/usr/sbin/dovecot';
const SERVICE_USER = 'mailarchiver';

export interface DovecotServer {
  host: string;
  port: number;
  user: string;
  password: string;
  logPath: string;
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

function runAs(): { uid: number; gid: number; name: string } {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) {
    return {
      uid,
      gid: process.getgid?.() ?? uid,
      name: execFileSync('id', ['-un'], { encoding: 'utf8' }).trim(),
    };
  }
  try {
    execFileSync('id', ['-u', SERVICE_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', SERVICE_USER], {
      stdio: 'ignore',
    });
  }
  return {
    uid: Number(execFileSync('id', ['-u', SERVICE_USER], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', SERVICE_USER], { encoding: 'utf8' }).trim()),
    name: SERVICE_USER,
  };
}

export async function startDovecot(options: {
  maildir: string;
  workDir: string;
  port?: number;
  /** Appended to the generated configuration (e.g. the quota plugin for a per-message size limit). */
  extraConfig?: string;
}): Promise<DovecotServer> {
  assertDovecot();
  const account = runAs();
  const port = options.port ?? (await freePort());
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
  const deadline = Date.now() + 15_000;
  while (!(await greets(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      const log = existsSync(logPath) ? readFileSync(logPath, 'utf8').slice(-2000) : '';
      throw new Error(`Dovecot did not start: ${output.slice(-2000)}${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: '127.0.0.1', port, user, password, logPath, stop: () => stopChild(child) };
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
function ensureTraversable(path: string, account: { uid: number; gid: number; name: string }) {
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

/** Ready means the `* OK` greeting, not merely an open port. */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 1000);
    socket.once('data', (data) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data.toString().startsWith('* OK'));
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}
