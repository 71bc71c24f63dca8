import { describe, expect, it } from 'vitest';
import { DoorRules, type DoorSettings } from '../../gateway/src/access/rules/door-rules.js';
import { profileCoverage } from '../../gateway/src/access/rules/profile-coverage.js';
import { loadProfileFile } from '../../gateway/src/profiles/registry.js';

const T0 = 1_780_000_000_000;
const s = (n: number) => T0 + n * 1000;
const both: DoorSettings = { forced: true, warnAfterS: 60, alarmAfterS: 300 };

describe('door held open', () => {
  it('warns after warnAfterS, alarms after alarmAfterS, and clears both when the door closes', () => {
    const r = new DoorRules();
    expect(r.update({ door: 'L1', ts: s(0), open: false, locked: false }, both)).toEqual([]);
    expect(r.update({ door: 'L1', ts: s(10), open: true }, both)).toEqual([]);
    expect(r.nextDeadline()).toBe(s(70));
    expect(r.tick(s(69.999))).toEqual([]);
    expect(r.tick(s(70))).toEqual([
      { action: 'raise', rule: 'door_held_open', door: 'L1', ts: s(70), fields: { door: 'open', openedAt: s(10), heldOpenS: 60 } },
    ]);
    expect(r.nextDeadline()).toBe(s(310));
    expect(r.tick(s(200))).toEqual([]);
    // A late tick raises at the stage's own time, not at the tick's.
    expect(r.tick(s(400))).toEqual([
      { action: 'raise', rule: 'door_held_open_alarm', door: 'L1', ts: s(310), fields: { door: 'open', openedAt: s(10), heldOpenS: 300 } },
    ]);
    expect(r.nextDeadline()).toBeUndefined();
    expect(r.update({ door: 'L1', ts: s(500), open: false }, both)).toEqual([
      { action: 'clear', rule: 'door_held_open', door: 'L1', ts: s(500) },
      { action: 'clear', rule: 'door_held_open_alarm', door: 'L1', ts: s(500) },
    ]);
    expect(r.tick(s(10_000))).toEqual([]);
  });

  it('says nothing for a door that closes in time, and times each opening afresh', () => {
    const r = new DoorRules();
    r.update({ door: 'L1', ts: s(0), open: false }, both);
    r.update({ door: 'L1', ts: s(1), open: true }, both);
    expect(r.update({ door: 'L1', ts: s(59), open: false }, both)).toEqual([]);
    r.update({ door: 'L1', ts: s(100), open: true }, both);
    expect(r.tick(s(159))).toEqual([]);
    expect(r.tick(s(160)).map((d) => d.rule)).toEqual(['door_held_open']);
  });

  it('repeated open readings do not restart the timer', () => {
    const r = new DoorRules();
    r.update({ door: 'L1', ts: s(0), open: true }, both);
    r.update({ door: 'L1', ts: s(30), open: true }, both);
    expect(r.nextDeadline()).toBe(s(60));
  });

  it('skips the warning stage where the profile warns itself, and turns stages off with 0', () => {
    const r = new DoorRules();
    r.update({ door: 'C1', ts: s(0), open: true }, { forced: false, warnAfterS: 0, alarmAfterS: 120 });
    expect(r.tick(s(119))).toEqual([]);
    expect(r.tick(s(120)).map((d) => d.rule)).toEqual(['door_held_open_alarm']);
    const off = new DoorRules();
    off.update({ door: 'C1', ts: s(0), open: true }, { forced: false, warnAfterS: 0, alarmAfterS: 0 });
    expect(off.nextDeadline()).toBeUndefined();
  });

  it('an unknown reading cancels stages not yet reached, keeps raised ones until the door is seen closed', () => {
    const r = new DoorRules();
    r.update({ door: 'L1', ts: s(0), open: true }, both);
    r.tick(s(60));
    expect(r.update({ door: 'L1', ts: s(100), open: null }, both)).toEqual([]);
    expect(r.tick(s(1000))).toEqual([]); // the alarm stage was cancelled: we no longer know
    // Back online, still open: timed again from now; the warning is already raised.
    expect(r.update({ door: 'L1', ts: s(1000), open: true }, both)).toEqual([]);
    expect(r.nextDeadline()).toBe(s(1300));
    expect(r.update({ door: 'L1', ts: s(1100), open: false }, both)).toEqual([{ action: 'clear', rule: 'door_held_open', door: 'L1', ts: s(1100) }]);
  });

  it('keeps doors apart', () => {
    const r = new DoorRules();
    r.update({ door: 'A', ts: s(0), open: true }, both);
    r.update({ door: 'B', ts: s(30), open: true }, both);
    expect(r.tick(s(60)).map((d) => d.door)).toEqual(['A']);
    expect(r.tick(s(90)).map((d) => d.door)).toEqual(['B']);
  });
});

