// The `transparency` section of the config file (shared/config.ts): how often the log is sealed and who time-stamps
// its checkpoints. Every field's documentation is its `.describe()` or `.meta()` (scripts/config-docs.ts).
import { z } from 'zod';

/** `transparency`: the seal's schedule and the optional RFC 3161 timestamp authority (docs/transparency.md). */
export const transparencySchema = z
  .object({
    sealEveryHours: z
      .number()
      .int()
      .min(1)
      .max(24)
      .default(24)
      .describe(
        'How often the transparency log is sealed on AWS (a signed checkpoint of every delivery so far), in hours; an alarm fires after 26 hours without a seal.',
      ),
    timestampAuthority: z
      .url({ protocol: /^https?$/ })
      .optional()
      .meta({
        description:
          'The URL of an RFC 3161 timestamp authority: each new checkpoint is time-stamped by it, and the reply kept beside it.',
        'x-default-text': 'none: checkpoints are not time-stamped',
      }),
  })
  .strict();
