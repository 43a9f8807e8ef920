// Benchmark section "start-up": what a person or a script waits for before a command answers. The compiled CLI
// (dist/, rebuilt first) runs `--version`, `--help` (every command described, none loaded), `help list` (the one
// command's module), and `list --limit 50` against a running `npm start` holding 200
// messages, each the median of several fresh processes, beside `node -e 0` (the floor: node itself starting)
// measured in the same loop; and `list` with no stack running (the command starts DynamoDB Local and S3 itself).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { BenchRow } from './bench/row';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'cli/bin.js');
const RUNS = 7;

export type StartupRow = BenchRow;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** Wall seconds of one process run to its end (throws when it fails). */
function timed(args: string[], env: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint();
  execFileSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export async function startupBench(work: string, messages: Buffer[]) {
  const rows: StartupRow[] = [];
  const notes: string[] = [];
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-cli.mjs')], { stdio: 'ignore' });
  const home = join(work, 'home');
  mkdirSync(home, { recursive: true });
  const env = {
    ...process.env,
    MAIL_ARCHIVER_HOME: home,
    MAIL_ARCHIVER_CONFIG: join(ROOT, 'mail-archiver.config.json'),
    NO_COLOR: '1',
  };
  const floor: number[] = [];
  const version: number[] = [];
  const help: number[] = [];
  const helpList: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    floor.push(timed(['-e', '0'], env));
    version.push(timed([BIN, '--version'], env));
    help.push(timed([BIN, '--help'], env));
    helpList.push(timed([BIN, 'help', 'list'], env));
  }
  const nodeFloor = median(floor);
  // --help loads what --version loads (no command): the same target.
  for (const [metric, runs] of [
    ['mail-archiver --version', version],
    ['mail-archiver --help', help],
  ] as const)
    rows.push({
      metric,
      value: median(runs),
      unit: 's',
      baseline: { name: 'node -e 0', value: nodeFloor },
      target: '<= 0.3 s',
      met: median(runs) <= 0.3,
    });
  rows.push({
    metric: 'mail-archiver help list',
    value: median(helpList),
    unit: 's',
    baseline: { name: 'node -e 0', value: nodeFloor },
  });

  // No stack running: the command starts the services for itself (the one-line notice on stderr says so).
  const cold: number[] = [];
  for (let i = 0; i < 3; i += 1) cold.push(timed([BIN, 'list', 'alice@example.com', '--limit', '50'], env));

  const mail = join(work, 'mail');
  mkdirSync(mail, { recursive: true });
  messages.slice(0, 200).forEach((raw, i) => {
    writeFileSync(join(mail, `${i}.eml`), raw);
  });
  const stack = spawn(process.execPath, [BIN, 'start', '--smtp-port', '0'], { env, stdio: 'ignore' });
  try {
    for (let waited = 0; !existsSync(join(home, 'stack.json')); waited += 100) {
      if (waited > 180_000 || stack.exitCode !== null) throw new Error('npm start did not come up');
      await delay(100);
    }
    execFileSync(process.execPath, [BIN, 'import', mail, '--to', 'alice@example.com'], {
      env,
      stdio: 'ignore',
    });
    const floorWarm: number[] = [];
    const list: number[] = [];
    for (let i = 0; i < RUNS; i += 1) {
      floorWarm.push(timed(['-e', '0'], env));
      list.push(timed([BIN, 'list', 'alice@example.com', '--limit', '50'], env));
    }
    rows.push({
      metric: 'list --limit 50, npm start running',
      value: median(list),
      unit: 's',
      baseline: { name: 'node -e 0', value: median(floorWarm) },
      target: '<= 1 s',
      met: median(list) <= 1,
    });
  } finally {
    stack.kill('SIGTERM');
    await new Promise((done) => stack.once('exit', done));
  }
  rows.push({
    metric: 'list --limit 50, no stack running (starts DynamoDB Local and S3)',
    value: median(cold),
    unit: 's',
    baseline: { name: 'node -e 0', value: nodeFloor },
  });
  notes.push(
    `Start-up: medians of ${RUNS} fresh processes of the compiled CLI (dist/) and of node -e 0 in the same loop; list with no stack running: ${cold.map((s) => s.toFixed(1)).join(' and ')} s (DynamoDB Local's JVM starting with C1 only and the serial collector, s3rver, the table checked).`,
  );
  return { rows, notes };
}
