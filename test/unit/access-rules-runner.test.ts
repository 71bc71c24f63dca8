/**
 * The rules runner against a real (in-memory) store, a real AlarmService and a real bus, with a
 * fake clock: exact alarms and events, and nothing else.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { accessRulesSchema, type AccessRulesInput } from '../../gateway/src/access/rules/config.js';
import { configRuleDirectory } from '../../gateway/src/access/rules/directory.js';
import { AccessRulesRunner } from '../../gateway/src/access/rules/runner.js';
import type { DoorInfo, RegisteredTenant, RuleDirectory } from '../../gateway/src/access/rules/types.js';
import type { AccessRecord } from '../../gateway/src/access/types.js';
import { AlarmService } from '../../gateway/src/alarms/alarm-service.js';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import type { Alarm, DeviceEvent, Point } from '../../gateway/src/core/types.js';
import { silentLogger } from '../../gateway/src/log.js';
import { loadProfileFile } from '../../gateway/src/profiles/registry.js';
import { openStore, type Store } from '../../gateway/src/store/store.js';

const lock = loadProfileFile('device-profiles/generic-rs485-fingerprint-lock.yaml');
const controller = loadProfileFile('device-profiles/generic-access-controller.yaml');
const contact = loadProfileFile('device-profiles/generic-door-contact.yaml');
/** 2026-03-02 12:00 in Shanghai. */
const NOON = Date.UTC(2026, 2, 2, 4, 0);
const MIN = 60_000;
const DAY = 86_400_000;

const stores: Store[] = [];
const runners: AccessRulesRunner[] = [];
afterEach(() => {
  for (const r of runners.splice(0)) r.stop();
  for (const s of stores.splice(0)) s.close();
});

interface Rig {
  now: { t: number };
  store: Store;
  bus: EventBus;
  alarms: AlarmService;
  runner: AccessRulesRunner;
  events: DeviceEvent[];
  tenants: RegisteredTenant[];
  lastSeen: Map<string, number>;
  access(r: Partial<AccessRecord>): Promise<void>;
  points(device: string, values: Record<string, string>): void;
  /** Alarms of kind `alarm` in the store, oldest first. */
  stored(): Alarm[];
}

let seq = 0;
function rig(config: AccessRulesInput = {}, store?: Store, now = { t: NOON }): Rig {
  const s = store ?? openStore({ memory: true });
  if (!store) stores.push(s);
  const bus = new EventBus((event, err) => {
    throw new Error(`listener for ${event} failed: ${String(err)}`);
  });
  const alarms = new AlarmService({ store: s, bus, site: 'v1', log: silentLogger(), clock: () => now.t });
  const doors: Record<string, DoorInfo> = {
    'L-101': { device: 'L-101', profile: lock, building: 'B1', room: 'R-101', location: { building: 'B1', room: '101' } },
    'L-102': { device: 'L-102', profile: lock, building: 'B1', room: 'R-102' },
    'GATE-B1': { device: 'GATE-B1', profile: controller, building: 'B1' },
    'GATE-B7': { device: 'GATE-B7', profile: controller, building: 'B7' },
    'D-201': { device: 'D-201', profile: contact, building: 'B7', room: 'R-201' },
    // A lock whose profile reports door and bolt but has no forced-open rule of its own.
    'L-900': { device: 'L-900', profile: { ...lock, id: 'plain-lock', events: lock.events.filter((e) => e.id !== 'door_forced') }, building: 'B1', room: 'R-900' },
  };
  const tenants: RegisteredTenant[] = [];
  const lastSeen = new Map<string, number>();
  const directory: RuleDirectory = { door: (d) => doors[d], registeredTenants: () => tenants, lastSeen: (t) => lastSeen.get(t) };
  const runner = new AccessRulesRunner({
    config: accessRulesSchema.parse(config),
    site: 'v1',
    timezone: 'Asia/Shanghai',
    bus,
    alarms,
    events: s,
    directory,
    log: silentLogger(),
    clock: () => now.t,
  });
  runners.push(runner);
  runner.start();
  const events: DeviceEvent[] = [];
  bus.on('event', (e) => {
    events.push(e);
  });
  return {
    now,
    store: s,
    bus,
    alarms,
    runner,
    events,
    tenants,
    lastSeen,
    access: async (p) => {
      bus.emit('access', {
        id: `P${++seq}`, site: 'v1', door: 'L-101', ts: now.t, method: 'fingerprint', slot: 3, result: 'granted', resolution: 'registered',
        credential: 'C-1', tenant: 'T-1', room: 'R-101', building: 'B1', duress: false, ...p,
      });
      await runner.idle();
    },
    points: (device, values) => {
      const points: Point[] = Object.entries(values).map(([point, value]) => ({ device, point, value, quality: 'good', ts: now.t }));
      bus.emit('points', { device, points });
    },
    stored: () => s.listAlarms({ limit: 1000 }).map((r) => r.alarm).filter((a) => a.kind === 'alarm').reverse(),
  };
}

