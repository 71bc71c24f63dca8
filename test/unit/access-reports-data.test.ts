/**
 * The three reports over a small village written through the real Registry, the real access-log
 * table and the real AlarmService into a store file, read back through a read-only connection:
 * exact JSON, documented CSV columns, and masking.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PiiCrypto } from '../../gateway/src/access/pii-crypto.js';
import { Registry } from '../../gateway/src/access/registry.js';
import {
  ANOMALY_INDEX_SQL,
  AccessReports,
  notSeenCsv,
  occupancyColumns,
  occupancyCsv,
  openReportDatabase,
  passColumns,
  residentColumns,
  roomColumns,
  shareableCsv,
  threeHighsCsv,
  type OccupancyReport,
} from '../../gateway/src/access/reports/index.js';
import { anomalySource } from '../../gateway/src/access/reports/scan.js';
import type { AccessRecord } from '../../gateway/src/access/types.js';
import { AlarmService } from '../../gateway/src/alarms/alarm-service.js';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import { silentLogger } from '../../gateway/src/log.js';
import type { SqliteDatabase } from '../../gateway/src/store/sqlite.js';
import { openStore, STORE_FILE_NAME, type Store } from '../../gateway/src/store/store.js';

const DAY = 86_400_000;
const H = 3_600_000;
/** 2026-03-10 00:00 Shanghai (a Tuesday). */
const NOW = Date.UTC(2026, 2, 9, 16, 0);
const ID_NUMBER = '440106199001011234';

let dir: string;
let store: Store;
let registry: Registry;
let db: SqliteDatabase;
let reports: AccessReports;
let seq = 0;

