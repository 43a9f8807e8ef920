// Read once at cold start; a missing or bad value fails the cold start loudly with its name.
import { type ArchiverConfig, parseConfig } from '../../shared/config';

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ArchiverConfig {
  const text = requireEnv('ARCHIVER_CONFIG', env);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`ARCHIVER_CONFIG is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(raw, 'ARCHIVER_CONFIG');
}
