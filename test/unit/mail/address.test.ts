// How an address splits (shared/mail/address.ts): at its last `@`, the domain compared without case.
import { describe, expect, it } from 'vitest';
import { addressDomain, splitAddress } from '../../../shared/mail/address';

describe('splitAddress', () => {
  it('splits at the last @: a quoted local part may hold one (RFC 5321 4.1.2)', () => {
    expect(splitAddress('"a@b"@Example.COM')).toEqual({ local: '"a@b"', domain: 'Example.COM' });
    expect(splitAddress('alice@example.com')).toEqual({ local: 'alice', domain: 'example.com' });
  });

  it('reads an address without @ as all local part', () => {
    expect(splitAddress('postmaster')).toEqual({ local: 'postmaster', domain: '' });
  });
});

describe('addressDomain', () => {
  it('is the domain after the last @, in lower case', () => {
    expect(addressDomain('"x@y"@Mail.Example.COM')).toBe('mail.example.com');
    expect(addressDomain('nobody')).toBe('');
  });
});
