// The bundle manifest (`manifest.json` in every bundle): what the exporter writes and the verifier and the join
// read back. The schema is the one definition; a manifest read from a bundle is parsed with it, never cast.
import { z } from 'zod';

export const bundleFormatSchema = z.enum(['maildir', 'mboxrd']);
export type BundleFormat = z.output<typeof bundleFormatSchema>;

const uidsByFolder = z.record(z.string(), z.number().int().nonnegative());

export const manifestMessageSchema = z
  .object({
    folder: z.string(),
    uid: z.number().int().positive(),
    /** Path inside the bundle. */
    file: z.string(),
    /** sha256 (hex) and size in bytes of the original bytes (as archived). */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    size: z.number().int().nonnegative(),
    /** crlf-to-lf: the file is the original with every CRLF written as LF; as-is: the file is the original. */
    storage: z.enum(['crlf-to-lf', 'as-is', 'mboxrd']),
    /** ISO 8601 UTC: the IMAP INTERNALDATE. */
    receivedAt: z.string(),
    flags: z.array(z.string()),
    /** Dovecot serves NUL as 0x80: such messages cannot come back byte-identical over IMAP. */
    nul: z.literal(true).optional(),
  })
  .strict();
export type ManifestMessage = z.output<typeof manifestMessageSchema>;

export const bundleManifestSchema = z
  .object({
    format: z.literal('mail-archiver-bundle'),
    version: z.literal(1),
    bundleFormat: bundleFormatSchema,
    mailbox: z.string(),
    /** ISO 8601 UTC. */
    createdAt: z.string(),
    incremental: z.boolean(),
    /** Incremental: the UIDs, per folder, this bundle starts after. */
    after: uidsByFolder.optional(),
    /** One part of a split export: the messages at positions i mod count = index in UID order. */
    part: z
      .object({ index: z.number().int().nonnegative(), count: z.number().int().positive() })
      .strict()
      .optional(),
    folders: z.array(
      z
        .object({
          name: z.string(),
          directory: z.string(),
          /** Epoch seconds of the folder's first use. */
          uidValidity: z.number().int().positive(),
          nextUid: z.number().int().positive(),
          messages: z.number().int().nonnegative(),
        })
        .strict(),
    ),
    messages: z.array(manifestMessageSchema),
  })
  .strict();
export type BundleManifest = z.output<typeof bundleManifestSchema>;

/** Thrown when a bundle's manifest.json is not JSON or not a manifest; the message names the bad fields. */
export class ManifestError extends Error {
  override name = 'ManifestError';
}

/** Parses manifest.json's text; throws ManifestError. */
export function parseManifest(text: string): BundleManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`manifest.json is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const result = bundleManifestSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.map(String).join('.') || '(top level)'}: ${issue.message}`);
  throw new ManifestError(`manifest.json is not a bundle manifest: ${problems.join('; ')}`);
}
