/**
 * The access log on a real SQLite file and a real EventBus: DeviceEvents in, resolved records
 * stored and then announced; bursts in one transaction; search; retention with an injected
 * clock (called and scheduled); ingest rate.
 */
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccessLog, DAY_MS } from '../../gateway/src/access/access-log.js';
import type { AccessRecord } from '../../gateway/src/access/types.js';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import { silentLogger } from '../../gateway/src/log.js';
import { accessFixture, controllerPass, DAY, lockPass, seedBuilding, T0, type AccessFixture } from './access-fixtures.js';

let f: AccessFixture;
let bus: EventBus;
let log: AccessLog;
let announced: AccessRecord[];
const nextTurn = () => new Promise((r) => setImmediate(r));

beforeEach(() => {
  f = accessFixture(T0 + 5 * DAY);
  seedBuilding(f.registry);
  f.registry.createTenant({ id: 'T-1' });
  f.registry.createTenant({ id: 'T-2' });
  f.registry.createCredential({ id: 'C-1', tenant: 'T-1', room: 'R-101', kind: 'lock_slot', door: 'lock-101', slot: 7, validFrom: T0, validTo: T0 + 30 * DAY });
  f.registry.createCredential({ id: 'K-2', tenant: 'T-2', room: 'R-102', kind: 'card', cardNumber: '778899', validFrom: T0, validTo: T0 + 30 * DAY });
  bus = new EventBus((event, err) => {
    throw new Error(`listener of ${event} failed: ${String(err)}`);
  });
  log = new AccessLog({ table: f.store.accessLog, registry: f.registry, log: silentLogger(), clock: () => f.clock.now, maxBatch: 500 });
  log.attach(bus);
  announced = [];
  bus.on('access', (r) => {
    // Stored before it is announced.
    expect(f.store.accessLog.get(r.id)).toEqual(r);
    announced.push(r);
  });
});
afterEach(() => {
  log.stop();
  f.close();
});

describe('ingest from the bus', () => {
  it('turns pass events into resolved records: tenant, stranger, card at the entrance, remote', async () => {
    const ts = T0 + DAY;
    bus.emit('event', lockPass('lock-101', 7, 'fingerprint', ts));
    bus.emit('event', lockPass('lock-101', 0, 'fingerprint', ts + 1, 'denied'));
    bus.emit('event', controllerPass('gate-A', 778899, 'card', ts + 2, 5));
    bus.emit('event', lockPass('lock-102', 0, 'remote', ts + 3));
    bus.emit('event', { ...lockPass('lock-101', 7, 'fingerprint', ts + 4), kind: 'device', event: 'exit_request' });
    expect(announced).toEqual([]); // written on the next turn, as one burst
    await nextTurn();
    expect(announced.map(({ id: _id, ...rest }) => rest)).toEqual([
      { site: 'testvillage', door: 'lock-101', ts, method: 'fingerprint', slot: 7, result: 'granted', resolution: 'registered', credential: 'C-1', tenant: 'T-1', room: 'R-101', building: 'A', duress: false },
      { site: 'testvillage', door: 'lock-101', ts: ts + 1, method: 'fingerprint', result: 'denied', resolution: 'unregistered', room: 'R-101', building: 'A', duress: false },
      {
        site: 'testvillage',
        door: 'gate-A',
        ts: ts + 2,
        method: 'card',
        slot: 5,
        cardHash: f.registry.hashCard('778899'),
        result: 'granted',
        resolution: 'registered',
        credential: 'K-2',
        tenant: 'T-2',
        room: 'R-102',
        building: 'A',
        duress: false,
      },
      { site: 'testvillage', door: 'lock-102', ts: ts + 3, method: 'remote', result: 'granted', resolution: 'no_credential', room: 'R-102', building: 'A', duress: false },
    ]);
    expect(log.stats()).toMatchObject({ ingested: 4, batches: 1, largestBatch: 4 });
    expect(JSON.stringify(f.store.database.prepare('SELECT * FROM access_log').all())).not.toContain('778899');
  });

  it('marks a duress pass reported by the lock, and logs a replayed event once', async () => {
    const e = lockPass('lock-101', 7, 'fingerprint', T0 + DAY, 'duress');
    bus.emit('event', e);
    bus.emit('event', e);
    await nextTurn();
    expect(announced[0]).toMatchObject({ result: 'granted', duress: true, tenant: 'T-1' });
    expect(f.store.accessLog.count()).toBe(1);
  });

  it('writes a burst in transactions of at most maxBatch, all of it, in order', async () => {
    const n = 2300;
    for (let i = 0; i < n; i++) bus.emit('event', lockPass('lock-101', i % 2 ? 7 : 99, 'fingerprint', T0 + DAY + i));
    await nextTurn();
    expect(announced).toHaveLength(n);
    expect(announced.map((r) => r.ts)).toEqual(Array.from({ length: n }, (_, i) => T0 + DAY + i));
    expect(log.stats()).toMatchObject({ ingested: n, batches: 5, largestBatch: 500 });
    expect(f.store.accessLog.count()).toBe(n);
  });

  it('sustains well over 1,000 passes/s (resolve + store + announce, real file, synchronous=FULL)', async () => {
    const n = 5000;
    const t = performance.now();
    for (let chunk = 0; chunk < n / 100; chunk++) {
      for (let i = 0; i < 100; i++) bus.emit('event', lockPass(`lock-10${1 + (i % 3)}`, 1 + (i % 9), 'fingerprint', T0 + DAY + chunk * 100 + i));
      await nextTurn();
    }
    const perSecond = n / ((performance.now() - t) / 1000);
    expect(announced).toHaveLength(n);
    expect(perSecond).toBeGreaterThan(1000);
  });
});

