/**
 * Village life on the shipped profiles, with fake timers: what a pass, a stranger, a pole press,
 * a gas leak and a remote unlock do to the points the gateway reads, and that one seed plays
 * one story.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../gateway/src/log.js';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import { VillageLife } from '../../simulator/src/behaviours.js';
import { applyDefaults } from '../../simulator/src/device-defaults.js';
import { SimDevice } from '../../simulator/src/device-model.js';
import { Rng } from '../../simulator/src/rng.js';
import { ratesSchema, type Tenant, type VillageBehaviour } from '../../simulator/src/village-schema.js';

const profiles = ProfileRegistry.load([join(new URL('../..', import.meta.url).pathname, 'device-profiles')]);

function device(id: string, profile: string, tenants: Tenant[] = [], report = vi.fn()): SimDevice {
  const d = new SimDevice(
    { id, name: undefined, profile, busId: 'b', unitId: 1, location: {}, tenants, initial: {}, sourcePath: [] },
    profiles.get(profile),
    report,
  );
  applyDefaults(d);
  return d;
}

const behaviour = (enabled: boolean, rates: Partial<VillageBehaviour['rates']> = {}): VillageBehaviour => ({
  enabled,
  rates: { ...ratesSchema.parse({}), ...rates },
  doorOpenSeconds: [3, 3],
});

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('village life', () => {
  it('starts devices in a plausible state', () => {
    const lock = device('l', 'generic-rs485-fingerprint-lock');
    expect(lock.get('door')).toBe('closed');
    expect(lock.get('bolt')).toBe('locked');
    expect(lock.get('battery')).toBe(6);
    expect(lock.read('holding', 0, 2)).toEqual([0x5357, 0x0101]);
    const gas = device('g', 'generic-gas-detector');
    expect(gas.get('resolution')).toBe(1);
    expect(gas.get('warming_up')).toBe('ready');
    expect(gas.get('sensor_life')).toBe(96);
  });

  it('a tenant pass: log head, bolt released, door opens and closes, bolt thrown again', () => {
    const lock = device('l', 'generic-rs485-fingerprint-lock', [{ slot: 3, methods: ['card'] }]);
    const life = new VillageLife([lock], behaviour(false), new Rng(1), silentLogger());
    const r = life.pass(lock);
    expect(r).toMatchObject({ user: 3, method: 'card' });
    expect(lock.get('event_seq')).toBe(1);
    expect(lock.get('last_user')).toBe(3);
    expect(lock.get('last_method')).toBe('card');
    expect(lock.get('last_result')).toBe('granted');
    expect(lock.get('bolt')).toBe('unlocked');
    expect(lock.get('door')).toBe('closed');
    vi.advanceTimersByTime(1600);
    expect(lock.get('door')).toBe('open');
    vi.advanceTimersByTime(3000);
    expect(lock.get('door')).toBe('closed');
    vi.advanceTimersByTime(600);
    expect(lock.get('bolt')).toBe('locked');
    life.stop();
  });

  it('a stranger: denied attempts count up and the fifth wrong finger raises invalid_credential', () => {
    const lock = device('l', 'generic-rs485-fingerprint-lock');
    const life = new VillageLife([lock], behaviour(false), new Rng(1), silentLogger());
    life.stranger(lock, { attempts: 5 });
    expect(lock.get('last_result')).toBe('denied');
    expect(lock.get('invalid_count')).toBe(1);
    vi.advanceTimersByTime(4000 * 3);
    expect(lock.get('invalid_count')).toBe(4);
    expect(lock.get('alarm_code')).toBe('none');
    vi.advanceTimersByTime(4000);
    expect(lock.get('invalid_count')).toBe(5);
    expect(lock.get('event_seq')).toBe(5);
    expect(lock.get('alarm_code')).toBe('invalid_credential');
    expect(lock.get('bolt')).toBe('locked');
    // The next granted pass clears the count, as the lock does.
    life.pass(lock);
    expect(lock.get('invalid_count')).toBe(0);
    expect(lock.get('alarm_code')).toBe('none');
    life.stop();
  });

  it('a pole press holds the button ~1.5 s, and the master can light help_light', () => {
    const pole = device('p', 'generic-alarm-pole');
    const life = new VillageLife([pole], behaviour(false), new Rng(1), silentLogger());
    const { ts, releaseAt } = life.press(pole);
    expect(releaseAt - ts).toBe(1500);
    expect(pole.get('button')).toBe('pressed');
    vi.advanceTimersByTime(1499);
    expect(pole.get('button')).toBe('pressed');
    vi.advanceTimersByTime(2);
    expect(pole.get('button')).toBe('released');
    life.stop();
  });

  it('a gas leak rises past 25 %LEL with the alarm, then clears', () => {
    const gas = device('g', 'generic-gas-detector');
    const life = new VillageLife([gas], behaviour(false), new Rng(5), silentLogger());
    life.gas(gas);
    vi.advanceTimersByTime(20_000);
    expect(gas.get('concentration') as number).toBeGreaterThan(25);
    expect(gas.get('concentration_f') as number).toBeCloseTo(gas.get('concentration') as number, 0);
    expect(gas.get('gas_alarm')).toBe('alarm');
    vi.advanceTimersByTime(60_000);
    expect(gas.get('concentration')).toBe(0);
    expect(gas.get('gas_alarm')).toBe('normal');
    life.stop();
  });

  it('the unlock command written by the master releases the bolt (a remote pass) and the pulse back re-locks', () => {
    const lock = device('l', 'generic-rs485-fingerprint-lock');
    const life = new VillageLife([lock], behaviour(false), new Rng(1), silentLogger());
    const unlock = lock.profile.commands.find((c) => c.id === 'unlock')!.write!;
    lock.write(unlock.table, unlock.address, [1], 5);
    expect(lock.get('bolt')).toBe('unlocked');
    expect(lock.get('last_method')).toBe('remote');
    expect(lock.get('event_seq')).toBe(1);
    lock.write(unlock.table, unlock.address, [0], 5);
    expect(lock.get('bolt')).toBe('locked');
    // Without the pulse back, the lock re-latches after its auto-lock delay.
    lock.set('auto_lock_delay', 4);
    lock.write(unlock.table, unlock.address, [1], 5);
    expect(lock.get('bolt')).toBe('unlocked');
    vi.advanceTimersByTime(3900);
    expect(lock.get('bolt')).toBe('unlocked');
    vi.advanceTimersByTime(200);
    expect(lock.get('bolt')).toBe('locked');
    life.stop();
  });

  it('one seed plays one story; behaviour off keeps everything still', () => {
    const run = (seed: number, enabled = true) => {
      const locks = Array.from({ length: 20 }, (_, i) => device(`l${i}`, 'generic-rs485-fingerprint-lock', [{ slot: 1, methods: ['fingerprint', 'pin'] }]));
      const life = new VillageLife(locks, behaviour(enabled, { tenantPass: 60, stranger: 5 }), new Rng(seed), silentLogger());
      for (let i = 0; i < 240; i++) {
        life.tick(250);
        vi.advanceTimersByTime(250);
      }
      life.stop();
      return locks.map((l) => [l.get('event_seq'), l.get('last_method'), l.get('invalid_count')]);
    };
    const a = run(42);
    expect(a.some(([seq]) => (seq as number) > 0)).toBe(true);
    expect(run(42)).toEqual(a);
    expect(run(43)).not.toEqual(a);
    expect(run(42, false).every(([seq]) => seq === 0)).toBe(true);
  });

  it('a lock board opens a lock on the open_lock command and the door follows', () => {
    const board = device('b', 'wkly-lock-board');
    const life = new VillageLife([board], behaviour(false), new Rng(1), silentLogger());
    board.recordFrameCommand('open_lock', 0x82, [2]);
    expect((board.get('locks') as Record<string, boolean>).lock2).toBe(true); // released
    vi.advanceTimersByTime(900);
    expect((board.get('doors') as Record<string, boolean>).door2).toBe(true);
    vi.advanceTimersByTime(3000);
    expect((board.get('doors') as Record<string, boolean>).door2).toBe(false);
    expect((board.get('locks') as Record<string, boolean>).lock2).toBe(false);
    life.stop();
  });
});
