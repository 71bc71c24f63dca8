/**
 * The shipped profiles' rules, driven the way the simulator drives the devices (see
 * docs/profile-contract.md, "Behaviours other code relies on"): a tenant pass is a pass and
 * nothing else, a forced door is an alarm, a duress pass is both, a pole press latches.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PointValue } from '../../gateway/src/core/types.js';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import { createRuleEngine } from '../../gateway/src/profiles/rules.js';
import type { RuleFiring } from '../../gateway/src/profiles/rules-types.js';

const registry = ProfileRegistry.load([join(import.meta.dirname, '../../device-profiles')]);
const brief = (f: RuleFiring[]) => f.map((x) => `${x.def.id}:${x.phase}`);

function device(profileId: string, initial: Record<string, PointValue>) {
  const engine = createRuleEngine(registry.get(profileId));
  let now = 0;
  const fired: RuleFiring[] = [];
  fired.push(...engine.update(initial, now));
  return {
    engine,
    fired,
    /** One poll sweep `ms` after the last one. */
    poll(values: Record<string, PointValue>, ms = 100): string[] {
      now += ms;
      const f = engine.update(values, now);
      fired.push(...f);
      return brief(f);
    },
    wait(ms: number): string[] {
      now += ms;
      const f = engine.tick(now);
      fired.push(...f);
      return brief(f);
    },
  };
}

describe('generic-rs485-fingerprint-lock', () => {
  const idle = { door: 'closed', bolt: 'locked', tamper: 'normal', event_seq: 41, last_user: 3, last_method: 'card', last_result: 'granted', alarm_code: 'none', invalid_count: 0 };

  it('a tenant pass is one access event with who and how, and no alarm', () => {
    const lock = device('generic-rs485-fingerprint-lock', idle);
    expect(lock.fired).toEqual([]);
    expect(lock.poll({ bolt: 'unlocked', event_seq: 42, last_user: 7, last_method: 'fingerprint', last_result: 'granted' })).toEqual(['pass:start']);
    expect(lock.fired[0]!.fields).toEqual({ last_user: 7, last_method: 'fingerprint', last_result: 'granted' });
    expect(lock.fired[0]!.def.kind).toBe('access');
    expect(lock.poll({ door: 'open' })).toEqual([]);
    expect(lock.poll({ door: 'closed' })).toEqual([]);
    expect(lock.poll({ bolt: 'locked' })).toEqual([]);
  });

  it('a door opening while the bolt is thrown is forced, critical, and restores when it closes', () => {
    const lock = device('generic-rs485-fingerprint-lock', idle);
    expect(lock.poll({ door: 'open' })).toEqual(['door_forced:start']);
    expect(lock.fired[0]!.alarm).toMatchObject({ cid: 423, sia: 'DF', severity: 'critical', latch: false, restore: true });
    expect(lock.poll({ door: 'closed' })).toEqual(['door_forced:clear']);
  });

  it('a duress pass is a pass and a silent emergency, every time', () => {
    const lock = device('generic-rs485-fingerprint-lock', idle);
    expect(lock.poll({ bolt: 'unlocked', event_seq: 42, last_user: 2, last_result: 'duress', alarm_code: 'duress' })).toEqual(['pass:start', 'duress:start']);
    const duress = lock.fired.find((f) => f.def.id === 'duress')!;
    expect(duress.alarm).toMatchObject({ cid: 121, sia: 'HA', severity: 'emergency', silent: true, latch: true });
    expect(lock.poll({ event_seq: 43 })).toEqual(['pass:start', 'duress:start']);
  });

  it('five denials in a row raise invalid_credential; a granted pass ends it', () => {
    const lock = device('generic-rs485-fingerprint-lock', idle);
    const out: string[] = [];
    for (let i = 1; i <= 5; i++) out.push(...lock.poll({ event_seq: 41 + i, last_result: 'denied', invalid_count: i }));
    expect(out.filter((s) => s !== 'pass:start')).toEqual(['invalid_credential:start']);
    expect(out.filter((s) => s === 'pass:start')).toHaveLength(5);
    expect(lock.poll({ event_seq: 47, last_result: 'granted', invalid_count: 0 })).toEqual(['pass:start', 'invalid_credential:clear']);
  });

  it('coming online with the door open and the bolt thrown is not a forced door', () => {
    const lock = device('generic-rs485-fingerprint-lock', { ...idle, door: 'open' });
    expect(lock.fired).toEqual([]);
  });
});

