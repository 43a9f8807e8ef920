// The config's documentation is generated from its schema (scripts/config-docs.ts): this fails when the JSON
// Schema or the table in docs/configuration.md no longer match shared/config.ts (run `npm run config-docs`), and checks that the
// shipped example config names the schema and passes it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_DOC,
  configJsonSchema,
  ROOT,
  SCHEMA_FILE,
  withConfigTable,
} from '../../../scripts/config-docs';
import { loadConfig } from '../../../shared/config';

describe('the config documentation', () => {
  it('the JSON Schema and the table in docs/configuration.md are what the schema generates', () => {
    expect(readFileSync(join(ROOT, SCHEMA_FILE), 'utf8')).toBe(configJsonSchema());
    const doc = readFileSync(join(ROOT, CONFIG_DOC), 'utf8');
    expect(doc).toBe(withConfigTable(doc));
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
