// The checks of `mail-archiver doctor` against the local stack (`npm start`): the config, that the stack runs and
// its S3 and DynamoDB answer, the last reconcile, the local dead letters, a canary round trip.
import { connect } from 'node:net';
import type { ReconcileRun } from '../../shared/archive/reconcile-run';
import type { ArchiverConfig } from '../../shared/config';
import type { CanaryRoundTrip } from '../../shared/health/canary-run';
import type { StackFile } from '../local/running-stack';
import type { ArchiveHealth } from '../target/health';
import { canaryCheck } from './canary';
import { type Check, fail, type NamedCheck, ok, reconcileCheck, runChecks, warn } from './check';
import { exportRecipientsCheck } from './export-encryption';
import { lastReceivedCheck } from './health-view';

export interface LocalDoctorDeps {
  config: ArchiverConfig;
  running: StackFile | undefined;
  lastReconcile: ReconcileRun | undefined;
  /** The local dead-letter folders' counts (MAIL_ARCHIVER_HOME/dead-letters, forward-dead-letters). */
  deadLetters?: { ingest: number; parkedForwards: number; unreadable?: { file: string; reason: string }[] };
  /**
   * One canary round trip through the running stack (cli/doctor/canary.ts); absent when no stack runs or the canary
   * is off.
   */
  canary?: () => Promise<CanaryRoundTrip>;
  /**
   * Reads the health view (cli/target/health.ts healthView: from the running stack's services, else from the data
   * directory alone); absent: no view, no check of it.
   */
  health?: () => Promise<ArchiveHealth>;
  /** Whether something answers on host:port (default: a TCP connect). */
  reachable?: (url: string) => Promise<boolean>;
  now?: () => Date;
}

const config: NamedCheck<LocalDoctorDeps> = {
  name: 'config',
  run: async ({ config }) =>
    ok('config', `valid: ${config.domains.join(', ')}, ${Object.keys(config.mailboxes).length} mailboxes`),
};

const localStack: NamedCheck<LocalDoctorDeps> = {
  name: 'local stack',
  async run({ running, reachable = tcpReachable }) {
    if (!running) return warn('local stack', 'not running', 'npm start');
    const checks = [ok('local stack', `running (pid ${running.pid}, since ${running.startedAt})`)];
    const { s3, dynamodb } = running.endpoints;
    for (const [name, url] of Object.entries({ s3, dynamodb })) {
      checks.push(
        (await reachable(url))
          ? ok(`local ${name}`, `answers at ${url}`)
          : fail(
              `local ${name}`,
              `nothing answers at ${url} (not listening, or not responding within 3 s)`,
              'stop npm start and start it again',
            ),
      );
    }
    return checks;
  },
};

const reconcile: NamedCheck<LocalDoctorDeps> = {
  name: 'reconcile',
  run: async ({ lastReconcile, now }) => reconcileCheck(lastReconcile, now?.() ?? new Date()),
};

const exportEncryption: NamedCheck<LocalDoctorDeps> = {
  name: 'export encryption',
  run: async ({ config }) => exportRecipientsCheck(config),
};

const deadLetters: NamedCheck<LocalDoctorDeps> = {
  name: 'dead letters',
  async run({ deadLetters }) {
    if (!deadLetters) return [];
    const { ingest, parkedForwards, unreadable = [] } = deadLetters;
    return [
      ...(unreadable.length > 0
        ? [
            fail(
              'dead letters unreadable',
              unreadable.map((u) => `${u.file}: ${u.reason}`).join('; '),
              'read each, then move it out of the folder (redrive cannot use it)',
            ),
          ]
        : []),
      ingest === 0
        ? ok('dead letters ingest', 'empty')
        : fail('dead letters ingest', `${ingest} stored messages not indexed`, 'mail-archiver redrive'),
      parkedForwards === 0
        ? ok('parked forwards', 'none')
        : fail(
            'parked forwards',
            `${parkedForwards} parked`,
            'mail-archiver forwards --state failed, then mail-archiver redrive',
          ),
    ];
  },
};

/** When mail was last received (canaries aside): only the running stack's index knows. After the canary, so
 * the view shows the round trip doctor just made. */
const lastReceived: NamedCheck<LocalDoctorDeps> = {
  name: 'last received',
  async run({ config, health, now }) {
    if (!health) return [];
    const view = await health();
    return view.lastReceivedAt === undefined ? [] : lastReceivedCheck(config, view, now?.() ?? new Date());
  },
};

const canary: NamedCheck<LocalDoctorDeps> = {
  name: 'canary',
  async run({ config, canary, running }) {
    if (!canary) return [];
    try {
      return canaryCheck(config, await canary());
    } catch (error) {
      const refused = refusingService(error, running);
      if (!refused) throw error;
      return fail(
        'canary',
        `the round trip stopped: the local ${refused.name} at ${refused.url} refused the connection`,
        'stop npm start and start it again',
      );
    }
  },
};

/**
 * Which of the running stack's services (s3, dynamodb, smtp) refused a connection, from the error's port (node's
 * ECONNREFUSED carries it; with both loopback addresses tried, an AggregateError carries one per address).
 */
function refusingService(
  error: unknown,
  running: StackFile | undefined,
): { name: string; url: string } | undefined {
  const refused = error as { code?: unknown; port?: unknown; errors?: unknown };
  if (!running || refused?.code !== 'ECONNREFUSED') return undefined;
  const ports = new Set(
    [refused, ...(Array.isArray(refused.errors) ? refused.errors : [])].map((e) =>
      Number((e as { port?: unknown }).port),
    ),
  );
  const services: [string, string][] = [
    ['s3', running.endpoints.s3],
    ['dynamodb', running.endpoints.dynamodb],
    ...(running.smtp
      ? [['smtp', `smtp://${running.smtp.host}:${running.smtp.port}`] as [string, string]]
      : []),
  ];
  for (const [name, url] of services) if (ports.has(Number(new URL(url).port))) return { name, url };
  return undefined;
}

/** The local checks, in the report's order. */
export const LOCAL_CHECKS: readonly NamedCheck<LocalDoctorDeps>[] = [
  config,
  localStack,
  reconcile,
  exportEncryption,
  deadLetters,
  canary,
  lastReceived,
];

/** The checks of the local stack (`npm start`): it runs, and its S3 and DynamoDB answer. Never throws. */
export async function runLocalChecks(deps: LocalDoctorDeps): Promise<Check[]> {
  return runChecks(LOCAL_CHECKS, deps, 'run doctor again; if it fails again, run it with --verbose');
}

/**
 * Whether the service at `url` answers: it accepts a connection and then responds to an HTTP request (any bytes,
 * or closing the connection) within `ms`. A connection alone is not enough: a stopped or hung JVM (DynamoDB
 * Local under SIGSTOP, a full GC) still has its socket accepted by the kernel, and every command then waited on
 * it for ever while doctor said "answers".
 */
export function tcpReachable(url: string, ms = 3000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('connect', () =>
      socket.write(`GET / HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`),
    );
    socket.once('data', () => done(true));
    socket.once('end', () => done(true));
    socket.once('error', () => done(false));
  });
}
