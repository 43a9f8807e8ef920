// The config's documentation is generated from its schema (scripts/config-docs.ts): this fails when the JSON
// Schema or the README's table no longer match shared/config.ts (run `npm run config-docs`), and checks that the
// shipped example config names the schema and passes it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, ROOT, readmeWithTable, SCHEMA_FILE } from '../../scripts/config-docs';
import { loadConfig } from '../../shared/config';

describe('the config documentation', () => {
  it('the JSON Schema and the README table are what the schema generates', () => {
    expect(readFileSync(join(ROOT, SCHEMA_FILE), 'utf8')).toBe(configJsonSchema());
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toBe(readmeWithTable(readme));
  });

  it('documents every field and names the defaults once', () => {
    const schema = JSON.parse(configJsonSchema()) as {
      properties: Record<
        string,
        { description?: string; properties?: Record<string, { description?: string }> }
      >;
    };
    const undocumented = Object.entries(schema.properties).flatMap(([name, field]) =>
      field.description
        ? []
        : Object.entries(field.properties ?? {})
            .filter(([, sub]) => !sub.description)
            .map(([sub]) => `${name}.${sub}`)
            .concat(field.properties ? [] : [name]),
    );
    expect(undocumented).toEqual([]);
    const config = loadConfig(join(ROOT, 'mail-archiver.config.json'));
    // The forwarding block is absent from the example: its fields' own defaults apply.
    expect(config.forwarding).toEqual({
      forwardSpam: false,
      forwardDmarcReject: false,
      bounceRateAlarm: 0.05,
    });
  });
});
