/**
 * A scripted village day (issue #5 "simulated behaviour"): tenants who come and go, a stranger
 * trying a card at the building gate, a moved-out tenant trying their old slot, a propped door,
 * a duress entry at a lock and a duress card at the gate, a lock's battery running low, and the
 * next morning's 人房不一致 check. Register values go through the real device runtime (real
 * profiles, real rules engine), passes through the real access log and registry, into a real
 * SQLite store, a real AlarmService and the real access-rules runner. The day must produce exactly
 * the expected events, warnings and alarms, and nothing else.
 *
 * The pollers are simulated by re-reading every device's current values each second while time
 * passes (as the real pollers do), so points stay fresh; long quiet hours are skipped with one
 * fresh read at the new time.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessLog } from '../../gateway/src/access/access-log.js';
import { PiiCrypto } from '../../gateway/src/access/pii-crypto.js';
import { Registry } from '../../gateway/src/access/registry.js';
import { openReportDatabase } from '../../gateway/src/access/reports/index.js';
import { accessRulesSchema } from '../../gateway/src/access/rules/config.js';
import { configRuleDirectory } from '../../gateway/src/access/rules/directory.js';
import { AccessRulesRunner } from '../../gateway/src/access/rules/runner.js';
import { sqlTenantQueries } from '../../gateway/src/access/rules/tenant-queries.js';
import type { AccessRecord } from '../../gateway/src/access/types.js';
import { AlarmService } from '../../gateway/src/alarms/alarm-service.js';
import { deviceSchema, pollingSchema } from '../../gateway/src/config/schema.js';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import { LastValueState } from '../../gateway/src/core/state.js';
import type { Alarm, DeviceEvent, PointValue } from '../../gateway/src/core/types.js';
import { silentLogger } from '../../gateway/src/log.js';
import { loadProfileFile } from '../../gateway/src/profiles/registry.js';
import { DeviceRuntime, type RuntimeDevice } from '../../gateway/src/runtime/device-runtime.js';
import type { SqliteDatabase } from '../../gateway/src/store/sqlite.js';
import { openStore, type Store } from '../../gateway/src/store/store.js';

const DAY = 86_400_000;
/** 2026-03-10 00:00 in Shanghai. */
const D = Date.UTC(2026, 2, 9, 16, 0);
const at = (hh: number, mm = 0, ss = 0, day = 0) => D + day * DAY + ((hh * 60 + mm) * 60 + ss) * 1000;

const lockProfile = loadProfileFile('device-profiles/generic-rs485-fingerprint-lock.yaml');
const gateProfile = loadProfileFile('device-profiles/generic-access-controller.yaml');

let dir: string;
let store: Store;
let readDb: SqliteDatabase;
let bus: EventBus;
let alarms: AlarmService;
let runtime: DeviceRuntime;
let runner: AccessRulesRunner;
let accessLog: AccessLog;
const now = { t: at(6) };
const events: DeviceEvent[] = [];
const records: AccessRecord[] = [];
const busAlarms: Alarm[] = [];
const listenerErrors: string[] = [];
/** What the simulated pollers read from each device (every point the script touches). */
const registers: Record<string, Record<string, PointValue>> = {
  'L-101': { door: 'closed', bolt: 'locked', tamper: 'normal', battery_low: 'normal', event_seq: 0, last_user: 0, last_method: 'none', last_result: 'granted', alarm_code: 'none', invalid_count: 0 },
  'L-102': { door: 'closed', bolt: 'locked', tamper: 'normal', battery_low: 'normal', event_seq: 0, last_user: 0, last_method: 'none', last_result: 'granted', alarm_code: 'none', invalid_count: 0 },
  'L-103': { door: 'closed', bolt: 'locked', tamper: 'normal', battery_low: 'normal', event_seq: 0, last_user: 0, last_method: 'none', last_result: 'granted', alarm_code: 'none', invalid_count: 0 },
  'GATE-B1': { door: 'closed', lock: 'locked', exit_button: 'released', event_seq: 0, last_card: 0, last_method: 'none', last_result: 'granted', last_user: 0 },
};

