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
${options.extraConfig ?? ''}
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
