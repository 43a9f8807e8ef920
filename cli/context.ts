// What every command gets: the global options (--config, --target) with the config they name, and the archive
// to work on (a running `npm start`, local services started for the command, or the deployed stack).
import { join } from 'node:path';
import type { Command } from 'commander';
import { type ArchiverConfig, defaultConfigPath, loadConfig } from '../shared/config';
import { connectAws } from './aws-target';
import { startForwardSink } from './local-forwarding';
import { archiverHome, type LocalArchive, readRunningStack, startLocalArchive } from './local-stack';

export interface GlobalOptions {
  config?: string;
  target: 'local' | 'aws';
}

export interface CliContext {
  /** The global options and the config they name (loaded and validated on each call; throws ConfigError). */
  globals(): GlobalOptions & { configuration: ArchiverConfig };
  /** Runs `fn` against the archive: a running `npm start`, local services started for this command, or AWS. */
  withArchive<T>(
    fn: (archive: LocalArchive, config: ArchiverConfig) => Promise<T>,
    options?: { forwarding?: boolean },
  ): Promise<T>;
}

export function createContext(program: Command): CliContext {
  const globals = () => {
    const options = program.opts<GlobalOptions>();
    return { ...options, configuration: loadConfig(options.config ?? defaultConfigPath()) };
  };

  async function withArchive<T>(
    fn: (archive: LocalArchive, config: ArchiverConfig) => Promise<T>,
    options: { forwarding?: boolean } = {},
  ): Promise<T> {
    const { target, configuration } = globals();
    if (target === 'aws') {
      const archive = await connectAws(configuration);
      try {
        return await fn(archive, configuration);
      } finally {
        await archive.close();
      }
    }
    const home = archiverHome();
    // Forwarding goes where `npm start` sends it, else to the configured smarthost, else to a sink for now.
    const running = readRunningStack(home);
    const sink =
      options.forwarding && !running?.smarthost && !configuration.forwarding.smarthost
        ? await startForwardSink({ dir: join(home, 'sink') })
        : undefined;
    const smarthost =
      running?.smarthost ??
      configuration.forwarding.smarthost ??
      (sink ? { host: sink.host, port: sink.port } : undefined);
    const archive = await startLocalArchive(configuration, {
      home,
      ...(options.forwarding && smarthost ? { forwarding: { smarthost, home } } : {}),
    });
    try {
      return await fn(archive, configuration);
    } finally {
      await archive.close();
      await sink?.stop();
    }
  }

  return { globals, withArchive };
}