const stranger = { resolution: 'unregistered' as const, result: 'denied' as const, credential: undefined, tenant: undefined, method: 'card' as const, slot: undefined, cardHash: 'ef'.repeat(32) };

describe('momentary warnings', () => {
  it('a stranger is an event and a warning; more strangers at that door re-trigger it; it ends after the hold', async () => {
    const r = rig();
    await r.access(stranger);
    r.now.t += 5 * MIN;
    await r.access({ ...stranger, cardHash: '12'.repeat(32) });
    expect(r.events.map((e) => [e.event, e.device, e.fields.cardHash])).toEqual([
      ['stranger', 'L-101', 'ef'.repeat(32)],
      ['stranger', 'L-101', '12'.repeat(32)],
    ]);
    expect(r.store.listEvents({ limit: 10 }).map((e) => e.event)).toEqual(['stranger', 'stranger']);
    const [warning, ...others] = r.stored();
    expect(others).toEqual([]);
    expect(warning).toMatchObject({ device: 'L-101', profile: 'generic-rs485-fingerprint-lock', rule: 'stranger', severity: 'warning', code: { cid: 421, sia: 'DD' }, latch: false, silent: false, location: { building: 'B1', room: 'R-101' } });
    expect(r.alarms.record(warning!.id)!.retriggers).toBe(1);
    // Held 30 min from the last trigger.
    r.now.t += 29 * MIN;
    r.runner.tick(r.now.t);
    expect(r.alarms.active().map((a) => a.rule)).toEqual(['stranger']);
    r.now.t += 1 * MIN;
    r.runner.tick(r.now.t);
    expect(r.alarms.active()).toEqual([]);
    expect(r.alarms.get(warning!.id)!.state).toBe('reset');
    // A stranger after the hold is a new warning.
    await r.access(stranger);
    expect(r.stored()).toHaveLength(2);
  });

  it('misuse warnings are per credential', async () => {
    const r = rig();
    await r.access({ resolution: 'cancelled', result: 'denied', credential: 'C-7', tenant: 'T-7' });
    await r.access({ resolution: 'lost', result: 'granted', credential: 'C-8', tenant: 'T-8' });
    await r.access({ resolution: 'cancelled', result: 'denied', credential: 'C-7', tenant: 'T-7' });
    expect(r.stored().map((a) => a.rule)).toEqual(['credential_cancelled:C-7', 'credential_lost:C-8']);
    expect(r.events).toEqual([]);
  });

  it('disabled in a building by override: nothing there, still on elsewhere', async () => {
    const r = rig({ buildings: { B7: { stranger: { enabled: false } } } });
    await r.access({ ...stranger, door: 'GATE-B7', building: 'B7', room: undefined });
    expect(r.stored()).toEqual([]);
    expect(r.events).toEqual([]);
    await r.access({ ...stranger, door: 'GATE-B1', room: undefined });
    expect(r.stored().map((a) => [a.rule, a.device])).toEqual([['stranger', 'GATE-B1']]);
  });
});

