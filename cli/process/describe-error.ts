// Every failure the CLI reports names its cause: an error's own message, then each cause under it (`cause`,
// the errors of an AggregateError, the per-record errors of Powertools' FullBatchFailureError, whose own
// message, "All records failed processing. See individual errors below.", says nothing by itself).

/** One line per error in the chain, each `Name: message`, causes indented under what they caused. */
export function describeError(error: unknown, depth = 0): string {
  if (depth > 8) return '';
  const indent = '  '.repeat(depth);
  if (!(error instanceof Error)) return `${indent}${String(error)}`;
  const name = error.name && error.name !== 'Error' ? `${error.name}: ` : '';
  const lines = [`${indent}${name}${error.message}`];
  const causes: unknown[] = [];
  const recordErrors = (error as { recordErrors?: unknown }).recordErrors;
  if (Array.isArray(recordErrors)) causes.push(...recordErrors);
  if (error instanceof AggregateError) causes.push(...error.errors);
  if (error.cause !== undefined && !causes.includes(error.cause)) causes.push(error.cause);
  const shown = new Set<string>();
  for (const cause of causes.slice(0, 20)) {
    const text = describeError(cause, depth + 1);
    if (text && !shown.has(text)) {
      shown.add(text);
      lines.push(text);
    }
  }
  if (causes.length > 20) lines.push(`${indent}  ... and ${causes.length - 20} more`);
  return lines.join('\n');
}

/** The deepest cause's message: what a one-line report (an import's failure list) shows after the summary. */
export function rootCause(error: unknown): string {
  let current: unknown = error;
  for (let i = 0; i < 8; i++) {
    const next =
      (current as { recordErrors?: unknown[] }).recordErrors?.[0] ??
      (current instanceof AggregateError ? current.errors[0] : undefined) ??
      (current as { cause?: unknown }).cause;
    if (next === undefined) break;
    // A wrapper that already quotes its cause says more than the cause ("envelopes/x.json is not JSON (Unexpected
    // token ...)" names the file; the SyntaxError under it does not).
    if (
      current !== error &&
      current instanceof Error &&
      next instanceof Error &&
      current.message.includes(next.message)
    )
      break;
    current = next;
  }
  return current instanceof Error ? `${current.name}: ${current.message}` : String(current);
}