describe('generic-access-controller', () => {
  it('a door held open for 60 s warns, and restores when it closes', () => {
    const ac = device('generic-access-controller', { door: 'closed', lock: 'locked', event_seq: 1 });
    ac.poll({ lock: 'unlocked', event_seq: 2, last_result: 'granted' });
    ac.poll({ door: 'open' });
    expect(ac.wait(59_000)).toEqual([]);
    expect(ac.wait(1_000)).toEqual(['door_held_open:start']);
    expect(ac.poll({ door: 'closed', lock: 'locked' })).toEqual(['door_held_open:clear']);
  });
});

describe('generic-alarm-pole', () => {
  it('a press raises a latched emergency; release does not end it in the gateway', () => {
    const pole = device('generic-alarm-pole', { button: 'released', tamper: 'normal', call_state: 'idle' });
    expect(pole.poll({ button: 'pressed', call_state: 'calling' })).toEqual(['panic:start']);
    const panic = pole.fired[0]!;
    expect(panic.alarm).toMatchObject({ cid: 120, sia: 'PA', severity: 'emergency', latch: true });
    expect(panic.fields).toEqual({ call_state: 'calling' });
    // The engine reports the button's release; the alarm service keeps the latched alarm.
    expect(pole.poll({ button: 'released' })).toEqual(['panic:clear']);
    expect(pole.fired[1]!.alarm?.restore).toBeUndefined();
  });

  it('self-test results are logged on change; a speaker fault is an alarm of its own', () => {
    const ok = { speaker: false, microphone: false, camera: false, power: false, battery: false, network: false };
    const pole = device('generic-alarm-pole', { self_test_fault: ok });
    expect(pole.poll({ self_test_fault: { ...ok, camera: true } })).toEqual(['self_test_fault:start']);
    expect(pole.poll({ self_test_fault: { ...ok, camera: true, speaker: true } })).toEqual(['self_test_fault:start', 'speaker_fault:start']);
    expect(pole.poll({ self_test_fault: ok })).toEqual(['self_test_fault:start', 'speaker_fault:clear']);
  });
});

describe('generic-smoke-detector and generic-gas-detector', () => {
  it('smoke already present when the detector comes online raises at once', () => {
    const sd = device('generic-smoke-detector', { smoke: 'alarm', smoke_level: 4.2, temperature: 31 });
    expect(brief(sd.fired)).toEqual(['smoke:start']);
    expect(sd.fired[0]!.fields).toEqual({ smoke_level: 4.2, temperature: 31 });
  });

  it('gas above 25 %LEL raises once and restores below 20 %LEL', () => {
    const gd = device('generic-gas-detector', { concentration: 3, gas_alarm: 'normal', fault: 'normal', warming_up: 'ready' });
    const seq = [12, 25, 25.5, 31, 24, 21, 20.5, 19.9, 26].map((c) => gd.poll({ concentration: c }));
    expect(seq.flat()).toEqual(['gas_high:start', 'gas_high:clear', 'gas_high:start']);
  });

  it('a sensor fault while warming up is not a fault', () => {
    const gd = device('generic-gas-detector', { fault: 'fault', warming_up: 'warming_up' });
    expect(gd.fired).toEqual([]);
    expect(gd.poll({ warming_up: 'ready' })).toEqual(['sensor_fault:start']);
  });
});

describe('wkly-lock-board', () => {
  it('every door-opened push is an event, even two opens in a row on different doors', () => {
    const board = device('wkly-lock-board', {});
    expect(board.poll({ changed_door: 'door3', changed_state: 'open' })).toEqual(['door_opened:start']);
    expect(board.fired[0]!.fields).toEqual({ changed_door: 'door3', doors: null });
    expect(board.poll({ changed_door: 'door5', changed_state: 'open' })).toEqual(['door_opened:start']);
    expect(board.poll({ changed_door: 'door3', changed_state: 'closed' })).toEqual([]);
    // a status poll in between does not re-fire the last push
    expect(board.poll({ doors: { door5: true }, locks: {} })).toEqual([]);
  });
});

describe('generic-door-contact', () => {
  it('a chattering reed switch is one opening', () => {
    const dc = device('generic-door-contact', { contact: 'closed', battery: 3.0 });
    expect([...dc.poll({ contact: 'open' }, 50), ...dc.poll({ contact: 'closed' }, 50), ...dc.poll({ contact: 'open' }, 50)]).toEqual([]);
    expect(dc.wait(250)).toEqual(['door_open:start']);
  });

  it('a sagging backup cell warns below 2.6 V and clears above 2.7 V', () => {
    const dc = device('generic-door-contact', { battery: 2.9 });
    const seq = [2.61, 2.59, 2.65, 2.69, 2.7, 2.58].map((v) => dc.poll({ battery: v }));
    expect(seq.flat()).toEqual(['low_battery:start', 'low_battery:clear', 'low_battery:start']);
  });
});
