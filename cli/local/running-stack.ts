// Whether a local stack runs (`npm start` publishes stack.json in the data directory: where its services listen,
// so that other commands use them instead of starting their own; it holds the data directory's credentials: 0600)
// and where the data directory is. Light on purpose: every command reads it before deciding whether to load the
// local services.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { LocalEndpoints } from '../../shared/adapters/clients';
import { parseJsonAs } from '../../shared/json';
import { resolveDataHome } from './data-home';

/** The data directory (see cli/local/data-home.ts): MAIL_ARCHIVER_HOME, else the platform's user data directory. */
export function archiverHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolveDataHome({ env }).path;
}

const hostAndPort = z.object({ host: z.string(), port: z.number().int().min(1).max(65535) });

/** What a running `npm start` publishes so that CLI commands can use its services. */
const stackFileSchema = z.object({
  pid: z.number().int().positive(),
  startedAt: z.string(),
  endpoints: z.object({
    s3: z.string(),
    dynamodb: z.string(),
    credentials: z.object({ accessKeyId: z.string(), secretAccessKey: z.string() }).optional(),
  }) satisfies z.ZodType<LocalEndpoints>,
  smtp: hostAndPort.optional(),
  /** Where forwarded copies go (the local sink unless a smarthost is configured). */
  smarthost: hostAndPort.optional(),
  bucket: z.string(),
  tableName: z.string(),
});

export type StackFile = z.output<typeof stackFileSchema>;

export const stackFilePath = (home: string) => join(home, 'stack.json');

export function readRunningStack(home: string): StackFile | undefined {
  const path = stackFilePath(home);
  if (!existsSync(path)) return undefined;
  try {
    const stack = parseJsonAs(stackFileSchema, readFileSync(path, 'utf8'), path);
    process.kill(stack.pid, 0);
    return stack;
  } catch {
    return undefined;
  }
}

/** Publishes `stack` as the running stack of the data directory `home` (0600: it holds the credentials). */
export function writeStackFile(home: string, stack: StackFile): void {
  writeFileSync(stackFilePath(home), JSON.stringify(stack, null, 2), { mode: 0o600 });
  chmodSync(stackFilePath(home), 0o600);
}

/** The running stack of `home` stopped: other commands start their own services again. */
export function removeStackFile(home: string): void {
  rmSync(stackFilePath(home), { force: true });
}
