// `mail-archiver send-test --canary` as a user runs it: the CLI (a separate process) sends a canary through the
// running local stack's SMTP listener (in SES's role) and follows it into S3 (s3rver) and the index (DynamoDB
// Local). Ingest is stopped the way the doctor test stops it: the stack's delivery into the archive throws, so
// the listener stores the message like SES and parks its notification in the dead letters.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningLocalStack, startLocalStack } from '../../cli/local/stack';
import type { DeliveryRow } from '../../shared/index/schema';
import { ROOT, runCli } from '../support/cli';
import { exampleConfig } from '../support/config';

const config = exampleConfig();
let home: string;
let stack: RunningLocalStack | undefined;

const cli = (args: string[]) => runCli(args, { home });
/** Files in the local ingest dead letters (none before the first is parked). */
const deadLetters = () =>
  existsSync(join(home, 'dead-letters')) ? readdirSync(join(home, 'dead-letters')) : [];

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mail-archiver-canary-e2e-'));
  stack = await startLocalStack(config, { home, smtpPort: 0 });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('send-test --canary on the running local stack', () => {
  it('a round trip: stored in S3 and indexed, with its latency; exit 0; the canary is in its own mailbox', async () => {
    const run = await cli(['send-test', '--canary']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /^ok\s+canary\s+a canary to canary@example\.com was stored in S3 and indexed, archived after \d+\.\d s/m,
    );
    const listed = await cli(['list', 'canary@example.com', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = listed.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as DeliveryRow);
    expect(rows.map((r) => r.subject)).toEqual([expect.stringMatching(/^mail-archiver canary canary-/)]);
  }, 120_000);

  it('--json: the check, the trail (sent, stored, indexed) and the verdict with its latency', async () => {
    const run = await cli(['--json', 'send-test', '--canary']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      name: 'canary',
      status: 'ok',
      detail: expect.stringMatching(/stored in S3 and indexed/),
      trail: {
        id: expect.stringMatching(/^canary-/),
        sentAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        storedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        indexedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
      verdict: { outcome: 'on-time', latencySeconds: expect.any(Number) },
    });
    expect(report).not.toHaveProperty('fix');
  }, 120_000);

  it('refuses a recipient with --canary, and a canary turned off, naming the field; sends nothing', async () => {
    const before = deadLetters().length;
    const withRecipient = await cli(['send-test', 'alice@example.com', '--canary']);
    expect(withRecipient.code).toBe(1);
    expect(withRecipient.stderr).toMatch(/--canary sends to health\.canary\.address: give no recipient/);
    const off = join(home, 'canary-off.json');
    const file = JSON.parse(readFileSync(join(ROOT, 'mail-archiver.config.json'), 'utf8'));
    writeFileSync(off, JSON.stringify({ ...file, health: { canary: { enabled: false } } }));
    const disabled = await cli(['--config', off, 'send-test', '--canary']);
    expect(disabled.code).toBe(1);
    expect(disabled.stderr).toMatch(/the canary is off: health\.canary\.enabled is false/);
    for (const run of [withRecipient, disabled]) expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(deadLetters()).toHaveLength(before);
  }, 120_000);

  it('--ping calls health.canary.pingUrl after an on-time round trip and says how it went; without it, never', async () => {
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.end('OK');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    const file = JSON.parse(readFileSync(join(ROOT, 'mail-archiver.config.json'), 'utf8'));
    const withPing = (pingUrl: string) => {
      const path = join(home, `ping-${paths.length}-${pingUrl.length}.json`);
      writeFileSync(path, JSON.stringify({ ...file, health: { canary: { pingUrl } } }));
      return path;
    };
    try {
      const reachable = withPing(`http://127.0.0.1:${port}/hc-uuid`);
      // A local round trip is no proof the deployed canary works: it pings only when asked to.
      expect((await cli(['--config', reachable, 'send-test', '--canary'])).code).toBe(0);
      expect(paths).toEqual([]);
      const pinged = await cli(['--config', reachable, 'send-test', '--canary', '--ping']);
      expect(pinged.code, pinged.stderr).toBe(0);
      expect(pinged.stdout).toMatch(/^ok\s+ping\s+called 127\.0\.0\.1:\d+ after the on-time round trip/m);
      expect(paths).toEqual(['/hc-uuid']);
      const json = JSON.parse(
        (await cli(['--config', reachable, '--json', 'send-test', '--canary', '--ping'])).stdout,
      );
      expect(json).toMatchObject({ status: 'ok', ping: 'ok' });
      // Unreachable: the canary line stays ok; the ping line fails with the reason, and the exit is 1.
      const closed = createServer();
      await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise((done) => closed.close(done));
      const unreachable = await cli([
        '--config',
        withPing(`http://127.0.0.1:${closedPort}/x`),
        'send-test',
        '--canary',
        '--ping',
      ]);
      expect(unreachable.code).toBe(1);
      expect(unreachable.stdout).toMatch(/^ok\s+canary\s/m);
      expect(unreachable.stdout).toMatch(/^fail\s+ping\s+ping 127\.0\.0\.1:\d+: .*ECONNREFUSED/m);
      // No ping URL configured: an error naming the field, nothing sent.
      const none = await cli(['send-test', '--canary', '--ping']);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/--ping needs health\.canary\.pingUrl/);
      expect(none.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise((done) => server.close(done));
    }
  }, 180_000);

  it('one health view: doctor and status show the same, in text and --json, from the local services', async () => {
    if (!stack) throw new Error('stack not running');
    await createTransport({
      host: stack.smtp.host,
      port: stack.smtp.port,
      secure: false,
      ignoreTLS: true,
    }).sendMail({
      from: 'a@sender.example.org',
      to: 'alice@example.com',
      subject: 'health view',
      text: 'hello\n',
    });
    // A canary before doctor's own; the view doctor prints shows doctor's own round trip, as status does after.
    expect((await cli(['send-test', '--canary'])).code).toBe(0);
    const reconcile = await cli(['reconcile']);
    expect(reconcile.code, reconcile.stdout + reconcile.stderr).toBe(0);
    // What the lock sweep looked at is said, the canaries it leaves to expire among them (review-lock 6).
    expect(reconcile.stdout).toMatch(
      /^object lock: [1-9]\d* versions examined, 0 locked by this sweep, [1-9]\d* canaries left unlocked to expire, 0 messages left with an unlocked version$/m,
    );
    const doctor = await cli(['--json', 'doctor']);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    const report = JSON.parse(doctor.stdout) as {
      checks: { name: string; status: string }[];
      health: unknown;
    };
    expect(report.checks).toContainEqual(expect.objectContaining({ name: 'last received', status: 'ok' }));
    const status = await cli(['--json', 'status']);
    expect(status.code, status.stderr).toBe(0);
    const { health } = JSON.parse(status.stdout) as { health: Record<string, unknown> };
    expect(health).toMatchObject({
      ingestDeadLetters: 0,
      parkedForwards: 0,
      lastReconcileOk: true,
      lastCleanReconcileAt: expect.stringMatching(/^\d{4}-/),
      lastReceivedAt: expect.stringMatching(/^\d{4}-/),
      canary: {
        state: 'ok',
        lastRoundTrip: { outcome: 'on-time', latencySeconds: expect.any(Number), failed: false },
      },
    });
    // Doctor made its canary round trip before it read the view: status, after it, reads the same.
    expect(report.health).toEqual(health);
    const text = await cli(['doctor']);
    expect(text.stdout).toMatch(/^health \(as mail-archiver status shows it\):$/m);
    for (const line of [
      /^ {2}last received: +\d{4}-/m,
      /^ {2}canary: +last round trip on-time after \d+\.\d s/m,
      /^ {2}last reconcile: +clean at /m,
      /^ {2}ingest dead letters: 0$/m,
      /^ {2}parked forwards: +0$/m,
    ])
      expect(text.stdout).toMatch(line);
  }, 180_000);

  it('with ingest stopped: exit 1, stored in S3 but not indexed, and redrive as the fix', async () => {
    if (!stack) throw new Error('stack not running');
    const archive = stack.archive;
    const deliver = archive.deliver;
    archive.deliver = async () => {
      throw new Error('ingest stopped by the test');
    };
    try {
      const run = await cli(['send-test', '--canary']);
      expect(run.code, run.stderr).toBe(1);
      expect(run.stdout).toMatch(
        /^fail\s+canary\s+canary canary-\S+ sent .*stored in S3 at .*, but not indexed within/m,
      );
      expect(run.stdout).toMatch(/fix: ingest failed or stopped: .*mail-archiver redrive/);
      const json = JSON.parse((await cli(['--json', 'send-test', '--canary'])).stdout);
      expect(json).toMatchObject({
        status: 'fail',
        trail: { storedAt: expect.any(String) },
        verdict: { outcome: 'not-indexed' },
      });
      expect(json.trail).not.toHaveProperty('indexedAt');
    } finally {
      archive.deliver = deliver;
    }
    // Both canaries wait in the dead letters, stored like SES stores them.
    expect(deadLetters().length).toBeGreaterThanOrEqual(2);
  }, 180_000);
});
