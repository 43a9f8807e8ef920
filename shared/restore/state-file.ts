// The restore state file: what earlier runs appended, so a run again (resumed, or a re-check) appends nothing twice.
import { existsSync } from 'node:fs';
import { type FileHandle, mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BundleManifest, ManifestMessage } from '../bundle/manifest';
import { errorMessage } from '../errors';
import { RestoreStateError } from './errors';
import type { FolderRun, Planned } from './plan';

const STATE_VERSION = 1;

/**
 * JSON Lines, one header line naming the bundle, then one line per message attributed on the target: bundle
 * folder, bundle UID, sha256, the target folder's UIDVALIDITY and the message's target UID
 * (`{"f":..,"u":..,"h":..,"v":"<uidvalidity>","t":<uid>}`). Appended after every APPEND; a torn last line (a killed
 * run) is ignored. An entry counts only while the folder's UIDVALIDITY is unchanged and the UID still exists;
 * otherwise the server check decides.
 */
export class StateFile {
  private readonly entries = new Map<string, { uidValidity: string; uid: number }>();
  private handle: FileHandle | undefined;

  /**
   * Reads the file at `path` if there is one; unless `dryRun`, opens it for appending (creating it and its
   * directory, mode 0600) and writes the header line into a new file.
   */
  static async open(path: string, manifest: BundleManifest, dryRun: boolean): Promise<StateFile> {
    const state = new StateFile();
    let text = '';
    if (existsSync(path)) {
      text = await readFile(path, 'utf8');
      for (const line of text.split('\n')) {
        try {
          const entry = JSON.parse(line) as { f?: string; u?: number; h?: string; v?: string; t?: number };
          if (entry.f !== undefined && entry.u !== undefined && entry.h && entry.v && entry.t)
            state.entries.set(StateFile.key(entry.f, entry.u, entry.h), {
              uidValidity: entry.v,
              uid: entry.t,
            });
        } catch {
          // a torn line from a run that was killed while writing
        }
      }
    }
    if (dryRun) return state;
    await mkdir(dirname(path), { recursive: true });
    state.handle = await open(path, 'a', 0o600);
    if (text === '')
      await state.handle.write(
        `${JSON.stringify({ version: STATE_VERSION, mailbox: manifest.mailbox, bundleCreatedAt: manifest.createdAt })}\n`,
      );
    else if (!text.endsWith('\n')) await state.handle.write('\n'); // end a torn line before adding to it
    return state;
  }

  /** Creates the file (and its directory) if missing and opens it for appending, or says why it cannot. */
  static async checkWritable(path: string): Promise<void> {
    try {
      if (!existsSync(dirname(path))) await mkdir(dirname(path), { recursive: true });
      const handle = await open(path, 'a', 0o600);
      await handle.close();
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new RestoreStateError(
        `cannot write the restore state file ${path} (${code ?? errorMessage(error)}): give a writable place with --state FILE`,
        { cause: error },
      );
    }
  }

  private static key(folder: string, uid: number, sha: string) {
    return `${folder}\u0000${uid}\u0000${sha}`;
  }

  /** The target UID recorded for this bundle message, if recorded under this UIDVALIDITY. */
  lookup(folder: string, message: ManifestMessage, uidValidity: bigint): number | undefined {
    const entry = this.entries.get(StateFile.key(folder, message.uid, message.sha256));
    return entry && entry.uidValidity === String(uidValidity) ? entry.uid : undefined;
  }

  /** Records where the message is on the target; nothing in a dry run or without a target UID or UIDVALIDITY. */
  async record(run: FolderRun, planned: Planned) {
    if (!this.handle || planned.targetUid === undefined || run.uidValidity === undefined) return;
    const key = StateFile.key(run.name, planned.message.uid, planned.message.sha256);
    const value = { uidValidity: String(run.uidValidity), uid: planned.targetUid };
    this.entries.set(key, value);
    await this.handle.write(
      `${JSON.stringify({ f: run.name, u: planned.message.uid, h: planned.message.sha256, v: value.uidValidity, t: value.uid })}\n`,
    );
  }

  async close() {
    await this.handle?.close();
    this.handle = undefined;
  }
}
