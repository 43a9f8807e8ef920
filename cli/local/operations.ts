// The local stack's side of cli/target/operations.ts: redrive right here (ingest and forwarding run in this
// process against the local services), a seal signed with the data directory's key file, and exports built in this
// process into the part files.
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { httpTimestampAuthority } from '../../shared/adapters/tsa-client';
import { runExportJob } from '../../shared/bundle/export-job';
import type { ArchiverConfig } from '../../shared/config';
import { errorMessage } from '../../shared/errors';
import type { ForwardEntry, ForwardRequest } from '../../shared/forwarding/ledger';
import { ledgerRedrives, uniqueRequests } from '../../shared/forwarding/redrive';
import { deliveryLogSource } from '../../shared/transparency/leaf';
import { formatVerifierKey } from '../../shared/transparency/note';
import { seal } from '../../shared/transparency/seal';
import { witnessMessage } from '../../shared/transparency/witness';
import { describeError } from '../process/describe-error';
import type { Archive, WithArchive } from '../target/archive';
import { privateBundleStream } from '../target/bundle-file';
import { knownMailbox } from '../target/mailboxes';
import type { RedriveReport, TargetOperations } from '../target/operations';
import { localIngestDeadLetters } from './dead-letters';
import { ParkedForwards } from './forwarding';
import { openLocalLogSigner } from './log-signing-key';
import { archiverHome } from './running-stack';
import { mailCheckpointLocally } from './witness-mail';

const parkedForwards = (home: string) => new ParkedForwards(join(home, 'forward-dead-letters'));

export function localOperations(withArchive: WithArchive): TargetOperations {
  return {
    redrivePlan: () =>
      withArchive(async (archive, config) => {
        const home = archiverHome();
        return {
          parked: parkedForwards(home)
            .list()
            .map((p) => p.request),
          ledger: await ledgerRedrives(archive.index, Object.keys(config.mailboxes), new Date(), []),
          unreadable: [...localIngestDeadLetters(home).unreadable(), ...parkedForwards(home).unreadable()],
        };
      }),
    redrive: () =>
      withArchive(
        async (archive, config): Promise<RedriveReport> => {
          const home = archiverHome();
          // First the messages stored but never indexed: their forwards are queued as they are archived.
          const ingest = await localIngestDeadLetters(home).redrive((n) => archive.deliver(n), describeError);
          return {
            ingest: `${ingest.redriven} archived, ${ingest.failed.length} still failing`,
            ingestFailures: ingest.failed.map((f) => `${f.id}: ${f.reason}`),
            forwards: await redriveForwards(archive, config, home),
          };
        },
        { forwarding: true },
      ),
    seal: (notes) =>
      withArchive(async (archive, config) => {
        const { signer, created, path } = await openLocalLogSigner(archiverHome(), config);
        if (created) notes.info(`made the local log's signing key ${path} (mode 0600)`);
        const tsa = config.transparency.timestampAuthority;
        const report = await seal({
          store: archive.transparency,
          signer,
          source: deliveryLogSource(archive.deliveryLog),
          ...(tsa ? { timestampAuthority: httpTimestampAuthority(tsa) } : {}),
        });
        const key = formatVerifierKey(signer.verifier);
        // The witness: a checkpoint that grew the tree is mailed to the alarm address (as on AWS).
        let witnessedTo: string | undefined;
        if (report.size !== report.previousSize) {
          try {
            witnessedTo = await mailCheckpointLocally(archiverHome(), config, witnessMessage(report, key));
          } catch (error) {
            notes.warn(`the checkpoint could not be mailed to ${config.alarmEmail}: ${errorMessage(error)}`);
          }
        }
        return { ...report, key, ...(witnessedTo ? { witnessedTo } : {}) };
      }),
    exportBundle: (build, partPath, onProgress, signal) =>
      withArchive(async (archive, config) => {
        // The mailbox as the archive names it: a mailbox kept only in the index may be typed in either spelling.
        const mailbox = await knownMailbox(build.mailbox, config, archive.index);
        const streams = new Set<Writable>();
        const stop = () => {
          for (const stream of streams) stream.destroy(signal.reason as Error);
        };
        signal.addEventListener('abort', stop, { once: true });
        try {
          const record = await runExportJob(
            archive,
            { ...build, mailbox },
            (exportId, part, count) => {
              const path = partPath(exportId, part, count);
              const stream = privateBundleStream(path);
              streams.add(stream);
              return { key: path, stream, done: finished(stream) };
            },
            onProgress,
          );
          // Parts built here are plain when there are several (runExportJob): the join encrypts.
          return { record, partsEncrypted: false };
        } finally {
          signal.removeEventListener('abort', stop);
        }
      }),
  };
}

/** Parked, failed and abandoned forwards sent again through the local forward queue; what fails is parked again. */
async function redriveForwards(
  archive: Archive,
  config: ArchiverConfig,
  home: string,
): Promise<RedriveReport['forwards']> {
  const forwarding = archive.forwarding;
  if (!forwarding) throw new Error('forwarding is not set up for this archive');
  const parking = parkedForwards(home);
  const folder = parking.read();
  const parked = folder.parked;
  // Not a parked forward: left where it is, and said.
  const unreadable = folder.unreadable.map((u) => `${u.file}: ${u.reason}`);
  const fromParking = parked.map((p) => p.request);
  const requests = uniqueRequests([
    ...fromParking,
    ...(await ledgerRedrives(archive.index, Object.keys(config.mailboxes), new Date(), fromParking)),
  ]);
  for (const p of parked) parking.remove(p.file);
  let sent = 0;
  const failures: string[] = [...unreadable];
  const entriesOf = async (request: ForwardRequest) => {
    const entries: ForwardEntry[] = [];
    for await (const entry of archive.index.listForwards(request.mailbox)) {
      if (entry.messageKey === request.messageKey) entries.push(entry);
    }
    return entries;
  };
  for (const request of requests) {
    // Only the copies this run sent count as sent: a message's other targets may have been sent long ago.
    const sentBefore = new Set(
      (await entriesOf(request)).filter((e) => e.state === 'sent').map((e) => e.target),
    );
    // Handled like a queue delivery, with the redrive flag; what fails again is parked again.
    await forwarding.queue.process({ ...request, redrive: true });
    for (const entry of await entriesOf(request)) {
      if (entry.state === 'sent' && !sentBefore.has(entry.target)) sent += 1;
      else if (entry.state === 'failed') failures.push(`${entry.target} ${entry.messageKey}: ${entry.error}`);
    }
  }
  return { requests: requests.length, sent, failed: failures.length, failures };
}
