// IMAP servers beside Dovecot for restore's tests, run from Debian's packages unpacked (not installed: they conflict
// with dovecot-imapd) by scripts/install-system-deps.sh into $MAIL_ARCHIVER_CACHE/imap-servers:
// - Cyrus IMAP 3.6 (cyrus-imapd, the server behind Fastmail): its master on a loopback port, Fastmail-like
//   folders ("Sent Items", "Spam", Drafts, Trash autocreated at first login with their special use, which Cyrus
//   then lists in lower case: `\sent`), any password accepted (SASL's alwaystrue check), munge8bit as shipped.
// - Courier-IMAP 5.0 (courier-imap): `imapd Maildir` is a pre-authenticated session on stdin/stdout; a loopback
//   listener runs one per connection, as couriertcpd would, with the capabilities of Debian's /etc/courier/imapd.
//   No SPECIAL-USE, the `INBOX.` namespace, folders as a provider running Courier creates them.
// Each start*() resolves to a running server, or to the reason it cannot run here (the test then skips, naming
// the package).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { ensureTraversable, runAs, tryLogin } from '../../cli/local/dovecot';
import { freePort, stopChild } from '../../cli/local/services';

export interface TestImapServer {
  name: string;
  host: string;
  port: number;
  user: string;
  password: string;
  stop(): Promise<void>;
}

