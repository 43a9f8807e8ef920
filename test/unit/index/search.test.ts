// The sender a `search --from` names: a whole address, also as copied from a header (`Name <a@b>`, `<a@b>`), is
// that sender exactly; anything else is a part of an address (issue 29: the copied forms found nothing).
import { describe, expect, it } from 'vitest';
import { matchesSearch, senderAddress, senderSpellings } from '../../../shared/index/search';
import { testDeliveryRow } from '../../support/delivery-row';

describe('senderAddress', () => {
  it('is the whole address, lower case', () => {
    expect(senderAddress('timc@2ubh.com')).toBe('timc@2ubh.com');
    expect(senderAddress(' TimC@2UBH.com ')).toBe('timc@2ubh.com');
  });

  it('takes the address out of a header form: angle brackets, a display name, a quoted one', () => {
    expect(senderAddress('<timc@2ubh.com>')).toBe('timc@2ubh.com');
    expect(senderAddress('Tim Chapman <timc@2ubh.com>')).toBe('timc@2ubh.com');
    expect(senderAddress('"Chapman, Tim" <TimC@2ubh.com>')).toBe('timc@2ubh.com');
  });

  it('is undefined for a part of an address, and for text holding several addresses or none', () => {
    expect(senderAddress('timc')).toBeUndefined();
    expect(senderAddress('@2ubh.com')).toBeUndefined();
    expect(senderAddress('Tim Chapman')).toBeUndefined();
    expect(senderAddress('<a@example.com>, <b@example.com>')).toBeUndefined();
  });
});

// An internationalised domain has two spellings, and rows keep the one the message wrote (review-29d U4).
describe('a search on an internationalised domain', () => {
  const aLabel = testDeliveryRow('bob@example.com', 'm1', 1, {
    fromAddress: 'alice@xn--bcher-kva.example',
    to: ['Carol <carol@xn--bcher-kva.example>'],
  });
  const uLabel = testDeliveryRow('bob@example.com', 'm2', 2, {
    fromAddress: 'alice@bücher.example',
    to: ['carol@bücher.example'],
  });
  const other = testDeliveryRow('bob@example.com', 'm3', 3, { fromAddress: 'alice@example.com' });
  const found = (query: Parameters<typeof matchesSearch>[1]) =>
    [aLabel, uLabel, other].filter((row) => matchesSearch(row, query)).map((row) => row.messageKey);

  it('finds the sender written in either spelling, asked in either', () => {
    for (const from of ['alice@bücher.example', 'Alice <ALICE@XN--BCHER-KVA.example>'])
      expect(found({ from })).toEqual(['m1', 'm2']);
  });

  it('finds a domain-only or part sender, and a recipient, in either spelling', () => {
    for (const from of ['@bücher.example', '@xn--bcher-kva.example', 'bücher.example'])
      expect(found({ from })).toEqual(['m1', 'm2']);
    for (const to of ['carol@bücher.example', '@xn--bcher-kva.example'])
      expect(found({ to })).toEqual(['m1', 'm2']);
  });

  it('names each spelling that can be stored once, and a plain ASCII sender once', () => {
    expect(senderSpellings('Alice@Bücher.example')).toEqual([
      'alice@xn--bcher-kva.example',
      'alice@bücher.example',
    ]);
    expect(senderSpellings('alice@Example.com')).toEqual(['alice@example.com']);
    expect(senderSpellings('@example.com')).toBeUndefined();
  });
});
