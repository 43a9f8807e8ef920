// The bundle manifest (`manifest.json` in every bundle): its one definition, what the exporter writes and the
// verifier, the join and the restorer read back. Checked with zod (as the config is) before anything reads a
// field of it: a bundle from elsewhere may hold any JSON at all. Unknown fields are allowed (and dropped), so that
// a newer exporter's bundle still verifies on an older tool.
import { z } from 'zod';
import { errorMessage } from '../errors';

/** Thrown when manifest.json is not JSON or not a manifest; the message names every bad field by its path. */
export class BundleManifestError extends Error {
  override name = 'BundleManifestError';
}

const count = z.number().int().min(0);
const uid = z.number().int().min(1).max(0xffffffff);
const timestamp = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a date');

export const bundleFormatSchema = z.enum(['maildir', 'mboxrd']);
export type BundleFormat = z.output<typeof bundleFormatSchema>;

const manifestMessage = z.object({
  folder: z.string().min(1),
  uid,
  /** Path inside the bundle. */
  file: z.string().min(1),
  /** sha256 (hex) and size in bytes of the original bytes, as archived. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'not a lower-case hex sha256'),
  size: count,
  /** crlf-to-lf: the file is the original with every CRLF written as LF; as-is: the file is the original. */
  storage: z.enum(['crlf-to-lf', 'as-is', 'mboxrd']),
  /** ISO 8601 UTC: the IMAP INTERNALDATE. */
  receivedAt: timestamp,
  flags: z.array(z.string()),
  /** Dovecot serves NUL as 0x80: such messages cannot come back byte-identical over IMAP. */
  nul: z.boolean().optional(),
});

const manifestFolder = z.object({
  name: z.string().min(1),
  directory: z.string().min(1),
  /** Epoch seconds of the folder's first use. */
  uidValidity: uid,
  nextUid: uid,
  messages: count,
});

export const bundleManifestSchema = z.object({
  format: z.literal('mail-archiver-bundle'),
  version: z.literal(1),
  bundleFormat: bundleFormatSchema,
  mailbox: z.string().min(1),
  /** ISO 8601 UTC. */
  createdAt: timestamp,
  incremental: z.boolean(),
  /** Incremental: the UIDs, per folder, this bundle starts after. */
  after: z.record(z.string(), count).optional(),
  /** One part of a split export: the messages at positions i mod count = index in UID order. */
  part: z.object({ index: count, count: z.number().int().min(1) }).optional(),
  folders: z.array(manifestFolder),
  messages: z.array(manifestMessage),
});

export type BundleManifest = z.output<typeof bundleManifestSchema>;
export type ManifestMessage = BundleManifest['messages'][number];

/** Issues listed in an error; the rest are counted. */
const MAX_LISTED = 10;

/** Parses manifest.json text. Throws BundleManifestError naming each bad field (`messages.3.uid: ...`). */
export function parseBundleManifest(text: string): BundleManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new BundleManifestError(`manifest.json is not valid JSON: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  const result = bundleManifestSchema.safeParse(raw);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const listed = issues.slice(0, MAX_LISTED).map((issue) => {
    const path = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
    return `manifest.json ${path}: ${issue.message}`;
  });
  if (issues.length > MAX_LISTED) listed.push(`(${issues.length - MAX_LISTED} more problems)`);
  throw new BundleManifestError(listed.join('\n'), { cause: result.error });
}
