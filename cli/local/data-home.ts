// Where the local archive lives (DynamoDB Local's tables, s3rver's objects, forwarded copies, stack.json).
// It used to be ./.mail-archiver inside the checkout, where `git clean -fdx` deletes it; now it is the
// platform's user data directory, unless MAIL_ARCHIVER_HOME says otherwise. An archive found at the old place
// is never silently left behind: it keeps being used, with a notice saying how to move it.
import { type Dir, existsSync, opendirSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** The old default, relative to the working directory. */
export const LEGACY_HOME = '.mail-archiver';
const APP_DIR = 'mail-archiver';

export interface DataHome {
  /** Absolute path of the data directory. */
  path: string;
  /** Why this path: the environment variable, the platform default, or an archive at the old place. */
  source: 'MAIL_ARCHIVER_HOME' | 'default' | 'legacy';
  /** Something the user should read (an archive at the old place), printed once per run on stderr. */
  notice?: string;
}

export interface DataHomeContext {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  platform?: NodeJS.Platform;
  home?: string;
}

/**
 * The platform's per-user data directory for this tool:
 *  - Linux and other Unixes: `$XDG_DATA_HOME/mail-archiver`, else `~/.local/share/mail-archiver` (XDG Base
 *    Directory Specification: a relative XDG_DATA_HOME is invalid and ignored);
 *  - macOS: `~/Library/Application Support/mail-archiver`;
 *  - Windows: `%LOCALAPPDATA%\mail-archiver`, else `~\AppData\Local\mail-archiver`.
 */
export function platformDataDir(context: DataHomeContext = {}): string {
  const env = context.env ?? process.env;
  const platform = context.platform ?? process.platform;
  const home = context.home ?? env.HOME ?? homedir();
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', APP_DIR);
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(home, 'AppData', 'Local'), APP_DIR);
  const xdg = env.XDG_DATA_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(home, '.local', 'share'), APP_DIR);
}

const holdsSomething = (dir: string) => {
  try {
    return statSync(dir).isDirectory() && readdirSync(dir).length > 0;
  } catch {
    return false;
  }
};

/**
 * Resolves the data directory: MAIL_ARCHIVER_HOME (relative to the working directory) if set; else the
 * platform default, except that a non-empty `./.mail-archiver` (the old default) is used while the platform
 * default does not exist yet, with a notice on how to move it. Never creates anything.
 */
export function resolveDataHome(context: DataHomeContext = {}): DataHome {
  const env = context.env ?? process.env;
  const cwd = context.cwd ?? process.cwd();
  if (env.MAIL_ARCHIVER_HOME)
    return { path: resolve(cwd, env.MAIL_ARCHIVER_HOME), source: 'MAIL_ARCHIVER_HOME' };
  const platformPath = platformDataDir(context);
  const legacy = resolve(cwd, LEGACY_HOME);
  if (!holdsSomething(legacy) || legacy === platformPath) return { path: platformPath, source: 'default' };
  if (!existsSync(platformPath)) {
    return {
      path: legacy,
      source: 'legacy',
      notice: [
        `using the archive in ${legacy}, the old default place inside this checkout, where "git clean -fdx"`,
        `would delete it. The data directory is now ${platformPath}. Move it there once (stop "npm start" first):`,
        `  mkdir -p "${resolve(platformPath, '..')}" && mv "${legacy}" "${platformPath}"`,
        `or keep it where it is and silence this: export MAIL_ARCHIVER_HOME="${legacy}"`,
      ].join('\n'),
    };
  }
  return {
    path: platformPath,
    source: 'default',
    notice: [
      `${legacy} holds an archive from an older version that is NOT being used; using ${platformPath}.`,
      `To use the old one: MAIL_ARCHIVER_HOME="${legacy}" mail-archiver ...`,
    ].join('\n'),
  };
}

/** One line for banners and `status`: where the data is and why there. */
export function describeDataHome(home: DataHome): string {
  const why =
    home.source === 'MAIL_ARCHIVER_HOME'
      ? 'from MAIL_ARCHIVER_HOME'
      : home.source === 'legacy'
        ? 'the old place; see the notice above'
        : 'the default; MAIL_ARCHIVER_HOME changes it';
  return `${home.path} (${why})`;
}

/**
 * How many entries `status` reads for the data directory's size: a bound, so that it answers in the same time
 * whatever the archive holds (s3rver keeps three files an object; 292,667 files at 41,680 messages).
 */
export const DATA_SIZE_ENTRIES = 20_000;

/**
 * Bytes of the files under `dir` (0 when it does not exist yet), reading at most `limit` directory entries (files
 * and folders, in the order the file system lists them, each folder read as it is reached): `complete` is false
 * when it stopped there, and `bytes` is then what it counted, a lower bound.
 */
export function dataHomeSize(dir: string, limit = DATA_SIZE_ENTRIES): { bytes: number; complete: boolean } {
  let bytes = 0;
  let seen = 0;
  const folders = [dir];
  for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
    let listing: Dir;
    try {
      listing = opendirSync(folder);
    } catch {
      continue; // not created yet, or removed while walked
    }
    try {
      for (let entry = listing.readSync(); entry !== null; entry = listing.readSync()) {
        seen += 1;
        if (seen > limit) return { bytes, complete: false };
        const path = join(folder, entry.name);
        if (entry.isDirectory()) folders.push(path);
        else {
          try {
            bytes += statSync(path).size;
          } catch {
            // removed while walked
          }
        }
      }
    } finally {
      listing.closeSync();
    }
  }
  return { bytes, complete: true };
}

export const CONFIG_FILE = 'mail-archiver.config.json';

/**
 * The config file, so that the CLI works from any directory: `--config FILE`, else MAIL_ARCHIVER_CONFIG, else
 * `./mail-archiver.config.json` when the working directory has one, else `mail-archiver.config.json` in the
 * data directory (MAIL_ARCHIVER_HOME or the platform default). Returns the path to read and every place it
 * looked, for the error message when none exists.
 */
export function resolveConfigPath(
  explicit: string | undefined,
  context: DataHomeContext = {},
): { path: string; looked: string[] } {
  const env = context.env ?? process.env;
  const cwd = context.cwd ?? process.cwd();
  if (explicit) return { path: resolve(cwd, explicit), looked: [resolve(cwd, explicit)] };
  if (env.MAIL_ARCHIVER_CONFIG)
    return { path: resolve(cwd, env.MAIL_ARCHIVER_CONFIG), looked: [resolve(cwd, env.MAIL_ARCHIVER_CONFIG)] };
  const here = resolve(cwd, CONFIG_FILE);
  const inHome = join(resolveDataHome(context).path, CONFIG_FILE);
  const looked = [here, inHome];
  if (existsSync(here) || !existsSync(inHome)) return { path: here, looked };
  return { path: inHome, looked };
}