describe('search', () => {
  beforeEach(async () => {
    // 3 days of passes: T-1 at lock-101 every hour, strangers at lock-103 every 3 hours, T-2's card at the gate twice a day.
    for (let h = 0; h < 72; h++) {
      const ts = T0 + DAY + h * 3600_000;
      bus.emit('event', lockPass('lock-101', 7, h % 2 ? 'fingerprint' : 'pin', ts));
      if (h % 3 === 0) bus.emit('event', lockPass('lock-103', 0, 'fingerprint', ts + 1, 'denied'));
      if (h % 12 === 0) bus.emit('event', controllerPass('gate-A', 778899, 'card', ts + 2));
    }
    await nextTurn();
  });

  it('by room, tenant, method, resolution and time range, newest first', () => {
    expect(log.search({ room: 'R-101', limit: 1000 }).records).toHaveLength(72);
    expect(log.search({ tenant: 'T-2', limit: 1000 }).records.map((r) => r.door)).toEqual(Array(6).fill('gate-A'));
    expect(log.search({ method: 'pin', limit: 1000 }).records).toHaveLength(36);
    expect(log.search({ resolution: 'unregistered', room: 'R-103', limit: 1000 }).records).toHaveLength(24);
    const day2 = log.search({ from: T0 + 2 * DAY, to: T0 + 3 * DAY, tenant: 'T-1', limit: 1000 }).records;
    expect(day2).toHaveLength(24);
    expect(day2[0]!.ts).toBe(T0 + 3 * DAY - 3600_000);
    expect(day2.every((r, i) => i === 0 || r.ts < day2[i - 1]!.ts)).toBe(true);
  });

  it('pages with a cursor: every record once, no gaps', () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = log.search({ room: 'R-101', limit: 10, ...(cursor ? { cursor } : {}) });
      seen.push(...page.records.map((r) => r.id));
      cursor = page.next;
      pages++;
    } while (cursor);
    expect(pages).toBe(8);
    expect(new Set(seen).size).toBe(72);
  });
});

describe('retention', () => {
  it('deletes passes older than retentionDays (default 90) as of the injected clock, and the raw access events with them', async () => {
    const now = T0 + 200 * DAY;
    const old = lockPass('lock-101', 7, 'fingerprint', now - 91 * DAY);
    const edge = lockPass('lock-101', 7, 'fingerprint', now - 90 * DAY);
    const recent = lockPass('lock-101', 7, 'fingerprint', now - 89 * DAY);
    for (const e of [old, edge, recent]) {
      f.store.appendEvent(e);
      bus.emit('event', e);
    }
    f.store.appendEvent({ ...lockPass('lock-101', 7, 'x', now - 120 * DAY), kind: 'device', event: 'tamper' });
    await nextTurn();
    expect(log.retentionDays).toBe(90);
    const res = log.purge(now);
    expect(res).toEqual({ cutoff: now - 90 * DAY_MS, accessLog: 1, rawEvents: 1 });
    expect(log.search({ limit: 10 }).records.map((r) => r.id).sort()).toEqual([edge.id, recent.id].sort());
    expect(f.store.listEvents({ kind: 'access' }).map((e) => e.id).sort()).toEqual([edge.id, recent.id].sort());
    expect(f.store.listEvents({ kind: 'device' })).toHaveLength(1); // not an access record: not this module's to delete
  });

  it('runs on its schedule with the configured retention', async () => {
    const clock = { now: T0 + 10 * DAY };
    const scheduled = new AccessLog({ table: f.store.accessLog, registry: f.registry, log: silentLogger(), clock: () => clock.now, retentionDays: 7, purgeIntervalMs: 40 });
    scheduled.ingest([lockPass('lock-101', 7, 'fingerprint', T0 + 2 * DAY), lockPass('lock-101', 7, 'fingerprint', T0 + 4 * DAY)]);
    scheduled.start();
    expect(f.store.accessLog.count()).toBe(1); // the first purge runs at start: T0+2d < T0+10d-7d
    clock.now = T0 + 12 * DAY;
    const deadline = Date.now() + 5000;
    while (f.store.accessLog.count() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(f.store.accessLog.count()).toBe(0);
    expect(scheduled.stats().lastPurge).toMatchObject({ cutoff: T0 + 5 * DAY });
    scheduled.stop();
  });
});
