// Reading back JSON we wrote ourselves (state files, reports, queue bodies), checked with its zod schema before
// any field is read: a file damaged by hand, cut short by a full disk or written by another version reads as an
// error that names the field, never as a value of the wrong shape. The one way a schema's issues are worded too.
import type { z } from 'zod';
import { errorMessage } from './errors';

/** `what` is not JSON, or not of its schema's shape; the message names each bad field by its path. */
export class JsonShapeError extends Error {
  override name = 'JsonShapeError';
}

/** Issues listed in a message; the rest are counted. */
const MAX_LISTED = 10;

/** One line per issue, `path: message` (`(top level)` for the value itself), at most `max`, then a count. */
export function issueLines(issues: readonly z.core.$ZodIssue[], max = MAX_LISTED): string[] {
  const lines = issues.slice(0, max).map((issue) => {
    const path = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
    return `${path}: ${issue.message}`;
  });
  if (issues.length > max) lines.push(`(${issues.length - max} more problems)`);
  return lines;
}

/**
 * Parses `text` as JSON and checks it against `schema`; returns the schema's output. Throws JsonShapeError naming
 * `what` (a path or key) when the text is not JSON or a field is wrong.
 */
export function parseJsonAs<S extends z.ZodType>(schema: S, text: string, what: string): z.output<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new JsonShapeError(`${what} is not JSON (${errorMessage(error)})`, { cause: error });
  }
  const result = schema.safeParse(raw);
  if (!result.success)
    throw new JsonShapeError(
      `${what} is not of its shape: ${issueLines(result.error.issues, 3).join('; ')}`,
      {
        cause: result.error,
      },
    );
  return result.data;
}
