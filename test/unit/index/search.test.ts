// The sender a `search --from` names: a whole address, also as copied from a header (`Name <a@b>`, `<a@b>`), is
// that sender exactly; anything else is a part of an address (issue 29: the copied forms found nothing).
import { describe, expect, it } from 'vitest';
import { senderAddress } from '../../../shared/index/search';

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
