// The error convention, in one place. Every error class of ours ends in `Error`, sets `name`, and passes
// `{ cause }` when it wraps another error (as Powertools' idempotency errors do). A `catch` receives `unknown`:
// these read it without casting, since a library may throw a string or a plain object.

/** The message of whatever was thrown: an Error's message, else its string form. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Whatever was thrown, as an Error (wrapped, with the original as its cause, when it is not one). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error), { cause: error });
}

/** The `name` of an Error (the SDK's exception names: `ConditionalCheckFailedException`), else undefined. */
export function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}
