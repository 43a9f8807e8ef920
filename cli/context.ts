// What every command gets: the global options (--config, --target) with the config they name, and the archive
// to work on (a running `npm start`, local services started for the command, or the deployed stack). The local
// services and the AWS SDK are loaded only here, when a command asks for the archive.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { type ArchiverConfig, ConfigError, loadConfig } from '../shared/config';
import { resolveConfigPath } from './local/data-home';
import { makeDataHomePrivate } from './local/privacy';
import { archiverHome, readRunningStack } from './local/running-stack';
import { addCleanup } from './process/interrupt';
import { UserError } from './process/output';
import { out } from './program';
import type { Archive, WithArchive, WithArchiveObjects } from './target/archive';
import type { TargetOperations } from './target/operations';
import { describeS3Place } from './target/s3-place';

export interface GlobalOptions {
  config?: string;
  target: 'local' | 'aws';
}

export interface CliContext {
  /** The global options and the config they name (loaded and validated on each call; throws ConfigError). */
  globals(): GlobalOptions & { configuration: ArchiverConfig };
  /** Runs `fn` against the archive: a running `npm start`, local services started for this command, or AWS. */
  withArchive: WithArchive;
  /**
   * Runs `fn` against the archive's bucket alone (a command that reads only S3): a running `npm start`'s S3, an S3
   * server started for this command (no DynamoDB Local), or AWS.
   */
  withArchiveObjects: WithArchiveObjects;
  /** What `redrive` and `seal` do on the target --target names (cli/target/operations.ts), loaded on first use. */
  operations(): Promise<TargetOperations>;
}

/**
 * The config named by --config, MAIL_ARCHIVER_CONFIG, the working directory or the data directory
 * (cli/local/data-home.ts). A missing or invalid file is a UserError naming where it looked.
 */
function readConfig(explicit: string | undefined): ArchiverConfig {
  const { path, looked } = resolveConfigPath(explicit);
  if (!existsSync(path))
    throw new UserError(`no config file: looked for ${looked.join(' and ')}`, {
      hint: 'name one with --config FILE or MAIL_ARCHIVER_CONFIG, or run the command inside the checkout',
    });
  try {
    return loadConfig(path);
  } catch (error) {
    if (error instanceof ConfigError) throw new UserError(error.message, { cause: error });
    throw error;
  }
}

export function createContext(program: Command): CliContext {
  const globals = () => {
    const options = program.opts<GlobalOptions>();
    return { ...options, configuration: readConfig(options.config) };
  };

  async function withArchive<T>(
    fn: (archive: Archive, config: ArchiverConfig) => Promise<T>,
    options: { forwarding?: boolean } = {},
  ): Promise<T> {
    const { target, configuration } = globals();
    if (target === 'aws') {
      const { connectAws } = await import('./target/aws');
      const archive = await connectAws(configuration);
      try {
        return await fn(archive, configuration);
      } finally {
        await archive.close();
      }
    }
    const home = archiverHome();
    // Private before anything writes into it (the sink keeps forwarded copies there).
    if (!readRunningStack(home)) makeDataHomePrivate(home);
    // Forwarding goes where `npm start` sends it, else to the configured smarthost, else to a sink for now.
    const running = readRunningStack(home);
    const startedAt = performance.now();
    const sink =
      options.forwarding && !running?.smarthost && !configuration.forwarding.smarthost
        ? await (await import('./local/forwarding')).startForwardSink({ dir: join(home, 'sink') })
        : undefined;
    const smarthost =
      running?.smarthost ??
      configuration.forwarding.smarthost ??
      (sink ? { host: sink.host, port: sink.port } : undefined);
    const stopSink = addCleanup(() => sink?.stop());
    const { startLocalArchive } = await import('./local/archive');
    const archive = await startLocalArchive(configuration, {
      home,
      notice: (line) => out().notice(`mail-archiver: ${line}`),
      ...(options.forwarding && smarthost ? { forwarding: { smarthost, home } } : {}),
    });
    // Services started for this command stop with it, also on Ctrl-C and SIGTERM. Their ports are free ones.
    const closeArchive = addCleanup(() => archive.close());
    if (!archive.shared)
      out().notice(
        `mail-archiver: no local stack running: started DynamoDB Local and S3 for this command in ${((performance.now() - startedAt) / 1000).toFixed(1)} s (npm start in another terminal makes every command fast)`,
      );
    out().detail(
      `${archive.shared ? 'using the running stack' : 'started for this command'}: DynamoDB ${archive.endpoints.dynamodb}, S3 ${archive.endpoints.s3}${sink ? `, forward sink smtp://${sink.host}:${sink.port}` : ''}`,
    );
    try {
      return await fn(archive, configuration);
    } finally {
      closeArchive();
      stopSink();
      await archive.close();
      await sink?.stop();
    }
  }

  const withArchiveObjects: WithArchiveObjects = async (fn) => {
    const { target, configuration } = globals();
    if (target === 'aws') {
      const { connectAws } = await import('./target/aws');
      const archive = await connectAws(configuration);
      try {
        const region = await archive.clients.s3.config.region().catch(() => undefined);
        const s3Place = { kind: 'aws' as const, bucket: archive.bucket, ...(region ? { region } : {}) };
        return await fn({ ...archive, s3Place }, configuration);
      } finally {
        await archive.close();
      }
    }
    const home = archiverHome();
    const startedAt = performance.now();
    const { startLocalObjects } = await import('./local/archive');
    const objects = await startLocalObjects(configuration, { home });
    // Started for this command: stopped with it, also on Ctrl-C and SIGTERM.
    const close = addCleanup(() => objects.close());
    if (!objects.shared)
      out().notice(
        `mail-archiver: no local stack running: started S3 for this command in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`,
      );
    out().detail(
      `${objects.shared ? 'using the running stack' : 'started for this command'}: ${describeS3Place(objects.s3Place)}`,
    );
    try {
      return await fn(objects, configuration);
    } finally {
      close();
      await objects.close();
    }
  };

  async function operations(): Promise<TargetOperations> {
    const { target, configuration } = globals();
    if (target === 'aws') return (await import('./target/aws-operations')).awsOperations(configuration);
    return (await import('./local/operations')).localOperations(withArchive);
  }

  return { globals, withArchive, withArchiveObjects, operations };
}