describe('no double alarms with the device profiles', () => {
  it('a lock-reported duress (profile alarm raised in the same read) is not raised again', async () => {
    const r = rig();
    // What the device runtime does for the lock's `duress` event firing, before the pass is evaluated.
    r.alarms.raise({ device: 'L-101', profile: lock.id, rule: 'duress', name: { zh: '胁迫开门', en: 'Duress' }, code: { cid: 121, sia: 'HA' }, severity: 'emergency', silent: true, latch: true, ts: r.now.t });
    await r.access({ duress: true });
    const all = r.stored();
    expect(all).toHaveLength(1);
    expect(r.alarms.record(all[0]!.id)!.retriggers).toBe(0);
  });

  it('a registry-flagged duress card at a controller (no duress in its profile) raises one silent latched emergency', async () => {
    const r = rig();
    await r.access({ door: 'GATE-B1', method: 'card', duress: true, room: undefined });
    const [a, ...rest] = r.stored();
    expect(rest).toEqual([]);
    expect(a).toMatchObject({ device: 'GATE-B1', rule: 'duress', severity: 'emergency', silent: true, latch: true, code: { cid: 121, sia: 'HA' }, fields: { credential: 'C-1', tenant: 'T-1' } });
    // It latches: holds and ticks never end it.
    r.now.t += DAY;
    r.runner.tick(r.now.t);
    expect(r.alarms.active().map((x) => x.id)).toEqual([a!.id]);
  });

  it('a burst while the lock\'s own invalid_credential alarm is active adds nothing; without it, one warning', async () => {
    const r = rig();
    r.alarms.raise({ device: 'L-101', profile: lock.id, rule: 'invalid_credential', name: { zh: '多次验证失败', en: 'Repeated invalid credentials' }, code: { cid: 421, sia: 'JA' }, severity: 'warning' });
    for (let i = 0; i < 5; i++) {
      await r.access({ ...stranger, ts: r.now.t + i * 1000, door: 'L-101' });
    }
    expect(r.stored().map((a) => a.rule).sort()).toEqual(['invalid_credential', 'stranger']);
    for (let i = 0; i < 5; i++) await r.access({ ...stranger, ts: r.now.t + i * 1000, door: 'GATE-B1', room: undefined });
    expect(r.stored().map((a) => `${a.device}:${a.rule}`).sort()).toEqual(['GATE-B1:invalid_credential_burst', 'GATE-B1:stranger', 'L-101:invalid_credential', 'L-101:stranger']);
  });
});

