// APPEND of one bundle message to its target folder, with its flags and INTERNALDATE (RFC 3501 6.3.11); the
// server's APPENDUID (RFC 4315) is recorded in the state file. A NO or BAD is that message's refusal.
import { EARLIEST_KEPT_SECS } from './altered';
import { inventory } from './inventory';
import type { FolderRun, Planned } from './plan';
import { refusalOf, type ServerRefusal } from './refusals';
import type { Session } from './session';
import type { StateFile } from './state-file';

/**
 * APPENDs one message (`imapBytes`: its bytes as IMAP carries them). After a disconnect during the APPEND, the
 * folder is looked at again first: the message may have landed without its answer reaching us, and is then found
 * by size and sha256 instead of appended twice. A message received before 1970 that the server refuses is
 * appended once more dated 1970-01-01T00:00:01Z (altered.ts EARLIEST_KEPT_SECS): Cyrus 3.6 answers such an INTERNALDATE with "NO Invalid
 * date-time", Courier 5.0 with "BAD Error in IMAP command", and the mail matters more than its received date
 * (verification then names the date the server keeps). Returns the server's refusal when it refused the message;
 * throws what the session throws (unreachable, login) otherwise.
 */
export async function appendOne(
  session: Session,
  run: FolderRun,
  planned: Planned,
  imapBytes: Buffer,
  state: StateFile,
): Promise<{ refused?: ServerRefusal }> {
  const received = new Date(planned.internalDateSecs * 1000);
  const first = await appendDated(session, run, planned, imapBytes, state, received);
  if (!first.refused || planned.internalDateSecs >= 0 || first.refused.reason !== 'rejected') return first;
  session.log?.(
    `${run.name} UID ${planned.message.uid}: the server refuses the received date ${received.toISOString()} (${first.refused.serverText}); appending it dated ${EARLIEST.toISOString()}`,
  );
  return appendDated(session, run, planned, imapBytes, state, EARLIEST);
}

const EARLIEST = new Date(EARLIEST_KEPT_SECS * 1000);

async function appendDated(
  session: Session,
  run: FolderRun,
  planned: Planned,
  imapBytes: Buffer,
  state: StateFile,
  date: Date,
): Promise<{ refused?: ServerRefusal }> {
  let sent = false;
  try {
    const uid = await session.run(async (client, fresh) => {
      if (fresh && sent) {
        await inventory(session, run, state, false);
        if (planned.state === 'there') return planned.targetUid;
      }
      if (client.mailbox === false || client.mailbox?.path !== run.target) {
        const box = await client.mailboxOpen(run.target);
        run.uidValidity = box.uidValidity;
      }
      sent = true;
      const appended = await client.append(run.target, imapBytes, planned.flags, date);
      if (!appended) throw new Error('APPEND was not sent (the connection is not authenticated)');
      if (appended.uidValidity !== undefined) run.uidValidity = appended.uidValidity;
      return appended.uid;
    });
    planned.state = 'moved';
    planned.targetUid = uid;
    if (uid !== undefined) run.claimed.add(uid);
    await state.record(run, planned);
    return {};
  } catch (error) {
    const refused = refusalOf(error);
    if (!refused) throw error;
    planned.state = 'refused';
    return { refused };
  }
}