async function settle(): Promise<void> {
  // The access log writes a burst on the next turn of the event loop, then the rules run in a microtask.
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  await runner.idle();
}

/** One poll of every device at the current time (changed registers applied first). */
async function read(changes: Record<string, Record<string, PointValue>> = {}): Promise<void> {
  for (const [device, values] of Object.entries(changes)) Object.assign(registers[device]!, values);
  for (const [device, values] of Object.entries(registers)) runtime.ingest({ device, values: { ...values }, ts: now.t, pollClass: 'fast' });
  runtime.tick(now.t);
  runner.tick(now.t);
  await settle();
}

/** Let `seconds` pass, polling every second. */
async function pass(seconds: number): Promise<void> {
  for (let i = 0; i < seconds; i++) {
    now.t += 1000;
    await read();
  }
}

/** Jump to a later time (quiet hours): one fresh poll there. */
async function jump(to: number): Promise<void> {
  now.t = to;
  await read();
}

/** A granted pass at a lock: the user's slot, bolt drawn, door opened and closed, bolt thrown again. */
async function lockPass(lock: string, slot: number, result: 'granted' | 'duress' = 'granted', openS = 4): Promise<void> {
  const seq = (registers[lock]!.event_seq as number) + 1;
  await read({ [lock]: { event_seq: seq, last_user: slot, last_method: 'fingerprint', last_result: result, bolt: 'unlocked' } });
  await pass(1);
  await read({ [lock]: { door: 'open' } });
  await pass(openS);
  await read({ [lock]: { door: 'closed' } });
  await pass(1);
  await read({ [lock]: { bolt: 'locked' } });
}

async function lockDenied(lock: string, slot: number): Promise<void> {
  const r = registers[lock]!;
  await read({ [lock]: { event_seq: (r.event_seq as number) + 1, last_user: slot, last_method: 'fingerprint', last_result: 'denied', invalid_count: (r.invalid_count as number) + 1 } });
}

