// An archive's S3 that does not answer, said in the user's terms: which S3 (the running `npm start`'s, one started
// for the command, the deployed stack's bucket) and what to do, instead of a socket's "connect ECONNREFUSED
// 127.0.0.1:PORT". The exit status stays that of a failed command (1); no stack trace.
import { type NetworkFailure, networkFailure } from '../../shared/errors';
import { UserError } from '../process/output';
import type { S3Place } from './archive';

/** The S3 at `place`, as a line names it. */
export function describeS3Place(place: S3Place): string {
  switch (place.kind) {
    case 'local-stack':
      return `the local stack's S3 server at ${place.endpoint}`;
    case 'started':
      return `the S3 server started for this command at ${place.endpoint}`;
    case 'aws':
      return `S3 (the bucket ${place.bucket}${place.region ? ` in ${place.region}` : ''})`;
  }
}

/** A network failure in plain words. */
function failureText(failure: NetworkFailure): string {
  const host = failure.host ? ` ${failure.host}` : '';
  switch (failure.code) {
    case 'ECONNREFUSED':
      return `connection refused${host ? ` by${host}` : ''}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the name${host} does not resolve`;
    case 'ETIMEDOUT':
      return 'timed out';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return 'the connection was dropped';
    default:
      return `${failure.code}${host}`;
  }
}

/**
 * The UserError that says `place` is not answering, when `error` is a network failure (shared/errors.ts
 * networkFailure); undefined for any other error. `keeps` says what the command left as it was (sync: the
 * replica), for the hint.
 */
export function s3NotAnswering(error: unknown, place: S3Place, keeps: string): UserError | undefined {
  const failure = networkFailure(error);
  if (!failure) return undefined;
  const what = `${describeS3Place(place)} is not answering (${failureText(failure)})`;
  switch (place.kind) {
    case 'local-stack':
      return new UserError(`${what}: is \`npm start\` still running?`, {
        cause: error,
        hint: `stop npm start and start it again (mail-archiver doctor checks its services); ${keeps}`,
      });
    case 'started':
      return new UserError(`${what}: it stopped during the command`, {
        cause: error,
        hint: `run the command again; ${keeps}`,
      });
    case 'aws':
      return new UserError(`${what} from this machine`, {
        cause: error,
        hint: `check this machine's network (and HTTPS_PROXY, when one is needed); ${keeps}`,
      });
  }
}
