// How an address splits (shared/mail/address.ts): at its last `@`, the domain compared without case, and an
// internationalised domain in either spelling, U-label or A-label (review-29d U4), as one domain.
import { describe, expect, it } from 'vitest';
import {
  addressDomain,
  addressSpellings,
  domainKey,
  domainSpellings,
  sameAddress,
  splitAddress,
} from '../../../shared/mail/address';

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

// RFC 3492 section 7.1's sample (L), 3<nen>B<gumi><kinpachi><sensei>, and the classic bücher.
const JAPANESE = '3\u5E74B\u7D44\u91D1\u516B\u5148\u751F';

describe('domainKey: two spellings of one domain are one domain', () => {
  it('is the A-label in lower case for every spelling of an internationalised domain', () => {
    for (const spelling of [
      'bücher.example',
      'BÜCHER.Example',
      'XN--BCHER-KVA.example',
      'xn--bcher-kva.example',
    ])
      expect(domainKey(spelling)).toBe('xn--bcher-kva.example');
    // Decomposed (u + combining diaeresis) and full-width spellings map to the same domain (UTS #46).
    expect(domainKey('bu\u0308cher.example')).toBe('xn--bcher-kva.example');
    expect(domainKey('ｂücher．example')).toBe('xn--bcher-kva.example');
    expect(domainKey(`${JAPANESE}.example`)).toBe('xn--3b-ww4c5e180e575a65lsy2b.example');
    expect(domainKey('xn--3B-ww4c5e180e575a65lsy2b.example')).toBe('xn--3b-ww4c5e180e575a65lsy2b.example');
  });

  it('leaves a plain ASCII domain, or one that is no valid IDN, in lower case', () => {
    expect(domainKey('Mail.Example.COM')).toBe('mail.example.com');
    // WHATWG host parsing would read this as the IPv4 address 127.0.0.1: it is no spelling of it.
    expect(domainKey('0x7f.1')).toBe('0x7f.1');
    expect(domainKey('XN--ZZ.example')).toBe('xn--zz.example');
  });
});

describe('domainSpellings', () => {
  it('lists the A-label and the U-label of an internationalised domain, typed in either', () => {
    expect(domainSpellings('Bücher.example')).toEqual(['xn--bcher-kva.example', 'bücher.example']);
    expect(domainSpellings('xn--bcher-kva.example')).toEqual(['xn--bcher-kva.example', 'bücher.example']);
    expect(domainSpellings('xn--3B-ww4c5e180e575a65lsy2b.example')).toEqual([
      'xn--3b-ww4c5e180e575a65lsy2b.example',
      `${JAPANESE.toLowerCase()}.example`,
    ]);
  });

  it('keeps a decomposed spelling as typed too: a message may have stored it so', () => {
    expect(domainSpellings('bu\u0308cher.example')).toEqual([
      'xn--bcher-kva.example',
      'bücher.example',
      'bu\u0308cher.example',
    ]);
  });

  it('is one spelling for a plain ASCII domain', () => {
    expect(domainSpellings('Example.COM')).toEqual(['example.com']);
    expect(domainSpellings('')).toEqual(['']);
  });
});

describe('addressSpellings and sameAddress', () => {
  it('spells the domain of a whole address, or of a part after its @, every way', () => {
    expect(addressSpellings('Alice@Bücher.example')).toEqual([
      'alice@xn--bcher-kva.example',
      'alice@bücher.example',
    ]);
    expect(addressSpellings('@xn--bcher-kva.example')).toEqual(['@xn--bcher-kva.example', '@bücher.example']);
    expect(addressSpellings('bücher.example')).toEqual(['xn--bcher-kva.example', 'bücher.example']);
  });

  it('is one spelling for an address or part on a plain ASCII domain', () => {
    expect(addressSpellings('Alice@Example.com')).toEqual(['alice@example.com']);
    expect(addressSpellings('alice')).toEqual(['alice']);
  });

  it('compares the domain in any spelling, the local part as given', () => {
    expect(sameAddress('alice@bücher.example', 'alice@xn--bcher-kva.example')).toBe(true);
    expect(sameAddress('alice@bücher.example', 'bob@xn--bcher-kva.example')).toBe(false);
    expect(sameAddress('alice@example.com', 'alice@example.org')).toBe(false);
  });
});
