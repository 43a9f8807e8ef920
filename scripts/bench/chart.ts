// The benchmark's chart: every row that has a baseline, ours in blue and the baseline in grey, as an SVG (and a
// PNG through resvg). Drawn by `npm run bench` at the end of a run and by scripts/bench-docs.ts from results.json.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../../shared/errors';
import type { BenchRow } from './row';

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

/** The chart of `rows` with a baseline, as SVG text (860 px wide, 54 px a row). */
export function chartSvg(rows: readonly BenchRow[]): string {
  const bars = rows.filter((r) => r.baseline);
  const width = 860;
  const rowHeight = 54;
  const height = 40 + bars.length * rowHeight;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = bars.map((r, i) => {
    const max = Math.max(r.value, r.baseline?.value ?? 0) || 1;
    const y = 40 + i * rowHeight;
    const w = (v: number) => Math.max(1, (v / max) * 420);
    return `<text x="10" y="${y + 14}" font-size="13" font-family="DejaVu Sans">${esc(r.metric)}</text>
<rect x="10" y="${y + 20}" width="${w(r.value)}" height="12" fill="#2a7ab0"/><text x="${w(r.value) + 16}" y="${y + 31}" font-size="11" font-family="DejaVu Sans">${fmt(r.value)} ${r.unit} (ours)</text>
<rect x="10" y="${y + 34}" width="${w(r.baseline?.value ?? 0)}" height="12" fill="#b0b0b0"/><text x="${w(r.baseline?.value ?? 0) + 16}" y="${y + 45}" font-size="11" font-family="DejaVu Sans">${fmt(r.baseline?.value ?? 0)} ${r.unit} (${esc(r.baseline?.name ?? '')})</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/><text x="10" y="24" font-size="16" font-family="DejaVu Sans" font-weight="bold">mail-archiver benchmark (ours in blue, baseline in grey)</text>${parts.join('\n')}</svg>`;
}

/**
 * Writes DIR/chart.svg and DIR/chart.png; returns what went wrong with the PNG (resvg missing or failing), if
 * anything: the SVG is written either way.
 */
export async function writeChart(dir: string, rows: readonly BenchRow[]): Promise<string | undefined> {
  const svg = chartSvg(rows);
  writeFileSync(join(dir, 'chart.svg'), svg);
  try {
    const { Resvg } = await import('@resvg/resvg-js');
    writeFileSync(
      join(dir, 'chart.png'),
      new Resvg(svg, { font: { loadSystemFonts: true } }).render().asPng(),
    );
    return undefined;
  } catch (error) {
    return errorMessage(error);
  }
}
