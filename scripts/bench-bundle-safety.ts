// `npm run bench` section "bundle safety", runnable on its own: npx tsx scripts/bench-bundle-safety.ts
// The manifest bomb of issue 12 (a 0.6 MB bundle holding a 600 MB manifest.json once drove `verify` to 1.39 GB):
// peak RSS of `verify` on it, measured in a fresh process, above that process's baseline. Also a 200 MB manifest
// that compresses less than 1000:1, so that the manifest cap (not the gzip ratio check) is what stops it.
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { verifyBundle } from '../shared/bundle/verify';

const MB = 1024 * 1024;
const ROOT = resolve(import.meta.dirname, '..');

export interface BundleSafetyRow {
  metric: string;
  value: number;
  unit: string;
  target?: string;
  met?: boolean;
}

/** Writes a bundle whose manifest.json is `megabytes` of `fill` (repeated), gzip level 9. */
async function writeBomb(path: string, megabytes: number, fill: (i: number) => Buffer): Promise<void> {
  const pack = tar.pack();
  const writing = pipeline(pack, createGzip({ level: 9 }), createWriteStream(path));
  await new Promise<void>((done, fail) => {
    const sink = pack.entry({ name: 'manifest.json', size: megabytes * MB, mode: 0o600 }, (e) =>
      e ? fail(e) : done(),
    );
    pipeline(
      Readable.from(
        (function* () {
          for (let i = 0; i < megabytes; i++) yield fill(i);
        })(),
      ),
      sink,
    ).catch(fail);
  });
  pack.finalize();
  await writing;
}

/** In a child: verify `bundle`, sampling RSS every millisecond. Prints one JSON line. */
async function measure(bundle: string) {
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 1);
  const started = performance.now();
  const report = await verifyBundle(createReadStream(bundle));
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  console.log(
    JSON.stringify({
      baselineMb: baseline / MB,
      peakAboveBaselineMb: (peak - baseline) / MB,
      seconds: (performance.now() - started) / 1000,
      rejected: !report.ok,
      reason: report.errors[0] ?? '',
    }),
  );
}

function child(bundle: string): {
  baselineMb: number;
  peakAboveBaselineMb: number;
  seconds: number;
  rejected: boolean;
  reason: string;
} {
  const output = execFileSync(
    process.execPath,
    ['--import', 'tsx', '--expose-gc', join(ROOT, 'scripts/bench-bundle-safety.ts'), 'measure', bundle],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    },
  );
  return JSON.parse(output.trim().split('\n').pop() as string);
}

/** The section's rows and notes; `work` is a scratch directory. */
export async function bundleSafetyBench(work: string): Promise<{ rows: BundleSafetyRow[]; notes: string[] }> {
  const rows: BundleSafetyRow[] = [];
  const notes: string[] = [];
  const bomb = join(work, 'manifest-bomb.tar.gz');
  const spaces = Buffer.alloc(MB, 0x20);
  await writeBomb(bomb, 600, () => spaces);
  const issue = child(bomb);
  rows.push({
    metric: `verify peak RSS above baseline, ${(statSync(bomb).size / MB).toFixed(2)} MB bundle holding a 600 MB manifest`,
    value: issue.peakAboveBaselineMb,
    unit: 'MB',
    target: '<= 64 MB, rejected',
    met: issue.peakAboveBaselineMb <= 64 && issue.rejected,
  });
  notes.push(
    `Manifest bomb (600 MB of spaces): rejected in ${issue.seconds.toFixed(2)} s: ${issue.reason} (issue 12 measured 1.39 GB before the limits).`,
  );
  // Less compressible: JSON-looking lines with a counter, about 60:1, so the manifest cap stops it.
  const lines = join(work, 'manifest-200mb.tar.gz');
  await writeBomb(lines, 200, (i) => {
    let text = '';
    for (let j = 0; text.length < MB; j++)
      text += `{"uid":${String(i * 20_000 + j).padStart(10, '0')},"x":"${'y'.repeat(37)}"},\n`;
    return Buffer.from(text.slice(0, MB));
  });
  const capped = child(lines);
  rows.push({
    metric: `verify peak RSS above baseline, ${(statSync(lines).size / MB).toFixed(1)} MB bundle holding a 200 MB manifest`,
    value: capped.peakAboveBaselineMb,
    unit: 'MB',
    target: '<= 64 MB, rejected',
    met: capped.peakAboveBaselineMb <= 64 && capped.rejected,
  });
  notes.push(`200 MB manifest: rejected in ${capped.seconds.toFixed(2)} s: ${capped.reason}`);
  return { rows, notes };
}

const [what, arg] = process.argv.slice(2);
if (what === 'measure' && arg) {
  await measure(arg);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const work = mkdtempSync(join(tmpdir(), 'mail-archiver-bench-bundle-'));
  try {
    console.log('Bundle safety (verify on hostile bundles, each in a fresh process)');
    const { rows, notes } = await bundleSafetyBench(work);
    for (const row of rows)
      console.log(
        `  ${row.metric}: ${row.value.toFixed(1)} ${row.unit}  target ${row.target}: ${row.met ? 'MET' : 'NOT MET'}`,
      );
    for (const note of notes) console.log(`  - ${note}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