describe('doors from points', () => {
  it('held open on a lock: warning at 60 s, alarm at 300 s, restores when closed', () => {
    const r = rig();
    r.points('L-101', { door: 'closed', bolt: 'unlocked' });
    r.points('L-101', { door: 'open' });
    r.now.t += 60_000;
    r.runner.tick(r.now.t);
    r.now.t += 240_000;
    r.runner.tick(r.now.t);
    expect(r.stored().map((a) => [a.rule, a.severity, a.code.sia])).toEqual([
      ['door_held_open', 'warning', 'DN'],
      ['door_held_open_alarm', 'critical', 'DN'],
    ]);
    r.now.t += 1000;
    r.points('L-101', { door: 'closed' });
    expect(r.alarms.active()).toEqual([]);
    const restores = r.store.listAlarms({ limit: 100 }).map((x) => x.alarm).filter((a) => a.kind === 'restore');
    expect(restores.map((a) => [a.rule, a.code.sia])).toEqual([
      ['door_held_open_alarm', 'DR'],
      ['door_held_open', 'DR'],
    ]);
  });

  it('the controller warns through its own profile; the rule only escalates; a building override changes the time', () => {
    const r = rig({ buildings: { B7: { heldOpen: { alarmAfterS: 120 } } } });
    r.points('GATE-B1', { door: 'closed', lock: 'locked' });
    r.points('GATE-B1', { door: 'open', lock: 'unlocked' });
    r.points('GATE-B7', { door: 'closed', lock: 'locked' });
    r.points('GATE-B7', { door: 'open', lock: 'unlocked' });
    r.now.t += 120_000;
    r.runner.tick(r.now.t);
    expect(r.stored().map((a) => [a.device, a.rule])).toEqual([['GATE-B7', 'door_held_open_alarm']]);
    r.now.t += 180_000;
    r.runner.tick(r.now.t);
    expect(r.stored().map((a) => [a.device, a.rule])).toEqual([
      ['GATE-B7', 'door_held_open_alarm'],
      ['GATE-B1', 'door_held_open_alarm'],
    ]);
  });

  it('forced open is left to profiles that have it; a door contact with no bolt point cannot be judged forced', () => {
    const r = rig();
    r.points('L-101', { door: 'closed', bolt: 'locked' });
    r.points('L-101', { door: 'open' });
    r.points('D-201', { contact: 'closed' });
    r.points('D-201', { contact: 'open' });
    expect(r.stored()).toEqual([]);
  });

  it('forced open is raised by the rule for a door whose profile lacks it, and restored when the door closes', () => {
    const r = rig();
    r.points('L-900', { door: 'closed', bolt: 'locked' });
    r.now.t += 5000;
    r.points('L-900', { door: 'open' });
    const [a, ...rest] = r.stored();
    expect(rest).toEqual([]);
    expect(a).toMatchObject({ device: 'L-900', profile: 'plain-lock', rule: 'door_forced', severity: 'critical', code: { cid: 423, sia: 'DF' }, latch: false, raisedAt: NOON + 5000 });
    r.now.t += 10_000;
    r.points('L-900', { door: 'closed' });
    expect(r.alarms.active()).toEqual([]);
    const restore = r.store.listAlarms({ limit: 10 }).map((x) => x.alarm).find((x) => x.kind === 'restore');
    expect(restore).toMatchObject({ rule: 'door_forced', code: { cid: 423, sia: 'DR' }, restores: a!.id });
  });

  it('points of devices that are not doors, and other points of doors, are ignored', () => {
    const r = rig();
    r.points('SIREN-1', { siren: 'on' });
    r.points('L-101', { battery_low: 'low', tamper: 'tampered' });
    r.now.t += DAY;
    r.runner.tick(r.now.t);
    expect(r.stored()).toEqual([]);
  });
});

describe('maintenance', () => {
  it('a profile tamper alarm becomes one maintenance event (open), its restore another (closed); no new alarm', () => {
    const r = rig();
    const tamper = { device: 'L-101', profile: lock.id, rule: 'tamper', name: { zh: '防拆报警', en: 'Tamper' }, code: { cid: 137, sia: 'TA' }, severity: 'critical' as const, restore: true, restoreSia: 'TR' };
    const a = r.alarms.raise(tamper);
    r.alarms.transition(a.id, 'queued', { by: 'outbox' });
    r.alarms.clear({ device: 'L-101', rule: 'tamper' });
    expect(r.events.map((e) => [e.event, e.fields.issue, e.fields.status, e.fields.alarm])).toEqual([
      ['maintenance', 'tamper', 'open', a.id],
      ['maintenance', 'tamper', 'closed', a.id],
    ]);
    expect(r.stored().map((x) => x.rule)).toEqual(['tamper']);
  });
});

