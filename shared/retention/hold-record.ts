// A legal hold as the index records it (shared/retention/holds.ts places and releases them).

/** Which messages a hold covers: one mailbox, received in [since, until) (ISO 8601 UTC), optionally from one address. */
export interface HoldCriteria {
  mailbox: string;
  since?: string;
  until?: string;
  from?: string;
}

export interface HoldRecord {
  holdId: string;
  criteria: HoldCriteria;
  reason: string;
  /** Who placed it (the operator's identity as the CLI knows it). */
  by: string;
  placedAt: string;
  /** True on the record written before any legal hold is set; the final record drops it (a record that keeps it: an interrupted `hold add`). */
  placing?: true;
  /** When every matching version was held (ISO 8601 UTC). */
  completedAt?: string;
  state: 'active' | 'released';
  /** Messages it covers (known before any legal hold is set) and object versions it put a legal hold on. */
  messages: number;
  versions: number;
  /**
   * The versions it holds are recorded, before any legal hold is set, in this many parts (HoldLog.heldVersions):
   * its release frees exactly those. Absent on a hold placed before they were recorded: its release and the holds
   * it keeps find its versions from its criteria again.
   */
  heldParts?: number;
  releasedAt?: string;
  releasedBy?: string;
  /** Versions whose legal hold the release cleared (those no other active hold covers). */
  releasedVersions?: number;
}

/** A hold whose recorded versions cannot be read back whole (a part of the list is missing from the index). */
export class HeldVersionsMissingError extends Error {
  override name = 'HeldVersionsMissingError';
}
