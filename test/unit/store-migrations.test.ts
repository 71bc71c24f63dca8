import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alarm } from '../../gateway/src/core/types.js';
import { isShouwangError } from '../../gateway/src/errors.js';
import { migrate, migrations } from '../../gateway/src/store/migrations.js';
import { openStore, STORE_FILE_NAME, type Store } from '../../gateway/src/store/store.js';
import { alarmFixture } from '../helpers/alarm-fixture.js';

const dirs: string[] = [];
const stores: Store[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sw-store-'));
  dirs.push(d);
  return d;
}
function open(dir: string, busyTimeoutMs?: number): Store {
  const s = openStore({ dir, busyTimeoutMs });
  stores.push(s);
  return s;
}
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function alarm(over: Partial<Alarm> = {}): Alarm {
  return alarmFixture({
    id: '01HZZZZZZZZZZZZZZZZZZZZZZ0',
    device: 'pole-1',
    state: 'raised',
    raisedAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_001,
    location: { building: 'B3', room: '201' },
    ...over,
  });
}

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

describe('store: open, pragmas, migrations', () => {
  it('creates <dir>/shouwang.db in WAL mode with synchronous=FULL and the newest schema', () => {
    const dir = join(tempDir(), 'nested', 'data');
    const s = open(dir);
    expect(s.file).toBe(join(dir, STORE_FILE_NAME));
    expect(s.database.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s.database.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(s.database.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(s.schemaVersion()).toBe(Math.max(...migrations.map((m) => m.version)));
    const tables = (s.database.prepare(`SELECT name FROM sqlite_master WHERE type='table' ORDER BY name`).all() as Array<{ name: string }>).map(
      (r) => r.name,
    );
    expect(tables).toEqual(expect.arrayContaining(['alarms', 'alarm_transitions', 'device_events', 'device_status', 'schema_version']));
  });

  it('applies each migration once: reopening applies nothing and keeps the data', () => {
    const dir = tempDir();
    const s1 = open(dir);
    s1.insertAlarm(alarm(), { by: 'rule:panic' });
    s1.close();
    const db = new Database(join(dir, STORE_FILE_NAME));
    const versionsBefore = db.prepare('SELECT version FROM schema_version').all();
    db.close();
    const s2 = open(dir);
    expect(s2.getAlarm(alarm().id)?.alarm).toEqual(alarm());
    expect(s2.database.prepare('SELECT version FROM schema_version').all()).toEqual(versionsBefore);
  });

  it('runs migrations in version order, each in a transaction, and records them', () => {
    const db = new Database(':memory:');
    const list = [
      { version: 2, name: 'b', sql: 'ALTER TABLE t ADD COLUMN b TEXT' },
      { version: 1, name: 'a', sql: 'CREATE TABLE t (a INTEGER)' },
    ];
    expect(migrate(db, 'mem', list, () => 42)).toEqual([1, 2]);
    expect(db.prepare('SELECT version, name, applied_at FROM schema_version ORDER BY version').all()).toEqual([
      { version: 1, name: 'a', applied_at: 42 },
      { version: 2, name: 'b', applied_at: 42 },
    ]);
    // A failing migration leaves nothing behind.
    const bad = [...list, { version: 3, name: 'c', sql: 'CREATE TABLE u (x); THIS IS NOT SQL' }];
    expect(() => migrate(db, 'mem', bad)).toThrow();
    expect(db.prepare(`SELECT name FROM sqlite_master WHERE name = 'u'`).get()).toBeUndefined();
    expect(db.prepare('SELECT MAX(version) AS v FROM schema_version').get()).toEqual({ v: 2 });
    db.close();
  });

  it('refuses a database written by a newer gateway, naming the file', () => {
    const dir = tempDir();
    open(dir).close();
    const db = new Database(join(dir, STORE_FILE_NAME));
    db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (99, ?, 0)').run('future');
    db.close();
    const err = thrown(() => open(dir));
    expect(isShouwangError(err, 'SW_ERR_STORE')).toBe(true);
    expect(err.message).toContain(join(dir, STORE_FILE_NAME));
    expect(err.message).toMatch(/schema version 99 is newer/);
  });

  it('a file that is not a database -> STORE error naming the file, with a hint', () => {
    const dir = tempDir();
    writeFileSync(join(dir, STORE_FILE_NAME), 'this is not sqlite, it is a text file that got here somehow'.repeat(100));
    const err = thrown(() => open(dir));
    expect(isShouwangError(err, 'SW_ERR_STORE')).toBe(true);
    expect(err.message).toContain(join(dir, STORE_FILE_NAME));
    expect(err.message).toMatch(/SQLITE_NOTADB/);
    expect(err.message).toMatch(/damaged or not a Shouwang database/);
  });

  it('a database locked by another connection -> STORE error naming the file', () => {
    const dir = tempDir();
    open(dir).close();
    const holder = new Database(join(dir, STORE_FILE_NAME));
    holder.pragma('locking_mode = EXCLUSIVE');
    holder.exec('BEGIN EXCLUSIVE');
    try {
      const err = thrown(() => open(dir, 50));
      expect(isShouwangError(err, 'SW_ERR_STORE')).toBe(true);
      expect(err.message).toContain(join(dir, STORE_FILE_NAME));
      expect(err.message).toMatch(/locked/);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
  });

  it('a storage dir that cannot be created -> STORE error naming it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), 'x');
    const err = thrown(() => open(join(dir, 'file', 'sub')));
    expect(isShouwangError(err, 'SW_ERR_STORE')).toBe(true);
    expect(err.message).toContain(join(dir, 'file', 'sub'));
  });

  it('using a closed store is a clear STORE error', () => {
    const s = open(tempDir());
    s.close();
    expect(() => s.listAlarms()).toThrow(/store is closed/);
  });
});

describe('store: alarms, events, status', () => {
  it('round-trips an alarm with its raise transition; a restore references its alarm', () => {
    const s = open(tempDir());
    const a = alarm();
    s.insertAlarm(a, { by: 'rule:panic', restoreOnClear: true, restoreSia: 'PR' });
    const rec = s.getAlarm(a.id)!;
    expect(rec.alarm).toEqual(a);
    expect(rec).toMatchObject({ restoreOnClear: true, restoreSia: 'PR', conditionActive: true, retriggers: 0, lastTriggerAt: a.raisedAt });
    expect(s.alarmTransitions(a.id)).toEqual([
      { seq: expect.any(Number), alarmId: a.id, action: 'raise', from: null, to: 'raised', at: a.raisedAt, by: 'rule:panic' },
    ]);
    const r = alarm({ id: '01HZZZZZZZZZZZZZZZZZZZZZZ1', kind: 'restore', latch: false, restores: a.id });
    s.insertAlarm(r, { by: 'rule:panic' });
    expect(s.getAlarm(r.id)?.alarm.restores).toBe(a.id);
    expect(s.getAlarm(r.id)?.conditionActive).toBe(false);
    // A restore of an alarm that does not exist violates the foreign key.
    expect(() => s.insertAlarm(alarm({ id: '01HZZZZZZZZZZZZZZZZZZZZZZ2', kind: 'restore', restores: 'nope' }), { by: 'x' })).toThrow(
      /FOREIGN KEY/,
    );
  });

  it('omits optional fields that were not set (no location, no code)', () => {
    const s = open(tempDir());
    const a = alarm({ code: {}, location: undefined });
    delete (a as Partial<Alarm>).location;
    s.insertAlarm(a, { by: 'x' });
    const back = s.getAlarm(a.id)!.alarm;
    expect(back).toEqual(a);
    expect('location' in back).toBe(false);
    expect('restores' in back).toBe(false);
  });

  it('duplicate alarm ids are refused (stable ids are unique)', () => {
    const s = open(tempDir());
    s.insertAlarm(alarm(), { by: 'x' });
    const err = thrown(() => s.insertAlarm(alarm(), { by: 'x' }));
    expect(isShouwangError(err, 'SW_ERR_STORE')).toBe(true);
    expect(err.message).toMatch(/UNIQUE/);
  });

  it('transitionAlarm is guarded by the expected state and logs each move', () => {
    const s = open(tempDir());
    const a = alarm();
    s.insertAlarm(a, { by: 'x' });
    s.transitionAlarm({ alarmId: a.id, from: 'raised', to: 'queued', at: 5, by: 'outbox' });
    expect(s.getAlarm(a.id)?.alarm).toMatchObject({ state: 'queued', updatedAt: 5 });
    const stale = thrown(() => s.transitionAlarm({ alarmId: a.id, from: 'raised', to: 'sent', at: 6, by: 'outbox' }));
    expect(isShouwangError(stale, 'SW_ERR_ALARM_STATE')).toBe(true);
    const unknown = thrown(() => s.transitionAlarm({ alarmId: 'missing', from: 'raised', to: 'sent', at: 6, by: 'outbox' }));
    expect(isShouwangError(unknown, 'SW_ERR_ALARM_UNKNOWN')).toBe(true);
    expect(s.alarmTransitions(a.id).map((t) => `${t.action}:${t.from}->${t.to}`)).toEqual(['raise:null->raised', 'transition:raised->queued']);
  });

  it('the transition log is append-only', () => {
    const s = open(tempDir());
    s.insertAlarm(alarm(), { by: 'x' });
    expect(() => s.database.prepare(`UPDATE alarm_transitions SET by = 'someone else'`).run()).toThrow(/append-only/);
  });

  it('open alarms: not reset, kind alarm; openAlarmFor finds the one for device+rule', () => {
    const s = open(tempDir());
    s.insertAlarm(alarm({ id: 'A1' }), { by: 'x' });
    s.insertAlarm(alarm({ id: 'A2', device: 'pole-2' }), { by: 'x' });
    s.insertAlarm(alarm({ id: 'R1', kind: 'restore', restores: 'A2' }), { by: 'x' });
    s.transitionAlarm({ alarmId: 'A2', from: 'raised', to: 'reset', at: 9, by: 'alice' });
    expect(s.openAlarms().map((r) => r.alarm.id)).toEqual(['A1']);
    expect(s.openAlarmFor('pole-1', 'panic')?.alarm.id).toBe('A1');
    expect(s.openAlarmFor('pole-2', 'panic')).toBeUndefined();
  });

  it('lists alarms newest first with device/since/limit filters', () => {
    const s = open(tempDir());
    for (let i = 0; i < 5; i++) s.insertAlarm(alarm({ id: `A${i}`, raisedAt: 1000 + i, device: i % 2 ? 'odd' : 'even' }), { by: 'x' });
    expect(s.listAlarms().map((r) => r.alarm.id)).toEqual(['A4', 'A3', 'A2', 'A1', 'A0']);
    expect(s.listAlarms({ device: 'odd' }).map((r) => r.alarm.id)).toEqual(['A3', 'A1']);
    expect(s.listAlarms({ since: 1003 }).map((r) => r.alarm.id)).toEqual(['A4', 'A3']);
    expect(s.listAlarms({ limit: 2 }).map((r) => r.alarm.id)).toEqual(['A4', 'A3']);
  });

  it('records re-triggers and condition clears', () => {
    const s = open(tempDir());
    s.insertAlarm(alarm({ id: 'A1' }), { by: 'x' });
    s.recordRetrigger('A1', 'raised', 2000, 'rule:panic');
    s.recordRetrigger('A1', 'raised', 3000, 'rule:panic');
    s.recordConditionClear('A1', 'raised', 3500, 'rule:panic');
    expect(s.getAlarm('A1')).toMatchObject({ retriggers: 2, lastTriggerAt: 3000, conditionActive: false });
    expect(s.alarmTransitions('A1').map((t) => t.action)).toEqual(['raise', 'retrigger', 'retrigger', 'clear']);
  });

  it('device events are append-only and listed newest first', () => {
    const s = open(tempDir());
    const ev = (i: number, kind: 'access' | 'device') => ({
      id: `E${i}`,
      site: 'v1',
      device: i < 3 ? 'lock-1' : 'lock-2',
      profile: 'generic-rs485-fingerprint-lock',
      event: kind === 'access' ? 'pass' : 'door_open',
      kind,
      ts: 100 + i,
      fields: { last_user: i, last_method: 'fingerprint' },
      ...(i === 0 ? { location: { room: '101' } } : {}),
    });
    for (let i = 0; i < 5; i++) s.appendEvent(ev(i, i % 2 ? 'device' : 'access'));
    expect(s.listEvents().map((e) => e.id)).toEqual(['E4', 'E3', 'E2', 'E1', 'E0']);
    expect(s.listEvents({ device: 'lock-1', kind: 'access' }).map((e) => e.id)).toEqual(['E2', 'E0']);
    expect(s.listEvents({ since: 103 }).map((e) => e.id)).toEqual(['E4', 'E3']);
    expect(s.listEvents({ device: 'lock-1', limit: 1 })[0]).toEqual(ev(2, 'access'));
    expect(s.listEvents({ device: 'lock-1' }).at(-1)).toEqual(ev(0, 'access'));
    expect(() => s.database.prepare(`UPDATE device_events SET device = 'x'`).run()).toThrow(/append-only/);
    expect(() => s.appendEvent(ev(1, 'device'))).toThrow(/UNIQUE/);
  });

  it('device status history keeps every change with its reason', () => {
    const s = open(tempDir());
    s.appendStatus({ device: 'lock-1', availability: 'online', since: 10, consecutiveFailures: 0 });
    s.appendStatus({ device: 'lock-1', availability: 'offline', since: 20, reason: 'timeout', consecutiveFailures: 3 });
    s.appendStatus({ device: 'lock-2', availability: 'online', since: 30, consecutiveFailures: 0 });
    expect(s.statusHistory({ device: 'lock-1' })).toEqual([
      { device: 'lock-1', availability: 'offline', since: 20, reason: 'timeout', consecutiveFailures: 3 },
      { device: 'lock-1', availability: 'online', since: 10, consecutiveFailures: 0 },
    ]);
    expect(s.statusHistory({ since: 15 }).map((x) => x.device)).toEqual(['lock-2', 'lock-1']);
    expect(() => s.database.prepare(`UPDATE device_status SET reason = 'x'`).run()).toThrow(/append-only/);
  });

  it('transaction() is all or nothing', () => {
    const s = open(tempDir());
    expect(() =>
      s.transaction(() => {
        s.insertAlarm(alarm({ id: 'T1' }), { by: 'x' });
        throw new Error('boom');
      }),
    ).toThrow(/boom/);
    expect(s.getAlarm('T1')).toBeUndefined();
  });

  it('an in-memory store works for unit tests', () => {
    const s = openStore({ memory: true });
    stores.push(s);
    s.insertAlarm(alarm(), { by: 'x' });
    expect(s.file).toBe(':memory:');
    expect(s.openAlarms()).toHaveLength(1);
  });
});