/** Where install-system-deps.sh unpacks the servers (the same rule as the script). */
export function imapServersHome(): string {
  const base =
    process.env.MAIL_ARCHIVER_CACHE ??
    ((process.getuid?.() ?? 1) === 0
      ? '/var/cache/mail-archiver'
      : join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/tmp', '.cache'), 'mail-archiver'));
  return join(base, 'imap-servers');
}

const libraryPath = (home: string) =>
  [join(home, 'usr/lib/x86_64-linux-gnu'), join(home, 'usr/lib'), process.env.LD_LIBRARY_PATH]
    .filter(Boolean)
    .join(':');

/** Why a server cannot run here, naming the package and the script; undefined when it can. */
function missing(binary: string, packageName: string): string | undefined {
  const home = imapServersHome();
  if (!existsSync(join(home, 'complete')) || !existsSync(join(home, binary)))
    return `${packageName} is not unpacked in ${home}: run scripts/install-system-deps.sh imap-servers (Debian's ${packageName}, unpacked with dpkg -x)`;
  try {
    const ldd = execFileSync('ldd', [join(home, binary)], {
      encoding: 'utf8',
      env: { ...process.env, LD_LIBRARY_PATH: libraryPath(home) },
    });
    const notFound = ldd.split('\n').filter((l) => l.includes('not found'));
    if (notFound.length)
      return `${packageName} lacks libraries (${notFound.map((l) => l.trim().split(' ')[0]).join(', ')}): run scripts/install-system-deps.sh imap-servers`;
  } catch (error) {
    return `${packageName} cannot be checked with ldd: ${String(error)}`;
  }
  return undefined;
}

/** Cyrus IMAP 3.6 with Fastmail-like folders; `work` is a fresh directory of the caller's. */
export async function startCyrus(work: string): Promise<TestImapServer | { skip: string }> {
  const why = missing('usr/lib/cyrus/bin/master', 'cyrus-imapd');
  if (why) return { skip: why };
  const home = imapServersHome();
  const bin = join(home, 'usr/lib/cyrus/bin');
  const account = runAs();
  const port = await freePort();
  for (const dir of ['conf/db', 'conf/socket', 'conf/proc', 'conf/lock', 'conf/log', 'spool', 'run'])
    mkdirSync(join(work, dir), { recursive: true });
  const conf = join(work, 'imapd.conf');
  writeFileSync(
    conf,
    [
      `configdirectory: ${work}/conf`,
      `partition-default: ${work}/spool`,
      `cyrus_user: ${account.name}`,
      'admins: admin',
      // Any password: the test is about what the server does with mail, not about its logins.
      'sasl_pwcheck_method: alwaystrue',
      'allowplaintext: yes',
      'unixhierarchysep: yes',
      'altnamespace: yes',
      `idlesocket: ${work}/conf/socket/idle`,
      `notifysocket: ${work}/conf/socket/notify`,
      `lmtpsocket: ${work}/conf/socket/lmtp`,
      `mboxname_lockpath: ${work}/conf/lock`,
      `proc_path: ${work}/conf/proc`,
      `syslog_prefix: mail-archiver-test-cyrus-${port}`,
      // Fastmail's folder set, created at the first login with its special use (listed as \sent, \junk, ...).
      'autocreate_quota: 0',
      'autocreate_inbox_folders: Sent Items|Spam|Drafts|Trash',
      'xlist-sent: Sent Items',
      'xlist-junk: Spam',
      'xlist-drafts: Drafts',
      'xlist-trash: Trash',
      '',
    ].join('\n'),
  );
  const services = join(work, 'cyrus.conf');
  writeFileSync(
    services,
    `START {
  recover cmd="${bin}/ctl_cyrusdb -C ${conf} -r"
}
SERVICES {
  imap cmd="${bin}/imapd -C ${conf}" listen="127.0.0.1:${port}" prefork=0
}
EVENTS {
}
DAEMON {
}
`,
  );
  if ((process.getuid?.() ?? 1) === 0) {
    ensureTraversable(work, account);
    execFileSync('chown', ['-R', `${account.uid}:${account.gid}`, work]);
  }
  const child = spawn(
    join(bin, 'master'),
    ['-C', conf, '-M', services, '-p', join(work, 'run/master.pid'), '-D'],
    {
      env: { ...process.env, LD_LIBRARY_PATH: libraryPath(home) },
      stdio: ['ignore', 'ignore', 'pipe'],
      // Its own process group: at shutdown the master sends SIGTERM to its group (master.c begin_shutdown,
      // kill(0, SIGTERM)) as the service user, which would stop every Dovecot the test run has started.
      detached: true,
    },
  );
  return ready('Cyrus IMAP 3.6', child, port, 'alice');
}

/** Courier-IMAP 5.0 over `maildir` (created if missing, with the folders a provider running Courier makes). */
export async function startCourier(maildir: string): Promise<TestImapServer | { skip: string }> {
  const why = missing('usr/bin/imapd', 'courier-imap');
  if (why) return { skip: why };
  const home = imapServersHome();
  for (const folder of ['', '.Sent', '.Drafts', '.Trash', '.Spam']) {
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, folder, sub), { recursive: true });
    if (folder) writeFileSync(join(maildir, folder, 'maildirfolder'), '');
  }
  const config = readFileSync(join(home, 'etc/courier/imapd'), 'utf8');
  const capability =
    config.match(/^IMAP_CAPABILITY="([^"]*)"/m)?.[1] ?? 'IMAP4rev1 UIDPLUS CHILDREN NAMESPACE';
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: join(maildir, '..'),
    LD_LIBRARY_PATH: libraryPath(home),
    IMAP_CAPABILITY: capability,
    IMAP_KEYWORDS: '1',
    IMAP_USELOCKS: '1',
  };
  const sessions = new Set<ChildProcess>();
  const server: Server = createServer((socket) => {
    const imapd = spawn(join(home, 'usr/bin/imapd'), [maildir], { env, stdio: ['pipe', 'pipe', 'ignore'] });
    sessions.add(imapd);
    socket.pipe(imapd.stdin);
    imapd.stdout.pipe(socket);
    socket.on('error', () => imapd.kill());
    socket.on('close', () => imapd.kill());
    imapd.on('exit', () => {
      sessions.delete(imapd);
      socket.end();
    });
    imapd.stdin.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    name: 'Courier-IMAP 5.0',
    host: '127.0.0.1',
    port,
    user: 'alice',
    password: 'preauthenticated',
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...sessions].map((s) => stopChild(s)));
    },
  };
}

async function ready(
  name: string,
  child: ChildProcess,
  port: number,
  user: string,
): Promise<TestImapServer | { skip: string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d;
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if ((await tryLogin(port, user, 'secret')) === 'ok') break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopChild(child);
      throw new Error(
        `${name} did not start on port ${port} (its log goes to syslog): ${stderr.slice(-2000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name,
    host: '127.0.0.1',
    port,
    user,
    password: 'secret',
    stop: () => stopChild(child),
  };
}
