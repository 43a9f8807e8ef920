// `npm run bench` section "restore", runnable on its own: npx tsx scripts/bench-restore.ts
// A bundle of SpamAssassin messages (built by the exporter from an in-memory archive) restored into a real Dovecot
// on loopback: the first run (APPEND, then every message fetched back and compared), a re-run with the state file,
// a re-run without it (the server checked by size and sha256), and, as the baseline, a bare imapflow APPEND loop
// of the same bytes with no checks at all.
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type DovecotServer, startDovecot } from '../cli/local/dovecot';
import { MemoryMailIndex } from '../shared/adapters/memory-index';
import { archiveReceivedMail } from '../shared/archive/ingest';
import { exportMailbox } from '../shared/bundle/export';
import { loadConfig } from '../shared/config';
import { rawMailKey } from '../shared/index/schema';
import { toImapLineEndings } from '../shared/mail/lines';
import { buildReceivedNotification } from '../shared/receiving/ses-notification';
import { restoreBundle } from '../shared/restore/restore';
import { imapClientFor } from '../test/support/imap';
import { spamAssassinFiles } from '../test/support/spam-assassin';
import { memoryStore } from './bench-support';

const MB = 1024 * 1024;
const ROOT = resolve(import.meta.dirname, '..');

export interface RestoreBenchRow {
  metric: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number };
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

async function target(work: string, name: string): Promise<DovecotServer> {
  const maildir = join(work, name, 'Maildir');
  mkdirSync(maildir, { recursive: true });
  // No fsync per APPEND: this measures the client's side, not this machine's (shared) disk.
  return startDovecot({ maildir, workDir: join(work, name, 'dovecot'), extraConfig: 'mail_fsync = never\n' });
}

const clientFor = (server: DovecotServer) => () => imapClientFor(server);

export async function restoreBench(
  work: string,
  count = Number(process.env.BENCH_RESTORE_MESSAGES ?? 2000),
): Promise<{ rows: RestoreBenchRow[]; notes: string[] }> {
  mkdirSync(work, { recursive: true });
  const config = loadConfig(join(ROOT, 'mail-archiver.config.json'));
  const mailbox = Object.keys(config.mailboxes)[0] ?? 'alice@example.com';
  const files = spamAssassinFiles().slice(0, count);
  const objects = new Map<string, Buffer>();
  const store = memoryStore(objects);
  const index = new MemoryMailIndex();
  let bytes = 0;
  for (const [i, file] of files.entries()) {
    const raw = readFileSync(file);
    bytes += toImapLineEndings(raw).length;
    const id = `restore${i}`;
    objects.set(rawMailKey(id), raw);
    await archiveReceivedMail(
      buildReceivedNotification({
        messageId: id,
        timestamp: new Date(Date.parse('2024-01-01T00:00:00Z') + i * 60_000),
        source: 'sender@example.org',
        recipients: [mailbox],
        bucket: 'raw',
        objectKey: rawMailKey(id),
        verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
      }),
      { config, store, index },
    );
  }
  const bundle = join(work, 'bundle.tar.gz');
  await exportMailbox({ index, store }, { mailbox, format: 'maildir' }, createWriteStream(bundle));

  const rows: RestoreBenchRow[] = [];
  const notes: string[] = [];
  const mb = bytes / MB;
  const baselineServer = await target(work, 'baseline');
  const server = await target(work, 'restore');
  try {
    // Baseline: the same bytes appended one after another, nothing read back, nothing checked.
    const client = clientFor(baselineServer)();
    await client.connect();
    // Selected, as restore does: Dovecot opens and closes a mailbox that is not, for every APPEND (half the rate).
    await client.mailboxOpen('INBOX');
    const start = process.hrtime.bigint();
    for (const file of files) await client.append('INBOX', toImapLineEndings(readFileSync(file)), ['\\Seen']);
    const bare = seconds(start);
    await client.logout();

    const options = {
      source: { kind: 'file' as const, path: bundle },
      newClient: clientFor(server),
      statePath: join(work, 'state.jsonl'),
    };
    let t = process.hrtime.bigint();
    const first = await restoreBundle(options);
    const full = seconds(t);
    if (first.verified !== files.length)
      throw new Error(`restore verified ${first.verified} of ${files.length}`);
    t = process.hrtime.bigint();
    const again = await restoreBundle(options);
    const rerun = seconds(t);
    t = process.hrtime.bigint();
    const stateless = await restoreBundle({ ...options, statePath: join(work, 'no-state.jsonl') });
    const unknown = seconds(t);
    if (again.moved + stateless.moved !== 0) throw new Error('a re-run appended messages');
    rows.push(
      {
        metric: `restore ${files.length} messages (${mb.toFixed(1)} MB), appended and verified`,
        value: files.length / full,
        unit: 'msg/s',
        baseline: { name: 'bare APPEND loop, no checks', value: files.length / bare },
      },
      { metric: 'restore throughput', value: mb / full, unit: 'MB/s' },
      { metric: 're-run with the state file (appends nothing, verifies all)', value: rerun, unit: 's' },
      { metric: 're-run without state (size + sha256 check on the server)', value: unknown, unit: 's' },
    );
    notes.push(
      `restore: ${files.length} SpamAssassin messages into Dovecot (mail_fsync = never) in ${full.toFixed(1)} s, against ${bare.toFixed(1)} s for a bare APPEND loop; restore also reads the bundle twice, writes its state file and fetches every message back`,
    );
  } finally {
    await baselineServer.stop();
    await server.stop();
  }
  return { rows, notes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const work = mkdtempSync(join(tmpdir(), 'mail-archiver-bench-restore-'));
  try {
    const { rows, notes } = await restoreBench(work);
    for (const row of rows)
      console.log(
        `  ${row.metric}: ${row.value.toFixed(2)} ${row.unit}${row.baseline ? `  (baseline ${row.baseline.name}: ${row.baseline.value.toFixed(2)} ${row.unit})` : ''}`,
      );
    for (const note of notes) console.log(`  - ${note}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
