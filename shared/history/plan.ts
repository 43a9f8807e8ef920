// `ingest --dry-run`: what an import would archive where, read and routed exactly as the import would (the same
// sources, the same routing rule), without storing or indexing anything.
import type { ArchiverConfig } from '../config';
import { readMessageBytes } from '../mail/mime';
import { routeMessage, UNROUTED_MAILBOX } from '../receiving/routing';
import { type ImportOptions, importSkipReason, routeImport } from './import';
import { readSources } from './sources';

export interface ImportPlan {
  /** Messages that would be archived (in at least one mailbox). */
  messages: number;
  /** Per mailbox, per folder: how many messages would land there. */
  placements: Record<string, Record<string, number>>;
  /** Inputs that would fail (unreadable, no mailbox to file them in), with the reason. */
  failed: { origin: string; reason: string }[];
  /** Inputs that are not mail. */
  skipped: { origin: string; reason: string }[];
  /** `From ` lines of an mbox not taken as separators (nothing lost; said so the user can check). */
  notices: { origin: string; reason: string }[];
}

/** Reads `paths` and routes every message as `importMessages` would; stores nothing. */
export async function planImport(
  config: ArchiverConfig,
  paths: string[],
  options: Pick<ImportOptions, 'to' | 'mailbox'> = {},
): Promise<ImportPlan> {
  const plan: ImportPlan = { messages: 0, placements: {}, failed: [], skipped: [], notices: [] };
  for await (const item of readSources(paths)) {
    if (item.kind === 'failure') {
      plan.failed.push({ origin: item.origin, reason: item.reason });
      continue;
    }
    if (item.kind === 'skipped' || item.kind === 'notice') {
      (item.kind === 'skipped' ? plan.skipped : plan.notices).push({
        origin: item.origin,
        reason: item.reason,
      });
      continue;
    }
    const { headers } = await readMessageBytes(item.raw);
    const routing = routeImport(config, item, headers, options);
    if (routing.recipients.length === 0) {
      plan.failed.push({
        origin: item.origin,
        reason:
          'no To/Cc address is a configured mailbox and it was not sent by one: say whose it is with --mailbox or --to',
      });
      continue;
    }
    const skipped = importSkipReason(config, routing.recipients);
    if (skipped !== undefined) {
      plan.skipped.push({ origin: item.origin, reason: skipped });
      continue;
    }
    const routed = routeMessage(config, routing.recipients, headers.from[0]?.address, {
      spam: 'GRAY',
      virus: 'GRAY',
    });
    const deliveries = routed.deliveries.length
      ? routed.deliveries.map((d) => ({ mailbox: d.mailbox, folder: routing.folder ?? d.folder }))
      : [{ mailbox: UNROUTED_MAILBOX, folder: 'INBOX' }];
    plan.messages += 1;
    for (const { mailbox, folder } of deliveries) {
      const folders = plan.placements[mailbox] ?? {};
      folders[folder] = (folders[folder] ?? 0) + 1;
      plan.placements[mailbox] = folders;
    }
  }
  return plan;
}
