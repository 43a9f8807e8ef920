// Read once at cold start; a missing or bad value fails the cold start loudly with its name.
import { type ArchiverConfig, parseConfigJson } from '../../shared/config';

/**
 * The identifier the bundler replaces with the validated config, as a JSON string (esbuild `define`, set by
 * cdk/constructs/archiver-function.ts). The config travels with the code, not in the environment, which Lambda
 * caps at 4 KB for all variables together.
 */
export const BUNDLED_CONFIG_IDENTIFIER = '__ARCHIVER_CONFIG__';
declare const __ARCHIVER_CONFIG__: string | undefined;

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

/**
 * The config compiled into the bundle; outside a bundle (benchmarks, local runs) the JSON in ARCHIVER_CONFIG.
 * @throws Error when neither is there; ConfigError when the JSON is bad or the config is invalid.
 */
export function bundledConfig(env: NodeJS.ProcessEnv = process.env): ArchiverConfig {
  const bundled = typeof __ARCHIVER_CONFIG__ === 'string' ? __ARCHIVER_CONFIG__ : undefined;
  const source = bundled === undefined ? 'ARCHIVER_CONFIG' : 'the bundled config';
  return parseConfigJson(bundled ?? requireEnv('ARCHIVER_CONFIG', env), source);
}