describe('daily 人房不一致 check', () => {
  it('runs at 03:00 local, raises for the absent tenant, and a pass ends it at once', async () => {
    const r = rig();
    r.tenants.push({ tenant: 'T-1', room: 'R-101', building: 'B1', door: 'L-101', since: NOON - 60 * DAY }, { tenant: 'T-2', room: 'R-102', building: 'B1', door: 'L-102', since: NOON - 60 * DAY });
    r.lastSeen.set('T-1', NOON - DAY);
    r.lastSeen.set('T-2', NOON - 10 * DAY);
    // 03:00 on 2026-03-03 in Shanghai = 2026-03-02 19:00 UTC.
    expect(r.runner.nextDailyCheckAt).toBe(Date.UTC(2026, 2, 2, 19, 0));
    r.now.t = Date.UTC(2026, 2, 2, 18, 59);
    r.runner.tick(r.now.t);
    expect(r.stored()).toEqual([]);
    r.now.t = Date.UTC(2026, 2, 2, 19, 0);
    r.runner.tick(r.now.t);
    const [w, ...rest] = r.stored();
    expect(rest).toEqual([]);
    expect(w).toMatchObject({ device: 'L-102', rule: 'tenant_not_seen:T-2', severity: 'warning', code: {}, fields: { tenant: 'T-2', absentDays: 10 } });
    expect(r.runner.nextDailyCheckAt).toBe(Date.UTC(2026, 2, 3, 19, 0));
    // Back at last, through the building gate: the warning ends, with no restore (no code).
    r.now.t += 3_600_000;
    await r.access({ door: 'GATE-B1', tenant: 'T-2', credential: 'C-2', room: 'R-102' });
    expect(r.alarms.active()).toEqual([]);
    expect(r.store.listAlarms({ limit: 10 }).map((x) => x.alarm.kind)).toEqual(['alarm']);
  });
});

describe('restart', () => {
  it('a new runner on the same store ends momentary warnings on time and not-seen warnings when the tenant returns', async () => {
    const first = rig();
    first.tenants.push({ tenant: 'T-2', room: 'R-102', building: 'B1', door: 'L-102', since: NOON - 60 * DAY });
    first.runner.runDailyCheck(first.now.t);
    await first.access(stranger);
    first.runner.stop();
    expect(first.alarms.active().map((a) => a.rule).sort()).toEqual(['stranger', 'tenant_not_seen:T-2']);

    first.now.t += 10 * MIN;
    const second = rig({}, first.store, first.now);
    expect(second.alarms.active()).toHaveLength(2);
    second.now.t += 19 * MIN;
    second.runner.tick(second.now.t);
    expect(second.alarms.active().map((a) => a.rule).sort()).toEqual(['stranger', 'tenant_not_seen:T-2']);
    second.now.t += 1 * MIN;
    second.runner.tick(second.now.t);
    expect(second.alarms.active().map((a) => a.rule)).toEqual(['tenant_not_seen:T-2']);
    await second.access({ door: 'L-102', tenant: 'T-2', credential: 'C-2', room: 'R-102' });
    expect(second.alarms.active()).toEqual([]);
  });
});

describe('configRuleDirectory', () => {
  it('knows doors by profile or by room, takes building and room from the registry, and re-reads rooms when stale', () => {
    const now = { t: NOON };
    const rooms = [{ id: 'R-101', building: 'B1', number: '101', doors: ['L-101'] }];
    const siren = loadProfileFile('device-profiles/generic-siren-strobe.yaml');
    const dir = configRuleDirectory({
      devices: [
        { config: { id: 'L-101', location: { building: 'OLD', room: '101' } }, profile: lock },
        { config: { id: 'GATE-B1', location: { building: 'B1' } }, profile: controller },
        { config: { id: 'SIREN-1' }, profile: siren },
        { config: { id: 'L-102' }, profile: lock },
      ],
      rooms: () => rooms,
      registeredTenants: () => [],
      lastSeen: () => undefined,
      clock: () => now.t,
    });
    expect(dir.door('L-101')).toMatchObject({ device: 'L-101', building: 'B1', room: 'R-101', location: { building: 'OLD', room: '101' } });
    expect(dir.door('GATE-B1')).toMatchObject({ building: 'B1' });
    expect(dir.door('GATE-B1')!.room).toBeUndefined();
    expect(dir.door('SIREN-1')).toBeUndefined();
    expect(dir.door('L-102')!.room).toBeUndefined();
    rooms.push({ id: 'R-102', building: 'B2', number: '102', doors: ['L-102'] });
    expect(dir.door('L-102')!.room).toBeUndefined(); // cached
    now.t += 30_000;
    expect(dir.door('L-102')).toMatchObject({ room: 'R-102', building: 'B2' });
  });
});
