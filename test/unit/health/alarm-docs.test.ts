// One table of every alarm (docs/operations.md): each alarm the stack's constructs create has a row saying what it
// means and what to do, and the table names no alarm that is gone.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const constructs = join(__dirname, '../../../cdk/constructs');
// The OperatorAlarms helpers take the alarm's construct id first: alarm('Id', ...), alarmWhenAboveZero('Id', ...).
const ALARM_ID = /\balarm(?:WhenAboveZero|WhenSilent)?\(\s*'(\w+)'/g;

const alarmIds = () =>
  readdirSync(constructs)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) =>
      [...readFileSync(join(constructs, f), 'utf8').matchAll(ALARM_ID)].map((m) => m[1] as string),
    )
    .sort();

const documented = () => {
  const doc = readFileSync(join(__dirname, '../../../docs/operations.md'), 'utf8');
  const table = doc.slice(doc.indexOf('## Alarms: what each one means and what to do'));
  return [...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1] as string).sort();
};

describe('the alarm table of docs/operations.md', () => {
  it('has a row for every alarm the stack creates, and none for an alarm that is gone', () => {
    const ids = alarmIds();
    expect(ids.length).toBeGreaterThan(15);
    const rows = documented();
    expect(
      ids.filter((id) => !rows.includes(id)),
      'add a row for each of these to the alarm table in docs/operations.md',
    ).toEqual([]);
    expect(
      rows.filter((id) => !ids.includes(id)),
      'these rows name no alarm of the stack',
    ).toEqual([]);
  });
});