async function gateCard(card: number, granted: boolean): Promise<void> {
  const seq = (registers['GATE-B1']!.event_seq as number) + 1;
  if (!granted) {
    await read({ 'GATE-B1': { event_seq: seq, last_card: card, last_method: 'card', last_result: 'denied', last_user: 0 } });
    return;
  }
  await read({ 'GATE-B1': { event_seq: seq, last_card: card, last_method: 'card', last_result: 'granted', last_user: 0, lock: 'unlocked' } });
  await pass(1);
  await read({ 'GATE-B1': { door: 'open' } });
  await pass(3);
  await read({ 'GATE-B1': { door: 'closed' } });
  await pass(1);
  await read({ 'GATE-B1': { lock: 'locked' } });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-access-day-'));
  store = openStore({ dir });
  bus = new EventBus((event, err) => listenerErrors.push(`${event}: ${String(err)}`));
  const clock = () => now.t;
  alarms = new AlarmService({ store, bus, site: 'v1', log: silentLogger(), clock });
  const registry = new Registry({ table: store.registry, crypto: new PiiCrypto(randomBytes(32)), clock });
  registry.createBuilding({ id: 'B1', site: 'v1', name: '一号楼' });
  registry.createRoom({ id: 'R-101', building: 'B1', number: '101', doors: ['L-101'], linkageGroup: 'LG-1' });
  registry.createRoom({ id: 'R-102', building: 'B1', number: '102', doors: ['L-102'], linkageGroup: 'LG-1' });
  registry.createRoom({ id: 'R-103', building: 'B1', number: '103', doors: ['L-103'], linkageGroup: 'LG-1' });
  for (const id of ['T-1', 'T-2', 'T-3', 'T-4', 'T-5']) registry.createTenant({ id });
  const lease = { validFrom: D - 20 * DAY, validTo: D + 300 * DAY };
  registry.createCredential({ id: 'C-1', tenant: 'T-1', room: 'R-101', kind: 'lock_slot', door: 'L-101', slot: 1, ...lease });
  registry.createCredential({ id: 'C-1c', tenant: 'T-1', room: 'R-101', kind: 'card', cardNumber: '700001', ...lease });
  registry.createCredential({ id: 'C-2', tenant: 'T-2', room: 'R-101', kind: 'lock_slot', door: 'L-101', slot: 2, ...lease });
  registry.createCredential({ id: 'C-3', tenant: 'T-3', room: 'R-102', kind: 'lock_slot', door: 'L-102', slot: 1, ...lease });
  // T-3's duress card: opens the gate as normal and raises a silent alarm.
  registry.createCredential({ id: 'C-3d', tenant: 'T-3', room: 'R-102', kind: 'card', cardNumber: '700009', duress: true, ...lease });
  // T-4 moved out last week: the manager cancelled the slot (the lock still has it, but denies: the registry explains why).
  registry.createCredential({ id: 'C-4', tenant: 'T-4', room: 'R-103', kind: 'lock_slot', door: 'L-103', slot: 1, ...lease });
  registry.setCredentialState('C-4', 'cancelled', 'manager-li', 'moved out');
  // T-5 is registered in room 103 but has not come through a door in the 20 days of the lease.
  registry.createCredential({ id: 'C-5', tenant: 'T-5', room: 'R-103', kind: 'lock_slot', door: 'L-103', slot: 2, ...lease });

  const polling = pollingSchema.parse({});
  const devices: RuntimeDevice[] = [
    { config: deviceSchema.parse({ id: 'L-101', profile: lockProfile.id, bus: 'rs485', unitId: 1, location: { building: 'B1', room: '101' } }), profile: lockProfile, polling },
    { config: deviceSchema.parse({ id: 'L-102', profile: lockProfile.id, bus: 'rs485', unitId: 2, location: { building: 'B1', room: '102' } }), profile: lockProfile, polling },
    { config: deviceSchema.parse({ id: 'L-103', profile: lockProfile.id, bus: 'rs485', unitId: 3, location: { building: 'B1', room: '103' } }), profile: lockProfile, polling },
    { config: deviceSchema.parse({ id: 'GATE-B1', profile: gateProfile.id, bus: 'rs485', unitId: 10, location: { building: 'B1' } }), profile: gateProfile, polling },
  ];
  runtime = new DeviceRuntime({ site: 'v1', devices, state: new LastValueState({ staleAfterIntervals: 3 }), bus, alarms, store, log: silentLogger(), clock });
  accessLog = new AccessLog({ table: store.accessLog, registry, log: silentLogger(), clock });
  accessLog.attach(bus);
  readDb = openReportDatabase(dir);
  const tenants = sqlTenantQueries(readDb);
  runner = new AccessRulesRunner({
    config: accessRulesSchema.parse({}),
    site: 'v1',
    timezone: 'Asia/Shanghai',
    bus,
    alarms,
    events: store,
    directory: configRuleDirectory({ devices, rooms: () => registry.listRooms(), registeredTenants: tenants.registeredTenants, lastSeen: tenants.lastSeen }),
    log: silentLogger(),
    clock,
  });
  runner.start();
  bus.on('event', (e) => {
    events.push(e);
  });
  bus.on('access', (r) => {
    records.push(r);
  });
  bus.on('alarm', (a) => {
    busAlarms.push(a);
  });

  // ---- the day ------------------------------------------------------------------------------
  await read(); // 06:00 first poll: nothing happens on first values
  await jump(at(7, 30));
  await lockPass('L-101', 1); // T-1 leaves his room…
  await pass(20);
  await gateCard(700001, true); // …and the building
  await jump(at(8, 0));
  await lockPass('L-101', 2); // T-2 leaves her room (out through the gate's exit side)

  await jump(at(10, 0)); // a stranger tries an unknown card at the gate, five times in 80 s
  for (let i = 0; i < 5; i++) {
    await gateCard(424242, false);
    if (i < 4) await pass(20);
  }

  await jump(at(12, 0));
  await lockDenied('L-103', 1); // T-4, moved out, tries his old slot

  await jump(at(14, 0));
  await lockPass('L-102', 1, 'granted', 360); // T-3 comes home and props the door open for 6 minutes

  await jump(at(19, 0));
  await gateCard(700001, true); // T-1 comes home
  await pass(30);
  await lockPass('L-101', 1);
  await jump(at(20, 0));
  await lockPass('L-101', 2, 'duress'); // T-2 is forced to open her door: duress finger
  await jump(at(21, 0));
  await gateCard(700009, true); // T-3 at the gate with his duress card
  await jump(at(22, 0));
  await read({ 'L-103': { battery_low: 'low' } }); // room 103's lock battery runs low
  await jump(at(23, 59));
  await jump(at(3, 0, 0, 1)); // 03:00 the next morning: the daily check
  await pass(2);
}, 30_000);

