// APPEND of one bundle message to its target folder, with its flags and INTERNALDATE (RFC 3501 6.3.11); the
// server's APPENDUID (RFC 4315) is recorded in the state file. A NO or BAD is that message's refusal.
import { inventory } from './inventory';
import type { FolderRun, Planned } from './plan';
import { refusalOf } from './refusals';
import type { Refusal } from './report';
import type { Session } from './session';
import type { StateFile } from './state-file';

/**
 * APPENDs one message (`imapBytes`: its bytes as IMAP carries them). After a disconnect during the APPEND, the
 * folder is looked at again first: the message may have landed without its answer reaching us, and is then found
 * by size and sha256 instead of appended twice. Returns the refusal when the server refused it; throws what
 * the session throws (unreachable, login) otherwise.
 */
export async function appendOne(
  session: Session,
  run: FolderRun,
  planned: Planned,
  imapBytes: Buffer,
  state: StateFile,
): Promise<{ refusal?: Refusal }> {
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
      const appended = await client.append(
        run.target,
        imapBytes,
        planned.flags,
        new Date(planned.internalDateSecs * 1000),
      );
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
    return {
      refusal: {
        folder: run.name,
        uid: planned.message.uid,
        sha256: planned.message.sha256,
        size: planned.imapSize,
        ...refused,
      },
    };
  }
}
