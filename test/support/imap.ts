// Reading a served bundle back with a real IMAP client.
import { ImapFlow } from 'imapflow';
import type { DovecotServer } from '../../cli/local/dovecot';

/** What IMAP can carry: Dovecot serves every bare LF as CRLF and NUL as 0x80. */
export function asServedByDovecot(original: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < original.length; i++) {
    const b = original[i] as number;
    if (b === 10 && original[i - 1] !== 13) out.push(13);
    out.push(b === 0 ? 0x80 : b);
  }
  return Buffer.from(out);
}

export interface Served {
  folders: { path: string; flags: string[]; specialUse?: string }[];
  byFolder: Map<
    string,
    { uidValidity: number; messages: { uid: number; internalDate: Date; flags: string[]; source: Buffer }[] }
  >;
}

/** A new IMAP client for a server on loopback (plain text, password login, no logging), not yet connected. */
export function imapClientFor(server: Pick<DovecotServer, 'host' | 'port' | 'user' | 'password'>): ImapFlow {
  return new ImapFlow({
    host: server.host,
    port: server.port,
    secure: false,
    auth: { user: server.user, pass: server.password },
    logger: false,
  });
}

export async function readOverImap(server: DovecotServer): Promise<Served> {
  const client = imapClientFor(server);
  await client.connect();
  try {
    const list = await client.list();
    const byFolder: Served['byFolder'] = new Map();
    for (const folder of list) {
      const mailbox = await client.mailboxOpen(folder.path, { readOnly: true });
      const messages = [];
      if (mailbox.exists > 0) {
        for await (const m of client.fetch('1:*', {
          uid: true,
          internalDate: true,
          flags: true,
          source: true,
        })) {
          messages.push({
            uid: m.uid,
            internalDate: m.internalDate as Date,
            flags: [...(m.flags ?? [])].sort(),
            source: m.source as Buffer,
          });
        }
      }
      byFolder.set(folder.path, { uidValidity: Number(mailbox.uidValidity), messages });
    }
    return { folders: list.map((f) => ({ path: f.path, flags: [...f.flags] })), byFolder };
  } finally {
    await client.logout();
  }
}