afterAll(() => {
  runner?.stop();
  accessLog?.stop();
  runtime?.stop();
  readDb?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const local = (ts: number) => new Date(ts + 8 * 3_600_000).toISOString().slice(11, 19);

describe('a village day', () => {
  it('no listener failed and no rule decision failed', () => {
    expect(listenerErrors).toEqual([]);
    expect(runner.stats().errors).toBe(0);
  });

  it('every pass is logged and resolved against the registry', () => {
    expect(records.map((r) => [local(r.ts), r.door, r.result, r.resolution, r.tenant ?? '-', r.duress])).toEqual([
      ['07:30:00', 'L-101', 'granted', 'registered', 'T-1', false],
      ['07:30:26', 'GATE-B1', 'granted', 'registered', 'T-1', false],
      ['08:00:00', 'L-101', 'granted', 'registered', 'T-2', false],
      ['10:00:00', 'GATE-B1', 'denied', 'unregistered', '-', false],
      ['10:00:20', 'GATE-B1', 'denied', 'unregistered', '-', false],
      ['10:00:40', 'GATE-B1', 'denied', 'unregistered', '-', false],
      ['10:01:00', 'GATE-B1', 'denied', 'unregistered', '-', false],
      ['10:01:20', 'GATE-B1', 'denied', 'unregistered', '-', false],
      ['12:00:00', 'L-103', 'denied', 'cancelled', 'T-4', false],
      ['14:00:00', 'L-102', 'granted', 'registered', 'T-3', false],
      ['19:00:00', 'GATE-B1', 'granted', 'registered', 'T-1', false],
      ['19:00:35', 'L-101', 'granted', 'registered', 'T-1', false],
      ['20:00:00', 'L-101', 'granted', 'registered', 'T-2', true],
      ['21:00:00', 'GATE-B1', 'granted', 'registered', 'T-3', true],
    ]);
    expect(accessLog.stats().ingested).toBe(14);
  });

  it('produces exactly the expected alarms and warnings', () => {
    const raised = store
      .listAlarms({ limit: 1000 })
      .map((r) => r.alarm)
      .filter((a) => a.kind === 'alarm')
      .reverse();
    expect(raised.map((a) => [local(a.raisedAt), a.device, a.rule, a.severity, a.code.cid ?? null, a.code.sia ?? null, a.silent, a.latch])).toEqual([
      ['10:00:00', 'GATE-B1', 'stranger', 'warning', 421, 'DD', false, false],
      ['10:01:20', 'GATE-B1', 'invalid_credential_burst', 'warning', 421, 'JA', false, false],
      ['12:00:00', 'L-103', 'credential_cancelled:C-4', 'warning', 421, 'DD', false, false],
      ['14:01:01', 'L-102', 'door_held_open', 'warning', 426, 'DN', false, false],
      ['14:05:01', 'L-102', 'door_held_open_alarm', 'critical', 426, 'DN', false, false],
      ['20:00:00', 'L-101', 'duress', 'emergency', 121, 'HA', true, true],
      ['21:00:00', 'GATE-B1', 'duress', 'emergency', 121, 'HA', true, true],
      ['22:00:00', 'L-103', 'low_battery', 'warning', 302, 'YT', false, false],
      ['03:00:00', 'L-103', 'tenant_not_seen:T-5', 'warning', null, null, false, false],
    ]);
    // The lock reported the duress itself: the profile's alarm is the only one, not even re-triggered by the rules.
    const lockDuress = raised.find((a) => a.device === 'L-101' && a.rule === 'duress')!;
    expect(lockDuress.profile).toBe('generic-rs485-fingerprint-lock');
    expect(alarms.record(lockDuress.id)!.retriggers).toBe(0);
    // The gate knows no duress: the registry's duress card raised it through the rules.
    const gateDuress = raised.find((a) => a.device === 'GATE-B1' && a.rule === 'duress')!;
    expect(gateDuress.fields).toMatchObject({ credential: 'C-3d', tenant: 'T-3', method: 'card' });
    // Five stranger attempts: one warning, re-triggered four times.
    expect(alarms.record(raised[0]!.id)!.retriggers).toBe(4);
    expect(raised.find((a) => a.rule === 'tenant_not_seen:T-5')!.fields).toMatchObject({ tenant: 'T-5', room: 'R-103', lastSeen: null, absentDays: 21 });
  });

  it('restores exactly where a condition ended with a restore code', () => {
    const restores = store
      .listAlarms({ limit: 1000 })
      .map((r) => r.alarm)
      .filter((a) => a.kind === 'restore')
      .reverse();
    expect(restores.map((a) => [local(a.raisedAt), a.device, a.rule, a.code.sia])).toEqual([
      ['14:06:01', 'L-102', 'door_held_open', 'DR'],
      ['14:06:01', 'L-102', 'door_held_open_alarm', 'DR'],
    ]);
  });

  it('what is still active the next morning: the latched duress alarms, the low battery and the not-seen tenant', () => {
    expect(
      alarms
        .active()
        .map((a) => `${a.device}:${a.rule}`)
        .sort(),
    ).toEqual(['GATE-B1:duress', 'L-101:duress', 'L-103:low_battery', 'L-103:tenant_not_seen:T-5']);
    // The momentary warnings ended 30 minutes after their last trigger.
    const ended = store
      .listAlarms({ limit: 1000 })
      .map((r) => r.alarm)
      .filter((a) => ['stranger', 'invalid_credential_burst', 'credential_cancelled:C-4'].includes(a.rule));
    expect(ended.map((a) => a.state)).toEqual(['reset', 'reset', 'reset']);
    const strangerEnd = alarms.history(ended.find((a) => a.rule === 'stranger')!.id).at(-1)!;
    expect([local(strangerEnd.at), strangerEnd.to, strangerEnd.by]).toEqual(['12:00:00', 'reset', 'access-rules:hold-ended']);
  });

  it('produces exactly the expected events besides the passes', () => {
    const other = events.filter((e) => e.kind !== 'access');
    expect(other.map((e) => [local(e.ts), e.device, e.event, e.fields.issue ?? e.fields.resolution ?? null])).toEqual([
      ['10:00:00', 'GATE-B1', 'stranger', 'unregistered'],
      ['10:00:20', 'GATE-B1', 'stranger', 'unregistered'],
      ['10:00:40', 'GATE-B1', 'stranger', 'unregistered'],
      ['10:01:00', 'GATE-B1', 'stranger', 'unregistered'],
      ['10:01:20', 'GATE-B1', 'stranger', 'unregistered'],
      ['22:00:00', 'L-103', 'maintenance', 'low_battery'],
    ]);
    expect(other.at(-1)!.fields).toMatchObject({ issue: 'low_battery', status: 'open', rule: 'low_battery' });
    // The same events are in the store (stored before they were published), with the 14 passes.
    const stored = store.listEvents({ limit: 1000 });
    expect(stored.filter((e) => e.kind === 'device').map((e) => e.event).sort()).toEqual(['maintenance', 'stranger', 'stranger', 'stranger', 'stranger', 'stranger']);
    expect(stored.filter((e) => e.kind === 'access')).toHaveLength(14);
  });

  it('every alarm reached the bus only after it was stored, once per state', () => {
    const firstRaised = busAlarms.filter((a) => a.state === 'raised' && a.kind === 'alarm');
    expect(firstRaised).toHaveLength(9);
    for (const a of firstRaised) expect(store.getAlarm(a.id)).toBeDefined();
  });
});
