// Terminal output shared by the commands: tables, sizes, a progress bar on a terminal only.

/** A progress bar on stderr when it is a terminal (never in CI); undefined otherwise. */
export async function progressBar(total: number, label: string) {
  if (!process.stderr.isTTY || process.env.CI) return undefined;
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar(
    { stream: process.stderr, format: `${label} [{bar}] {percentage}% | {counts}`, hideCursor: true },
    Presets.shades_classic,
  );
  bar.start(Math.max(total, 1), 0, { counts: '' });
  return bar;
}

/** Columns padded to their widest cell (at most 60 characters; longer cells are cut with an ellipsis). */
export function printTable(header: string[], rows: string[][]) {
  const width = (i: number) => Math.min(60, Math.max(...[header, ...rows].map((r) => (r[i] ?? '').length)));
  const widths = header.map((_, i) => width(i));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const w = widths[i] ?? 10;
        const cell = c.length > w ? `${c.slice(0, w - 1)}…` : c;
        return i === cells.length - 1 ? cell : cell.padEnd(w);
      })
      .join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

/** Bytes as B, KB or MB (1024-based), one decimal. */
export function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** JSON lines on stdout, one object per line. */
export function printJsonLines(items: Iterable<unknown>) {
  for (const item of items) process.stdout.write(`${JSON.stringify(item)}\n`);
}
