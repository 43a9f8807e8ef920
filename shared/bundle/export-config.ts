// The `export` section of the config file (shared/config.ts): whom bundles are encrypted to. Its documentation is
// the `.describe()` of each field, as in the rest of the schema (scripts/config-docs.ts).
import { z } from 'zod';
import { AGE_X25519_RECIPIENT } from './age-recipient';

/** `export.recipients`: age X25519 public keys (checked by shape here; by checksum where bundles are encrypted). */
export const exportSchema = z
  .object({
    recipients: z
      .array(
        z
          .string()
          .trim()
          .regex(
            AGE_X25519_RECIPIENT,
            'not an age X25519 recipient (age1 followed by 58 characters, as "mail-archiver keygen" prints)',
          ),
      )
      // Absent means plain bundles; an empty list is refused: it is most likely a list whose keys were removed and
      // not replaced, and plain bundles should be a choice. (Absent stays absent when parsed, so a parsed config
      // parses again.)
      .min(
        1,
        'empty: list at least one recipient (age1...), or remove export.recipients for plain .tar.gz bundles',
      )
      .optional()
      .describe(
        'age X25519 recipients (public keys, `age1...`) every export is encrypted to, as `NAME.tar.gz.age`; on AWS the export function encrypts with these and never holds a key that decrypts. Name two: a daily key and a paper key (`mail-archiver keygen`, see docs/keys.md); `doctor` warns about one. Absent: plain `.tar.gz` unless `export --encrypt-to` is given; an empty list is refused.',
      ),
  })
  .strict();
