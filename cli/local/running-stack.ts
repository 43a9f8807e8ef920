// Whether a local stack runs (`npm start` publishes stack.json in the data directory) and where the data
// directory is. Light on purpose: every command reads it before deciding whether to load the local services.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalEndpoints } from '../../shared/adapters/clients';
import { resolveDataHome } from './data-home';

/** The data directory (see cli/local/data-home.ts): MAIL_ARCHIVER_HOME, else the platform's user data directory. */
export function archiverHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolveDataHome({ env }).path;
}

/** What a running `npm start` publishes so that CLI commands can use its services. */
export interface StackFile {
  pid: number;
  startedAt: string;
  endpoints: LocalEndpoints;
  smtp?: { host: string; port: number };
  /** Where forwarded copies go (the local sink unless a smarthost is configured). */
  smarthost?: { host: string; port: number };
  bucket: string;
  tableName: string;
}

/** Where `npm start` writes its StackFile. */
export const stackFilePath = (home: string) => join(home, 'stack.json');

/** The running stack over `home`, or undefined when none runs (no stack.json, or its process is gone). */
export function readRunningStack(home: string): StackFile | undefined {
  const path = stackFilePath(home);
  if (!existsSync(path)) return undefined;
  try {
    const stack = JSON.parse(readFileSync(path, 'utf8')) as StackFile;
    process.kill(stack.pid, 0);
    return stack;
  } catch {
    return undefined;
  }
}
