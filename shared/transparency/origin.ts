// The log's identity (its checkpoint origin and its key's name, C2SP tlog-checkpoint): a schema-less URL
// (`<first domain>/mail-archiver/<stack name>`), as the spec recommends; the local stack's log has its own,
// with a `/local` suffix, since it is another log with another key.
import type { ArchiverConfig } from '../config';

export function logOrigin(
  config: Pick<ArchiverConfig, 'domains' | 'stackName'>,
  target: 'local' | 'aws',
): string {
  const origin = `${config.domains[0]}/mail-archiver/${config.stackName}`;
  return target === 'local' ? `${origin}/local` : origin;
}
