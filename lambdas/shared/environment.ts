// Read once at cold start; a missing or bad value fails the cold start loudly with its name.
import { type ArchiverConfig, parseConfigJson } from '../../shared/config';

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ArchiverConfig {
  return parseConfigJson(requireEnv('ARCHIVER_CONFIG', env), 'ARCHIVER_CONFIG');
}
