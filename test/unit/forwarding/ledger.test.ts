// The forwarding ledger's rules (shared/forwarding/ledger.ts) and the redrive's choice of requests
// (shared/forwarding/redrive.ts), on the in-memory index.
import { describe, expect, it } from 'vitest';
import { MemoryMailIndex } from '../../../shared/adapters/memory-index';
import {
  isAbandonedClaim,
  isClaimable,
  isRedrivable,
  leaseUntil,
  parseForwardRequest,
  SEND_LEASE_MS,
} from '../../../shared/forwarding/ledger';
import { ledgerRedrives, uniqueRequests } from '../../../shared/forwarding/redrive';
import { JsonShapeError } from '../../../shared/json';

const now = new Date('2026-03-01T12:00:00Z');
const past = new Date(now.getTime() - 1).toISOString();
const future = new Date(now.getTime() + 1).toISOString();

describe('the ledger rules', () => {
  it('a claim lasts five minutes', () => {
    expect(SEND_LEASE_MS).toBe(300_000);
    expect(leaseUntil(now)).toBe('2026-03-01T12:05:00.000Z');
  });

  it('normal delivery claims new, pending and transient failures; a redrive also permanent ones and dead claims', () => {
    const cases = [
      [undefined, true, true],
      [{ state: 'pending' }, true, true],
      [{ state: 'failed', permanent: false }, true, true],
      [{ state: 'failed', permanent: true }, false, true],
      [{ state: 'sending', leaseUntil: future }, false, false],
      [{ state: 'sending', leaseUntil: past }, false, true],
      [{ state: 'sent' }, false, false],
      [{ state: 'skipped' }, false, false],
      [{ state: 'bounced' }, false, false],
    ] as const;
    for (const [existing, normal, redrive] of cases) {
      expect(
        [isClaimable(existing, now, false), isClaimable(existing, now, true)],
        JSON.stringify(existing),
      ).toEqual([normal, redrive]);
    }
  });

  it('a redrive takes failures and abandoned claims, nothing else', () => {
    expect(isAbandonedClaim({ state: 'sending', leaseUntil: past }, now)).toBe(true);
    expect(isAbandonedClaim({ state: 'sending' }, now)).toBe(true);
    expect(isRedrivable({ state: 'failed' }, now)).toBe(true);
    expect(isRedrivable({ state: 'sending', leaseUntil: future }, now)).toBe(false);
    expect(isRedrivable({ state: 'sent' }, now)).toBe(false);
  });

  it('the redrive asks for each message once, leaving out what the parking place already gave', async () => {
    const index = new MemoryMailIndex();
    const claim = (messageKey: string, target: string, at: Date) =>
      index.claimForward({ mailbox: 'alice@example.com', messageKey, target }, at, false);
    const long = new Date(now.getTime() - 2 * SEND_LEASE_MS);
    await claim('dead', 'a@example.net', long);
    await claim('dead', 'b@example.net', long);
    await claim('busy', 'a@example.net', now);
    await claim('failed', 'a@example.net', now);
    await index.settleForward(
      { mailbox: 'alice@example.com', messageKey: 'failed', target: 'a@example.net' },
      { state: 'failed', error: 'x', permanent: true },
      now,
    );
    await claim('parked', 'a@example.net', long);
    const parked = [{ mailbox: 'alice@example.com', messageKey: 'parked' }];
    const found = await ledgerRedrives(index, ['alice@example.com', 'bob@example.com'], now, parked);
    expect(found.map((r) => r.messageKey).sort()).toEqual(['dead', 'failed']);
    expect(uniqueRequests([...parked, ...parked, ...found])).toHaveLength(3);
  });
});

describe('a forward queue message read back', () => {
  it('is a request, with the redrive flag when redrive wrote it', () => {
    const body = JSON.stringify({
      mailbox: 'alice@example.com',
      messageKey: 'incoming/abc123def4',
      redrive: true,
    });
    expect(parseForwardRequest(body, 'm1')).toEqual({
      mailbox: 'alice@example.com',
      messageKey: 'incoming/abc123def4',
      redrive: true,
    });
  });

  it('names the message and the field when it is not one', () => {
    expect(() => parseForwardRequest('{"mailbox":', 'dead letter m2')).toThrow(/dead letter m2 is not JSON/);
    expect(() => parseForwardRequest(JSON.stringify({ mailbox: 'alice@example.com' }), 'm3')).toThrow(
      JsonShapeError,
    );
    expect(() => parseForwardRequest(JSON.stringify({ mailbox: 'alice@example.com' }), 'm3')).toThrow(
      /messageKey/,
    );
  });
});
