/** What a door device said about a pass, from the shipped profiles' `pass` fields (pure). */
import { describe, expect, it } from 'vitest';
import { CARD_HASH_FIELD, methodOf, passFacts, redactCardFields } from '../../gateway/src/access/pass-fields.js';
import { controllerPass, lockPass, passEvent, T0 } from './access-fixtures.js';

describe('pass fields', () => {
  it('reads the fingerprint lock: slot from last_user, method label, result', () => {
    const e = lockPass('lock-101', 7, 'fingerprint', T0);
    expect(passFacts(e)).toEqual({ id: e.id, site: 'testvillage', door: 'lock-101', ts: T0, method: 'fingerprint', slot: 7, result: 'granted', duress: false });
  });

  it('a stranger (last_user 0, denied) has no slot; a duress pass is granted with duress', () => {
    expect(passFacts(lockPass('lock-101', 0, 'fingerprint', T0, 'denied'))).toMatchObject({ result: 'denied', duress: false });
    expect(passFacts(lockPass('lock-101', 0, 'fingerprint', T0, 'denied')).slot).toBeUndefined();
    expect(passFacts(lockPass('lock-101', 3, 'pin', T0, 'duress'))).toMatchObject({ method: 'pin', slot: 3, result: 'granted', duress: true });
  });

  it('reads the controller: the card number only when a card was presented', () => {
    expect(passFacts(controllerPass('gate-A', 778899, 'card', T0, 12))).toMatchObject({ method: 'card', cardNumber: '778899', slot: 12 });
    expect(passFacts(controllerPass('gate-A', 778899, 'id_card', T0))).toMatchObject({ method: 'id_card', cardNumber: '778899' });
    // Face at the controller: the card register holds an old card, not this person's.
    expect(passFacts(controllerPass('gate-A', 778899, 'face', T0, 12)).cardNumber).toBeUndefined();
    expect(passFacts(controllerPass('gate-A', 0, 'card', T0)).cardNumber).toBeUndefined();
  });

  it('maps method labels onto the access methods; anything else is unknown', () => {
    for (const m of ['fingerprint', 'card', 'id_card', 'face', 'pin', 'temp_code', 'remote', 'key']) expect(methodOf(m)).toBe(m);
    expect(methodOf('none')).toBe('unknown');
    expect(methodOf(3)).toBe('unknown');
    expect(methodOf(undefined)).toBe('unknown');
  });

  it('takes a pass without a result as granted, and booleans as granted/denied', () => {
    expect(passFacts(passEvent('d', { user: 4, method: 'card' }, T0))).toMatchObject({ slot: 4, method: 'card', result: 'granted' });
    expect(passFacts(passEvent('d', { last_user: 4, last_result: false }, T0))).toMatchObject({ result: 'denied', method: 'unknown' });
  });

  it('redacts card numbers into their hash before anyone hears of the event, and still resolves from the hash', () => {
    const hash = (c: string) => `h(${c})`;
    const raw = controllerPass('gate-A', 778899, 'card', T0, 12);
    const redacted = redactCardFields(raw, hash);
    expect(JSON.stringify(redacted)).not.toContain('778899'.replace(/^/, '"'));
    expect(Object.values(redacted.fields)).not.toContain(778899);
    expect(redacted.fields[CARD_HASH_FIELD]).toBe('h(778899)');
    expect(passFacts(redacted)).toMatchObject({ method: 'card', cardHash: 'h(778899)', slot: 12 });
    expect(passFacts(redacted).cardNumber).toBeUndefined();
    // Events without card fields, and non-access events, pass unchanged (same object).
    const lock = lockPass('lock-101', 3, 'fingerprint', T0);
    expect(redactCardFields(lock, hash)).toBe(lock);
  });
});