describe('door forced open', () => {
  it('raises when a closed door opens while the bolt is locked, and clears when it closes', () => {
    const r = new DoorRules();
    r.update({ door: 'M1', ts: s(0), open: false, locked: true }, both);
    expect(r.update({ door: 'M1', ts: s(5), open: true }, both)).toEqual([
      { action: 'raise', rule: 'door_forced', door: 'M1', ts: s(5), fields: { door: 'open', bolt: 'locked' } },
    ]);
    expect(r.update({ door: 'M1', ts: s(8), open: false }, both)).toEqual([{ action: 'clear', rule: 'door_forced', door: 'M1', ts: s(8) }]);
  });

  it('does not raise for a door opened with the bolt drawn (same read or before), or from an unknown state', () => {
    const r = new DoorRules();
    r.update({ door: 'M1', ts: s(0), open: false, locked: true }, both);
    // Key turned and door opened between two reads: both change in one read.
    expect(r.update({ door: 'M1', ts: s(5), open: true, locked: false }, both)).toEqual([]);
    const first = new DoorRules();
    // First reading ever (restart): no edge to judge.
    expect(first.update({ door: 'M1', ts: s(0), open: true, locked: true }, both)).toEqual([]);
    const unknownBolt = new DoorRules();
    unknownBolt.update({ door: 'M1', ts: s(0), open: false, locked: null }, both);
    expect(unknownBolt.update({ door: 'M1', ts: s(5), open: true }, both)).toEqual([]);
  });

  it('is off where the profile raises it itself (settings.forced false)', () => {
    const r = new DoorRules();
    r.update({ door: 'L1', ts: s(0), open: false, locked: true }, { ...both, forced: false });
    expect(r.update({ door: 'L1', ts: s(5), open: true }, { ...both, forced: false })).toEqual([]);
  });

  it('after a restart, an alarm still active is cleared when the door is seen closed', () => {
    const r = new DoorRules();
    r.restoreRaised('M1', 'door_forced');
    r.restoreRaised('M1', 'door_held_open');
    expect(r.update({ door: 'M1', ts: s(0), open: false }, both)).toEqual([
      { action: 'clear', rule: 'door_forced', door: 'M1', ts: s(0) },
      { action: 'clear', rule: 'door_held_open', door: 'M1', ts: s(0) },
    ]);
  });
});

describe('profile coverage of the shipped profiles', () => {
  it('finds the alarms each profile raises itself and its door/bolt points', () => {
    const lock = profileCoverage(loadProfileFile('device-profiles/generic-rs485-fingerprint-lock.yaml'));
    expect(lock).toEqual({ forced: 'door_forced', duress: 'duress', invalidCredential: 'invalid_credential', doorPoint: 'door', lockPoint: 'bolt' });
    const controller = profileCoverage(loadProfileFile('device-profiles/generic-access-controller.yaml'));
    expect(controller).toEqual({ forced: 'forced_open', heldOpen: 'door_held_open', doorPoint: 'door', lockPoint: 'lock' });
    const contact = profileCoverage(loadProfileFile('device-profiles/generic-door-contact.yaml'));
    expect(contact).toEqual({ doorPoint: 'contact' });
    const siren = profileCoverage(loadProfileFile('device-profiles/generic-siren-strobe.yaml'));
    expect(siren.doorPoint).toBeUndefined();
  });
});
