// One row of `npm run bench`'s table: a figure, its unit, and the baseline from the same run or the target it is
// judged against (met or not). Every section's rows have this shape; bench.ts adds the section's name.
export interface BenchRow {
  metric: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number };
  target?: string;
  met?: boolean;
}
