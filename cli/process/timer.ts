// `sync --install-timer`: the files that run `mail-archiver sync DIR --once` every interval without a terminal, a
// systemd user timer on Linux and a launchd agent on macOS, plus the commands that turn them on and remove them.
// Sources: systemd.timer(5) (OnActiveSec, OnUnitActiveSec, AccuracySec), systemd.service(5) (Type=oneshot,
// Environment quoting), systemd.exec(5); launchd.plist(5) (ProgramArguments, StartInterval, RunAtLoad,
// EnvironmentVariables, StandardOutPath) and launchctl(1) (bootstrap, bootout).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { shellWord } from '../../shared/shell-word';

export type TimerKind = 'systemd' | 'launchd';

export interface TimerSpec {
  /** The replica directory, absolute. */
  dir: string;
  /** The command that runs one sync: executable and arguments (absolute paths). */
  command: string[];
  /** Environment the sync needs (MAIL_ARCHIVER_HOME, the config, the AWS profile and region). */
  env: Record<string, string>;
  /** Milliseconds between two syncs (at least one minute). */
  everyMs: number;
  /** The user's home directory (where the unit files go). */
  userHome: string;
}

export interface TimerFiles {
  kind: TimerKind;
  /** The unit's name (systemd: without `.timer`; launchd: the agent's label). */
  name: string;
  files: { path: string; content: string }[];
  /** Shell commands that turn it on, and that remove it again. */
  enable: string[];
  remove: string[];
}

/** The timer kind of this platform; undefined where neither systemd nor launchd is the norm (Windows). */
export function timerKindFor(platform: NodeJS.Platform): TimerKind | undefined {
  if (platform === 'linux') return 'systemd';
  if (platform === 'darwin') return 'launchd';
  return undefined;
}

/**
 * Whether `systemctl --user` can reach a user manager from this environment: it connects to
 * `$XDG_RUNTIME_DIR/systemd/private`, or to the user bus `$XDG_RUNTIME_DIR/bus` (systemctl(1), --user;
 * sd_bus_open_user(3)). A container, `su`/`sudo` without a login, or cron have neither; systemctl then fails
 * with "Failed to connect to bus".
 */
export function systemdUserSessionReachable(env: NodeJS.ProcessEnv): boolean {
  const runtime = env.XDG_RUNTIME_DIR;
  if (!runtime) return false;
  return existsSync(join(runtime, 'systemd', 'private')) || existsSync(join(runtime, 'bus'));
}

/**
 * The crontab(5) line that runs `spec.command` every `spec.everyMs` with its environment, when cron's fields can
 * say that interval (a divisor of an hour in minutes, or of a day in hours); undefined otherwise.
 */
export function cronLine(spec: Pick<TimerSpec, 'command' | 'env' | 'everyMs'>): string | undefined {
  const minutes = Math.round(spec.everyMs / 60_000);
  const hours = minutes / 60;
  const when =
    minutes < 60 && 60 % minutes === 0
      ? `*/${minutes} * * * *`
      : Number.isInteger(hours) && hours < 24 && 24 % hours === 0
        ? `0 */${hours} * * *`
        : minutes === 24 * 60
          ? '0 0 * * *'
          : undefined;
  if (!when) return undefined;
  const env = Object.entries(spec.env).map(([k, v]) => shellWord(`${k}=${v}`));
  // cron gives `%` a meaning of its own (crontab(5)): escape it.
  return `${when} ${[...env, ...spec.command.map(shellWord)].join(' ').replace(/%/g, '\\%')}`;
}

/** A short stable name per replica directory: two replicas get two timers, the same one is rewritten in place. */
const unitId = (dir: string) => createHash('sha256').update(dir).digest('hex').slice(0, 8);

/** The files and commands of a timer for `spec`. Pure: nothing is written. */
export function timerFiles(kind: TimerKind, spec: TimerSpec): TimerFiles {
  return kind === 'systemd' ? systemdFiles(spec) : launchdFiles(spec);
}

/** systemd's quoting of one word in ExecStart= and Environment=: double quotes, backslash escapes, `%` doubled. */
function systemdWord(word: string): string {
  const escaped = word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%');
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word.replace(/%/g, '%%') : `"${escaped}"`;
}

function systemdFiles(spec: TimerSpec): TimerFiles {
  const name = `mail-archiver-sync-${unitId(spec.dir)}`;
  const unitDir = join(spec.userHome, '.config', 'systemd', 'user');
  const seconds = Math.round(spec.everyMs / 1000);
  const service = [
    '[Unit]',
    `Description=mail-archiver sync of the replica ${spec.dir}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    ...Object.entries(spec.env).map(([k, v]) => `Environment=${systemdWord(`${k}=${v}`)}`),
    `ExecStart=${spec.command.map(systemdWord).join(' ')}`,
    // A sync that finds a problem exits 1: the unit shows failed (systemctl --user status) until the next good run.
    '',
  ].join('\n');
  const timer = [
    '[Unit]',
    `Description=mail-archiver sync of the replica ${spec.dir}, every ${seconds} s`,
    '',
    '[Timer]',
    'OnActiveSec=1min',
    `OnUnitActiveSec=${seconds}s`,
    'AccuracySec=1min',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
  const servicePath = join(unitDir, `${name}.service`);
  const timerPath = join(unitDir, `${name}.timer`);
  return {
    kind: 'systemd',
    name,
    files: [
      { path: servicePath, content: service },
      { path: timerPath, content: timer },
    ],
    enable: [
      'systemctl --user daemon-reload',
      `systemctl --user enable --now ${name}.timer`,
      // Without lingering, a user's timers stop when the user logs out (a server nobody logs into).
      'loginctl enable-linger "$USER"',
    ],
    remove: [
      `systemctl --user disable --now ${name}.timer`,
      `rm ${shellWord(servicePath)} ${shellWord(timerPath)}`,
      'systemctl --user daemon-reload',
    ],
  };
}

const xml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function launchdFiles(spec: TimerSpec): TimerFiles {
  const name = `org.mail-archiver.sync.${unitId(spec.dir)}`;
  const path = join(spec.userHome, 'Library', 'LaunchAgents', `${name}.plist`);
  const log = join(spec.userHome, 'Library', 'Logs', `${name}.log`);
  const strings = (items: string[], indent: string) =>
    items.map((s) => `${indent}<string>${xml(s)}</string>`).join('\n');
  const plist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${xml(name)}</string>
  <key>ProgramArguments</key>
  <array>
${strings(spec.command, '    ')}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
${Object.entries(spec.env)
  .map(([k, v]) => `    <key>${xml(k)}</key>\n    <string>${xml(v)}</string>`)
  .join('\n')}
  </dict>
  <key>StartInterval</key>
  <integer>${Math.round(spec.everyMs / 1000)}</integer>
  <key>RunAtLoad</key>
  <true/>
  <key>StandardOutPath</key>
  <string>${xml(log)}</string>
  <key>StandardErrorPath</key>
  <string>${xml(log)}</string>
</dict>
</plist>
`;
  return {
    kind: 'launchd',
    name,
    files: [{ path, content: plist }],
    enable: [`launchctl bootstrap gui/$(id -u) ${shellWord(path)}`],
    remove: [`launchctl bootout gui/$(id -u) ${shellWord(path)}`, `rm ${shellWord(path)}`],
  };
}
