// The local SMTP listener stands in for SES receiving, so it keeps SES's documented limits (Amazon SES
// developer guide, "Service quotas in Amazon SES": 40 MB per message after MIME encoding, 50 recipients per
// message, neither adjustable), a cap on connected clients and idle time, and it spools every DATA to disk
// instead of holding unfinished transfers in memory. It is unauthenticated and without TLS: loopback only,
// or a warning.
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import { readFile, unlink } from 'node:fs/promises';
import { BlockList, isIP } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** SES: "Maximum message size (including attachments)": 40 MB per message (after base64 encoding). */
export const MAX_MESSAGE_BYTES = 40 * 1024 * 1024;
/** SES: "Maximum number of recipients per message": 50 ("To", "CC" or "BCC"), not adjustable. */
export const MAX_RECIPIENTS = 50;
/** Connected clients at once; the next one is answered 421 and closed (SES publishes no figure: ours). */
export const MAX_CLIENTS = 20;
/** A connection silent this long is closed (smtp-server's default is 60 s). */
export const IDLE_TIMEOUT_MS = 30_000;
/** Messages handed to ingest at once: each is read whole from its spool file (at most 40 MB). */
export const DELIVERY_CONCURRENCY = 2;

/** Thrown when a message passed MAX_MESSAGE_BYTES while it was spooled; the spool file is already gone. */
export class MessageTooLargeError extends Error {
  override name = 'MessageTooLargeError';
}

/**
 * Writes one DATA stream to a new file in `dir` (0700; the file 0600) as it arrives, so that an unfinished
 * transfer holds no memory. `sizeExceeded()` is smtp-server's own count against its `size` option: past it, the
 * rest is drained and discarded, the file removed and MessageTooLargeError thrown. Returns the file's path.
 */
export async function spoolMessage(
  data: Readable,
  dir: string,
  sizeExceeded: () => boolean,
): Promise<{ path: string; bytes: number }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${Date.now()}-${randomBytes(8).toString('hex')}.eml`);
  let bytes = 0;
  try {
    await pipeline(
      data,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          if (sizeExceeded()) continue;
          bytes += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(path, { mode: 0o600, flags: 'wx' }),
    );
  } catch (error) {
    await unlink(path).catch(() => undefined);
    throw error;
  }
  if (sizeExceeded()) {
    await unlink(path).catch(() => undefined);
    throw new MessageTooLargeError(`message over ${MAX_MESSAGE_BYTES} bytes`);
  }
  return { path, bytes };
}

/** Reads a spooled message and removes its file. */
export async function takeSpooled(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } finally {
    await unlink(path).catch(() => undefined);
  }
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** Whether `host` (an address or "localhost") is reachable from this machine only. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const mapped = host.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i)?.[1];
  const address = mapped ?? host;
  const family = isIP(address);
  if (family === 4) return loopback.check(address, 'ipv4');
  if (family === 6) return loopback.check(address, 'ipv6');
  return false;
}

/** The warning for a listener on `host` that others can reach, or undefined on loopback. */
export function smtpExposureWarning(host: string): string | undefined {
  if (isLoopback(host)) return undefined;
  return `WARNING: the SMTP listener on ${host} is reachable from other machines. It has no authentication and no TLS: anyone who reaches it can put mail into this archive, and what they send travels in clear text. Use --smtp-host 127.0.0.1 unless this network is yours alone.`;
}