function pass(p: Partial<AccessRecord> & { ts: number; door: string }): AccessRecord {
  return { id: `P${String(++seq).padStart(4, '0')}`, site: 'v1', method: 'fingerprint', result: 'granted', resolution: 'registered', duress: false, ...p };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sw-reports-'));
  store = openStore({ dir });
  registry = new Registry({ table: store.registry, crypto: new PiiCrypto(randomBytes(32)), clock: () => NOW - 30 * DAY });
  registry.createBuilding({ id: 'B1', site: 'v1', name: '一号楼', address: '幸福村1巷1号' });
  registry.createBuilding({ id: 'B2', site: 'v1', name: '二号楼' });
  registry.createRoom({ id: 'R-101', building: 'B1', number: '101', floor: '1', doors: ['L-101'], linkageGroup: 'LG-1' });
  registry.createRoom({ id: 'R-102', building: 'B1', number: '102', floor: '1', doors: ['L-102'] });
  registry.createRoom({ id: 'R-201', building: 'B2', number: '201', floor: '2', doors: ['L-201'] });
  registry.createRoom({ id: 'R-202', building: 'B2', number: '202', floor: '2', doors: ['L-202'] });
  registry.createTenant({ id: 'T-1', name: '张三', idNumber: ID_NUMBER, phone: '13800001234' });
  registry.createTenant({ id: 'T-2', name: '李四' });
  registry.createTenant({ id: 'T-3' });
  registry.createTenant({ id: 'T-4', idNumber: '11010519491231002X' });
  registry.createTenant({ id: 'T-5' });
  const lease = { validFrom: NOW - 60 * DAY, validTo: NOW + 300 * DAY };
  registry.createCredential({ id: 'C-1', tenant: 'T-1', room: 'R-101', kind: 'lock_slot', door: 'L-101', slot: 1, ...lease });
  registry.createCredential({ id: 'C-1c', tenant: 'T-1', room: 'R-101', kind: 'card', cardNumber: '00123456', ...lease });
  registry.createCredential({ id: 'C-2', tenant: 'T-2', room: 'R-101', kind: 'lock_slot', door: 'L-101', slot: 2, ...lease });
  registry.createCredential({ id: 'C-3', tenant: 'T-3', room: 'R-102', kind: 'lock_slot', door: 'L-102', slot: 1, ...lease });
  // T-4 moved in 3 days ago and has not come through a door yet: new, not an anomaly.
  registry.createCredential({ id: 'C-4', tenant: 'T-4', room: 'R-201', kind: 'lock_slot', door: 'L-201', slot: 1, validFrom: NOW - 3 * DAY, validTo: NOW + 300 * DAY });
  // T-5 moved out: credential cancelled; not registered any more.
  registry.createCredential({ id: 'C-5', tenant: 'T-5', room: 'R-102', kind: 'lock_slot', door: 'L-102', slot: 2, ...lease });
  registry.setCredentialState('C-5', 'cancelled', 'manager-li');

  store.accessLog.insertMany([
    // Registered passes. T-1 yesterday 08:00 local at the room and the gate; T-2 two days ago 23:30.
    pass({ ts: NOW - DAY + 8 * H, door: 'L-101', slot: 1, credential: 'C-1', tenant: 'T-1', room: 'R-101', building: 'B1' }),
    pass({ ts: NOW - DAY + 8 * H + 60_000, door: 'GATE-B1', method: 'card', cardHash: 'c1', credential: 'C-1c', tenant: 'T-1', room: 'R-101', building: 'B1' }),
    pass({ ts: NOW - 2 * DAY + 23.5 * H, door: 'L-101', slot: 2, credential: 'C-2', tenant: 'T-2', room: 'R-101', building: 'B1' }),
    // T-3 last seen 10 days ago.
    pass({ ts: NOW - 10 * DAY + 9 * H, door: 'L-102', slot: 1, credential: 'C-3', tenant: 'T-3', room: 'R-102', building: 'B1' }),
    // Strangers at the B1 gate (two cards, three tries) 02:xx local, last Sunday; one at a door in no building.
    pass({ ts: NOW - 2 * DAY + 2 * H, door: 'GATE-B1', method: 'card', cardHash: 'x1', result: 'denied', resolution: 'unregistered', building: 'B1' }),
    pass({ ts: NOW - 2 * DAY + 2 * H + 30_000, door: 'GATE-B1', method: 'card', cardHash: 'x1', result: 'denied', resolution: 'unregistered', building: 'B1' }),
    pass({ ts: NOW - 2 * DAY + 2 * H + 60_000, door: 'GATE-B1', method: 'card', cardHash: 'x2', result: 'denied', resolution: 'unregistered', building: 'B1' }),
    pass({ ts: NOW - 5 * DAY + 14 * H, door: 'X-9', method: 'card', cardHash: 'x3', result: 'denied', resolution: 'unregistered' }),
    // The moved-out tenant's cancelled slot, twice (the lock still opened once).
    pass({ ts: NOW - 4 * DAY + 21 * H, door: 'L-102', slot: 2, credential: 'C-5', tenant: 'T-5', room: 'R-102', building: 'B1', resolution: 'cancelled', result: 'granted' }),
    pass({ ts: NOW - 3 * DAY + 21 * H, door: 'L-102', slot: 2, credential: 'C-5', tenant: 'T-5', room: 'R-102', building: 'B1', resolution: 'cancelled', result: 'denied' }),
    // Older than the 30-day anomaly period: counted by 三高 over 90 days only.
    pass({ ts: NOW - 40 * DAY + 3 * H, door: 'L-201', result: 'denied', resolution: 'unregistered', building: 'B2', room: 'R-201' }),
  ]);

  const bus = new EventBus();
  const alarms = new AlarmService({ store, bus, site: 'v1', log: silentLogger(), clock: () => NOW });
  // Forced door at R-101 on Sunday 02:10 local; a held stranger warning at the gate; a tamper in B2; a not-seen warning.
  alarms.raise({ device: 'L-101', profile: 'generic-rs485-fingerprint-lock', rule: 'door_forced', name: { zh: '强行开门', en: 'Door forced' }, code: { cid: 423, sia: 'DF' }, severity: 'critical', ts: NOW - 2 * DAY + 2 * H + 600_000, location: { building: 'B1', room: 'R-101' } });
  alarms.raise({ device: 'GATE-B1', profile: 'generic-access-controller', rule: 'stranger', name: { zh: '陌生凭证', en: 'Stranger' }, code: { cid: 421, sia: 'DD' }, severity: 'warning', ts: NOW - 2 * DAY + 2 * H, location: { building: 'B1' } });
  alarms.raise({ device: 'L-201', profile: 'generic-rs485-fingerprint-lock', rule: 'tamper', name: { zh: '防拆', en: 'Tamper' }, code: { cid: 137, sia: 'TA' }, severity: 'critical', ts: NOW - 1 * DAY + 15 * H, location: { building: 'B2' } });
  alarms.raise({ device: 'L-102', profile: 'access-rules', rule: 'tenant_not_seen:T-3', name: { zh: '人房不一致', en: 'Not seen' }, code: {}, severity: 'warning', ts: NOW - 1 * DAY + 3 * H, location: { building: 'B1', room: 'R-102' } });
  db = openReportDatabase(dir);
  reports = new AccessReports(db);
});

