// The tables of docs/benchmarks.md from one `npm run bench`: `npx tsx scripts/bench-docs.ts [DIR]` reads
// DIR/results.json and DIR/scale.json (DIR defaults to .bench), prints the main table (every row, its baseline
// from the same run and its target) and the scale table as markdown, and draws DIR/chart.svg and chart.png again
// (docs/bench-chart.png is a copy), so the docs are copied from a run and never typed by hand. When
// DIR/results-cost.json is there (`BENCH_ONLY=cost npm run bench`), its requests and cost rows replace those of
// the whole run, and the table's first line names both runs.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeChart } from './bench/chart';
import type { BenchRow } from './bench/row';
import { type ScaleMeasure, scaleMarkdown } from './bench-scale';

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

/** One row of results.json: a BenchRow and the section bench.ts put it in. */
type ResultRow = BenchRow & { section: string };

/** The main table: `| section | measure | ours | baseline (same run) | target |`. */
export function resultsMarkdown(rows: readonly ResultRow[]): string {
  const lines = ['| section | measure | ours | baseline (same run) | target |', '|---|---|---|---|---|'];
  for (const row of rows) {
    const baseline = row.baseline ? `${fmt(row.baseline.value)} ${row.unit} (${row.baseline.name})` : '';
    const judged = row.target === undefined ? '' : `${row.target}: **${row.met ? 'met' : 'not met'}**`;
    lines.push(
      `| ${row.section} | ${row.metric} | ${fmt(row.value)} ${row.unit} | ${baseline} | ${judged} |`,
    );
  }
  return lines.join('\n');
}

interface Run {
  started: string;
  commit?: string;
  machine: string;
  rows: ResultRow[];
}

const readRun = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Run;

/** `rows` with its requests and cost rows replaced by `costRows`, where the first of them stood. */
export function withCostRows(rows: readonly ResultRow[], costRows: readonly ResultRow[]): ResultRow[] {
  const replaced = (r: ResultRow) => r.section === 'requests' || r.section === 'cost';
  const at = rows.findIndex(replaced);
  const kept = rows.filter((r) => !replaced(r));
  const position = at < 0 ? kept.length : rows.slice(0, at).filter((r) => !replaced(r)).length;
  return [...kept.slice(0, position), ...costRows, ...kept.slice(position)];
}

async function main(): Promise<void> {
  const dir = resolve(process.argv[2] ?? '.bench');
  const results = join(dir, 'results.json');
  if (!existsSync(results)) {
    console.error(`no ${results}: run npm run bench first (or name the directory that holds its results)`);
    process.exit(1);
  }
  const run = readRun(results);
  console.log(
    `<!-- npm run bench of ${run.commit ?? 'an unrecorded commit'} started ${run.started} (${run.machine}) -->`,
  );
  const costFile = join(dir, 'results-cost.json');
  if (existsSync(costFile)) {
    const cost = readRun(costFile);
    run.rows = withCostRows(run.rows, cost.rows);
    console.log(
      `<!-- requests and cost rows: BENCH_ONLY=cost npm run bench of ${cost.commit ?? 'an unrecorded commit'} started ${cost.started} (${cost.machine}) -->`,
    );
  }
  console.log(`\n${resultsMarkdown(run.rows)}`);
  const scale = join(dir, 'scale.json');
  if (existsSync(scale))
    console.log(`\n${scaleMarkdown(JSON.parse(readFileSync(scale, 'utf8')) as ScaleMeasure[])}`);
  const chartProblem = await writeChart(dir, run.rows);
  console.error(chartProblem ? `chart.png not written: ${chartProblem}` : `drew ${join(dir, 'chart.png')}`);
}

await main();
