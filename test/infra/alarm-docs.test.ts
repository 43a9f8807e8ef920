// The alarm table of docs/operations.md against the synthesized template: a row (what it means, what to do) for
// every alarm the stack creates with the default config and with every optional feature on (Gmail API targets
// collecting Sent mail, a replica, the silence alarm), none for an alarm no template has; and the cost table's
// alarm counts are the template's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ArchiverConfig } from '../../shared/config';
import { exampleConfig } from '../support/config';
import { synthesize, testEnv } from './synth';

const STACK = 'TestArchiver';
const doc = readFileSync(join(__dirname, '../../docs/operations.md'), 'utf8');

/** The Ids of the template's alarms: every alarm is named `<stack name>-<Id>` (cdk/constructs/operator-alarms.ts). */
function alarmIds(config: ArchiverConfig): string[] {
  const alarms = synthesize(config, { stackName: STACK }).template.findResources('AWS::CloudWatch::Alarm');
  return Object.values(alarms)
    .map((alarm) => {
      const name = (alarm.Properties as { AlarmName?: unknown }).AlarmName;
      if (typeof name !== 'string' || !name.startsWith(`${STACK}-`))
        throw new Error(`an alarm not named ${STACK}-<Id>: ${JSON.stringify(name)}`);
      return name.slice(STACK.length + 1);
    })
    .sort();
}

const gmailTarget = (collectSent: boolean) => ({
  mailboxes: {
    'alice@example.com': {
      forwardTo: [{ address: 'alice.example@gmail.com', via: 'gmail-api', collectSent }],
    },
    'bob@example.com': { forwardTo: [] },
  },
});

const configs = {
  default: exampleConfig(),
  canaryOff: exampleConfig({ health: { canary: { enabled: false } } }),
  gmail: exampleConfig(gmailTarget(false)),
  everything: exampleConfig({
    ...gmailTarget(true),
    health: { silenceAlarmHours: 48 },
    archive: { replica: { account: '222222222222', region: 'eu-west-1', sourceAccount: testEnv.account } },
  }),
};

/** The rows of the alarm table: Id, what it means, what to do. */
function tableRows(): { id: string; means: string; todo: string }[] {
  const table = doc.slice(doc.indexOf('## Alarms: what each one means and what to do'));
  return [...table.matchAll(/^\| `(\w+)` \|(.*)\|(.*)\|$/gm)].map((m) => ({
    id: m[1] as string,
    means: (m[2] as string).trim(),
    todo: (m[3] as string).trim(),
  }));
}

/** The cost table's CloudWatch alarms row. */
const costRow = () => doc.split('\n').find((line) => line.startsWith('| CloudWatch alarms:')) ?? '';
const figure = (row: string, pattern: RegExp) => Number(row.match(pattern)?.[1] ?? Number.NaN);

describe('the alarms of the synthesized template and docs/operations.md', () => {
  const ids = Object.fromEntries(Object.entries(configs).map(([name, config]) => [name, alarmIds(config)]));
  const counts = Object.fromEntries(Object.entries(ids).map(([name, list]) => [name, list.length]));

  it('the alarm table has a row, saying what it means and what to do, for every alarm of every template', () => {
    const every = [...new Set(Object.values(ids).flat())].sort();
    expect(every).toEqual(expect.arrayContaining(['SilenceAlarm', 'SentCollectorHeartbeatAlarm']));
    const rows = tableRows();
    expect(
      every.filter((id) => !rows.some((r) => r.id === id)),
      'add a row for each of these to the alarm table in docs/operations.md',
    ).toEqual([]);
    expect(
      rows.filter((r) => !every.includes(r.id)).map((r) => r.id),
      'these rows name no alarm of any template',
    ).toEqual([]);
    expect(rows.map((r) => r.id)).toHaveLength(new Set(rows.map((r) => r.id)).size);
    for (const row of rows) {
      expect(row.means.length, `${row.id}: what it means`).toBeGreaterThan(10);
      expect(row.todo.length, `${row.id}: what to do`).toBeGreaterThan(5);
    }
  });

  it("the cost table counts the template's alarms: default, canary off, each option, all of them, and the price", () => {
    const row = costRow();
    expect(figure(row, /(\d+) standard alarms/), row).toBe(counts.default);
    expect(figure(row, /(\d+) with the canary off/), row).toBe(counts.canaryOff);
    expect(figure(row, /(\d+) more with a Gmail API target/), row).toBe(
      (counts.gmail ?? 0) - (counts.default ?? 0),
    );
    expect(figure(row, /(\d+) with all of them/), row).toBe(counts.everything);
    const more = [...row.matchAll(/(\d+) more (?:with|when)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(more, 'the options add up to all of them').toBe((counts.everything ?? 0) - (counts.default ?? 0));
    const price = (n: number | undefined) => ((n ?? 0) * 0.1).toFixed(2);
    expect(row.endsWith(`| $${price(counts.canaryOff)}-${price(counts.everything)} |`), row).toBe(true);
  });
});