afterAll(() => {
  db.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('人房一致 (occupancy) report', () => {
  let r: OccupancyReport;
  beforeAll(() => {
    r = reports.occupancy({ now: NOW, activeDays: 7, periodDays: 30 });
  });

  it('counts registered, active, not-seen and new tenants, strangers and misuse per building', () => {
    expect(r).toMatchObject({ kind: 'occupancy', activeDays: 7, periodDays: 30, from: NOW - 30 * DAY, to: NOW, unassigned: { strangers: 1, misuse: 0 } });
    expect(r.buildings).toEqual([
      {
        building: 'B1',
        name: '一号楼',
        rooms: 2,
        occupiedRooms: 2,
        registeredTenants: 3,
        activeTenants: 2,
        notSeenTenants: 1,
        newTenants: 0,
        activeRate: 0.6667,
        strangers: { passes: 3, doors: 1, cards: 2 },
        misuse: { expired: 0, lost: 0, returned: 0, cancelled: 2, credentials: 1 },
        notSeen: [{ tenant: 'T-3', room: 'R-102', roomNumber: '102', lastSeen: NOW - 10 * DAY + 9 * H, since: NOW - 60 * DAY, absentDays: 9 }],
      },
      {
        building: 'B2',
        name: '二号楼',
        rooms: 2,
        occupiedRooms: 1,
        registeredTenants: 1,
        activeTenants: 0,
        notSeenTenants: 0,
        newTenants: 1,
        activeRate: 0,
        strangers: { passes: 0, doors: 0, cards: 0 },
        misuse: { expired: 0, lost: 0, returned: 0, cancelled: 0, credentials: 0 },
        notSeen: [],
      },
    ]);
    expect(r.totals).toMatchObject({ rooms: 4, registeredTenants: 4, activeTenants: 2, notSeenTenants: 1, newTenants: 1, activeRate: 0.5 });
  });

  it('filters by building', () => {
    const b2 = reports.occupancy({ now: NOW, building: 'B2' });
    expect(b2.buildings.map((b) => b.building)).toEqual(['B2']);
    expect(b2.unassigned).toEqual({ strangers: 0, misuse: 0 });
  });

  it('CSV: one row per building in the documented columns; the not-seen list as its own CSV', () => {
    const lines = occupancyCsv(r, { bom: false }).trimEnd().split('\r\n');
    expect(lines[0]).toBe(occupancyColumns.map((c) => c.id).join(','));
    expect(lines[0]).toBe(
      'building,building_name,rooms,occupied_rooms,registered_tenants,active_tenants,active_rate,not_seen_tenants,new_tenants,stranger_passes,stranger_doors,stranger_cards,expired_passes,lost_passes,returned_passes,cancelled_passes,misused_credentials',
    );
    expect(lines.slice(1)).toEqual(['B1,一号楼,2,2,3,2,0.6667,1,0,3,1,2,0,0,0,2,1', 'B2,二号楼,2,1,1,0,0,0,1,0,0,0,0,0,0,0,0']);
    expect(notSeenCsv(r, { bom: false })).toBe(`building,room,room_number,tenant,last_seen,since,absent_days\r\nB1,R-102,102,T-3,${NOW - 10 * DAY + 9 * H},${NOW - 60 * DAY},9\r\n`);
    expect(occupancyCsv(r, { header: 'zh' }).startsWith('\uFEFF楼栋编号,楼栋名称,房间数,')).toBe(true);
  });
});

describe('三高 report', () => {
  it('counts alarms and anomalies by local hour × weekday × building × type', () => {
    const r = reports.threeHighs({ from: NOW - 90 * DAY, to: NOW, timeZone: 'Asia/Shanghai' });
    expect(r.totals).toEqual({ alarms: 4, anomalies: 7 });
    // Sunday 2026-03-08 02:xx local: the strangers, the forced door and the stranger warning.
    expect(r.cells).toEqual([
      { source: 'access', type: 'stranger', category: 'stranger', building: 'B1', hour: 2, weekday: 7, count: 3 },
      { source: 'access', type: 'credential_cancelled', category: 'credential', building: 'B1', hour: 21, weekday: 5, count: 1 },
      { source: 'access', type: 'credential_cancelled', category: 'credential', building: 'B1', hour: 21, weekday: 6, count: 1 },
      { source: 'alarm', type: 'door_forced', category: 'intrusion', building: 'B1', hour: 2, weekday: 7, count: 1 },
      { source: 'access', type: 'stranger', category: 'stranger', building: null, hour: 14, weekday: 4, count: 1 },
      { source: 'alarm', type: 'stranger', category: 'stranger', building: 'B1', hour: 2, weekday: 7, count: 1 },
      { source: 'access', type: 'stranger', category: 'stranger', building: 'B2', hour: 3, weekday: 4, count: 1 },
      { source: 'alarm', type: 'tamper', category: 'maintenance', building: 'B2', hour: 15, weekday: 1, count: 1 },
      { source: 'alarm', type: 'tenant_not_seen', category: 'occupancy', building: 'B1', hour: 3, weekday: 1, count: 1 },
    ]);
    expect(r.byHour[2]).toBe(5);
    expect(r.byHour.reduce((a, b) => a + b, 0)).toBe(11);
    expect(r.byWeekday).toEqual([2, 0, 0, 2, 1, 1, 5]);
    expect(r.byBuilding).toEqual([
      { building: 'B1', alarms: 3, anomalies: 5, count: 8 },
      { building: 'B2', alarms: 1, anomalies: 1, count: 2 },
      { building: null, alarms: 0, anomalies: 1, count: 1 },
    ]);
    expect(r.byType[0]).toEqual({ source: 'access', type: 'stranger', category: 'stranger', count: 5 });
    expect(r.hotDoors.slice(0, 2)).toEqual([
      { door: 'GATE-B1', building: 'B1', count: 4 },
      { door: 'L-102', building: 'B1', count: 3 },
    ]);
    expect(r.hotCells[0]).toEqual(r.cells[0]);
  });

  it('a shorter period and a building filter narrow it', () => {
    const r = reports.threeHighs({ from: NOW - 30 * DAY, to: NOW, timeZone: 'Asia/Shanghai', building: 'B2' });
    expect(r.totals).toEqual({ alarms: 1, anomalies: 0 });
  });

  it('the same instants read in UTC fall in other hours', () => {
    const r = reports.threeHighs({ from: NOW - 30 * DAY, to: NOW, timeZone: 'UTC' });
    expect(r.cells.find((c) => c.type === 'door_forced')).toMatchObject({ hour: 18, weekday: 6 });
  });

  it('CSV: one row per cell in the documented columns', () => {
    const r = reports.threeHighs({ from: NOW - 90 * DAY, to: NOW, timeZone: 'Asia/Shanghai' });
    const lines = threeHighsCsv(r, { bom: false }).trimEnd().split('\r\n');
    expect(lines[0]).toBe('source,type,category,building,weekday,hour,count');
    expect(lines[1]).toBe('access,stranger,stranger,B1,7,2,3');
    expect(lines).toHaveLength(10);
  });
});

describe('shareable export (一张表登记、一次性采集、多部门共享)', () => {
  const view = (unmask: boolean) => (id: string) => registry.getTenant(id, { unmask });

  it('rooms, residents (masked) and passes in documented columns', () => {
    const e = reports.shareable({ now: NOW, timeZone: 'Asia/Shanghai', tenantView: view(false) });
    expect(e.rooms).toEqual([
      { building: 'B1', buildingName: '一号楼', address: '幸福村1巷1号', room: 'R-101', number: '101', floor: '1', linkageGroup: 'LG-1', doors: 'L-101', registeredTenants: 2 },
      { building: 'B1', buildingName: '一号楼', address: '幸福村1巷1号', room: 'R-102', number: '102', floor: '1', linkageGroup: null, doors: 'L-102', registeredTenants: 1 },
      { building: 'B2', buildingName: '二号楼', address: null, room: 'R-201', number: '201', floor: '2', linkageGroup: null, doors: 'L-201', registeredTenants: 1 },
      { building: 'B2', buildingName: '二号楼', address: null, room: 'R-202', number: '202', floor: '2', linkageGroup: null, doors: 'L-202', registeredTenants: 0 },
    ]);
    expect(e.residents.map((r) => [r.room, r.tenant, r.name, r.idNumber, r.phone, r.credentials, r.credentialKinds])).toEqual([
      ['R-101', 'T-1', '张*', '4401**********1234', '138****1234', 2, 'card lock_slot'],
      ['R-101', 'T-2', '李*', null, null, 1, 'lock_slot'],
      ['R-102', 'T-3', null, null, null, 1, 'lock_slot'],
      ['R-201', 'T-4', null, '1101**********002X', null, 1, 'lock_slot'],
    ]);
    expect(e.residents[0]).toMatchObject({ leaseFrom: '2026-01-09T00:00:00+08:00', leaseTo: '2027-01-04T00:00:00+08:00' });
    // Passes of the last 7 days, oldest first, local time with offset.
    expect(e.passes.map((p) => [p.time, p.door, p.resolution, p.tenant])).toEqual([
      ['2026-03-05T14:00:00+08:00', 'X-9', 'unregistered', null],
      ['2026-03-06T21:00:00+08:00', 'L-102', 'cancelled', 'T-5'],
      ['2026-03-07T21:00:00+08:00', 'L-102', 'cancelled', 'T-5'],
      ['2026-03-08T02:00:00+08:00', 'GATE-B1', 'unregistered', null],
      ['2026-03-08T02:00:30+08:00', 'GATE-B1', 'unregistered', null],
      ['2026-03-08T02:01:00+08:00', 'GATE-B1', 'unregistered', null],
      ['2026-03-08T23:30:00+08:00', 'L-101', 'registered', 'T-2'],
      ['2026-03-09T08:00:00+08:00', 'L-101', 'registered', 'T-1'],
      ['2026-03-09T08:01:00+08:00', 'GATE-B1', 'registered', 'T-1'],
    ]);
    expect(e.passesTruncated).toBe(false);
    const rooms = shareableCsv(e, 'rooms', { bom: false }).split('\r\n');
    expect(rooms[0]).toBe(roomColumns.map((c) => c.id).join(','));
    expect(rooms[0]).toBe('building,building_name,address,room,room_number,floor,linkage_group,doors,registered_tenants');
    expect(rooms[1]).toBe('B1,一号楼,幸福村1巷1号,R-101,101,1,LG-1,L-101,2');
    const residents = shareableCsv(e, 'residents', { bom: false }).split('\r\n');
    expect(residents[0]).toBe(residentColumns.map((c) => c.id).join(','));
    expect(residents[0]).toBe('building,building_name,room,room_number,floor,tenant,name,id_number,phone,lease_from,lease_to,credentials,credential_kinds');
    expect(residents[1]).toBe('B1,一号楼,R-101,101,1,T-1,张*,4401**********1234,138****1234,2026-01-09T00:00:00+08:00,2027-01-04T00:00:00+08:00,2,card lock_slot');
    const passes = shareableCsv(e, 'passes', { header: 'zh' }).split('\r\n');
    expect(passes[0]).toBe(`\uFEFF${passColumns.map((c) => c.zh).join(',')}`);
  });

  it('never carries a clear ID number, name or phone, even when the registry was asked to unmask', () => {
    const e = reports.shareable({ now: NOW, timeZone: 'Asia/Shanghai', tenantView: view(true) });
    expect(registry.getTenant('T-1', { unmask: true })!.idNumber).toBe(ID_NUMBER);
    const all = ['rooms', 'residents', 'passes'].map((t) => shareableCsv(e, t as 'rooms')).join('\n') + JSON.stringify(e);
    expect(all).not.toContain(ID_NUMBER);
    expect(all).not.toContain('11010519491231002X');
    expect(all).not.toContain('张三');
    expect(all).not.toContain('13800001234');
    expect(e.residents[0]).toMatchObject({ name: '张*', idNumber: '4401**********1234', phone: '138****1234' });
    // No card hash and no slot in the export.
    expect(all).not.toContain('c1');
  });

  it('a building filter and a pass limit', () => {
    const e = reports.shareable({ now: NOW, timeZone: 'Asia/Shanghai', tenantView: view(false), building: 'B1', maxPasses: 2 });
    expect(e.rooms.map((r) => r.room)).toEqual(['R-101', 'R-102']);
    expect(e.passes).toHaveLength(2);
    expect(e.passesTruncated).toBe(true);
  });
});

describe('with the recommended anomaly index', () => {
  it('the reports read through it and say exactly the same', () => {
    // Migration 6 creates the index; drop it to see the reports without it first.
    const dropper = new Database(join(dir, STORE_FILE_NAME));
    dropper.exec('DROP INDEX IF EXISTS access_log_anomalies');
    dropper.close();
    const db1 = openReportDatabase(dir);
    const plain = new AccessReports(db1);
    const before = { o: plain.occupancy({ now: NOW }), t: plain.threeHighs({ from: NOW - 90 * DAY, to: NOW, timeZone: 'Asia/Shanghai' }) };
    expect(anomalySource(db1, NOW - 90 * DAY, NOW)).toBe('access_log NOT INDEXED');
    db1.close();
    const writer = new Database(join(dir, STORE_FILE_NAME));
    writer.exec(ANOMALY_INDEX_SQL);
    writer.close();
    const db2 = openReportDatabase(dir);
    try {
      expect(anomalySource(db2, NOW - 90 * DAY, NOW)).toBe('access_log INDEXED BY access_log_anomalies');
      const r2 = new AccessReports(db2);
      expect(r2.occupancy({ now: NOW })).toEqual(before.o);
      expect(r2.threeHighs({ from: NOW - 90 * DAY, to: NOW, timeZone: 'Asia/Shanghai' })).toEqual(before.t);
    } finally {
      db2.close();
    }
  });
});
