/**
 * Reports: the 人房一致 (occupancy) and 三高 (three-highs) reports over 10,000 rooms × 90 days of
 * access events. Target (issue #5): each ≤ 5 s.
 *
 * Data: a real store file (openStore runs the real migrations, so tables and indexes are the
 * production ones), filled through a second connection with synchronous=OFF (the generator's
 * speed is not what is measured). 100 buildings × 100 rooms, 1-3 tenants per room each with an
 * active lock-slot credential, a building entrance controller per building; per room and day
 * 2-6 passes (mean 4) at the room lock or the building gate, spread over the day with fewer at
 * night; 1.5 % strangers, 0.5 % lost/cancelled/expired credentials, 3 % of tenants gone for
 * the last 30 days; one alarm or warning per room per ~45 days (≈ 20,000 alarms).
 *
 * Measured: each report on a read-only connection (reports/index.ts openReportDatabase), after
 * one warm-up run, 5 runs, the slowest counted against the target. The shareable export of one
 * building is timed for information.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { AccessReports, openReportDatabase } from '../../gateway/src/access/reports/index.js';
import { openStore, STORE_FILE_NAME } from '../../gateway/src/store/store.js';
import { loadLine, log, printResult, round, runBench, type BenchMetric } from './bench-lib.js';

const BUILDINGS = 100;
const ROOMS_PER_BUILDING = 100;
const DAYS = 90;
const RUNS = 5;
const TARGET_MS = 5000;
const DAY = 86_400_000;
/** 2026-06-01 00:00 Shanghai. */
const NOW = Date.UTC(2026, 4, 31, 16, 0);

/** Deterministic PRNG (mulberry32): the same village every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Hour weights: busy mornings and evenings, few passes between 01:00 and 05:00. */
const HOUR_WEIGHTS = [2, 1, 0.5, 0.3, 0.3, 1, 4, 8, 8, 5, 4, 4, 5, 4, 4, 4, 5, 7, 9, 9, 8, 6, 4, 3];
const HOUR_CDF = (() => {
  const sum = HOUR_WEIGHTS.reduce((a, b) => a + b, 0);
  let acc = 0;
  return HOUR_WEIGHTS.map((w) => (acc += w / sum));
})();

interface Generated {
  passes: number;
  tenants: number;
  alarms: number;
  ms: number;
}

function generate(dir: string): Generated {
  const started = performance.now();
  mkdirSync(dir, { recursive: true });
  openStore({ dir }).close(); // real migrations
  const db = new Database(join(dir, STORE_FILE_NAME));
  // Bulk load: no journal, no fsync, and the access-log indexes built once at the end
  // (the same CREATE INDEX statements the migration ran).
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const indexes = db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('access_log', 'alarms') AND sql IS NOT NULL`).all() as Array<{ name: string; sql: string }>;
  for (const i of indexes) db.exec(`DROP INDEX ${i.name}`);
  const rand = rng(20260601);
  const insBuilding = db.prepare('INSERT INTO buildings (id, site, name, address, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)');
  const insRoom = db.prepare('INSERT INTO rooms (id, building, number, floor, linkage_group, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const insDoor = db.prepare('INSERT INTO room_doors (room, door) VALUES (?, ?)');
  const insTenant = db.prepare('INSERT INTO tenants (id, created_at, updated_at) VALUES (?, ?, ?)');
  const insCred = db.prepare(`INSERT INTO credentials (id, tenant, room, kind, door, slot, card_hash, duress, valid_from, valid_to, state, created_at, updated_at)
    VALUES (?, ?, ?, 'lock_slot', ?, ?, NULL, 0, ?, ?, 'active', ?, ?)`);
  const insPass = db.prepare(`INSERT INTO access_log (id, site, door, ts, method, slot, card_hash, result, resolution, credential, tenant, room, building, duress)
    VALUES (?, 'bench', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`);
  const insAlarm = db.prepare(`INSERT INTO alarms (id, site, device, profile, rule, name_zh, name_en, cid, sia, severity, kind, latch, silent, state, raised_at, updated_at, location, fields, last_trigger_at)
    VALUES (?, 'bench', ?, ?, ?, ?, ?, ?, ?, ?, 'alarm', 0, 0, 'reset', ?, ?, ?, '{}', ?)`);

  interface RoomT {
    id: string;
    building: string;
    door: string;
    gate: string;
    tenants: Array<{ id: string; cred: string; slot: number; gone: boolean }>;
  }
  const rooms: RoomT[] = [];
  let tenants = 0;
  db.transaction(() => {
    for (let b = 1; b <= BUILDINGS; b++) {
      const building = `B${String(b).padStart(3, '0')}`;
      insBuilding.run(building, 'bench', `${b}号楼`, null, NOW - 400 * DAY, NOW - 400 * DAY);
      for (let r = 1; r <= ROOMS_PER_BUILDING; r++) {
        const floor = Math.ceil(r / 10);
        const number = `${floor}${String(((r - 1) % 10) + 1).padStart(2, '0')}`;
        const id = `${building}-${number}`;
        insRoom.run(id, building, number, String(floor), `${building}-G${floor}`, NOW - 400 * DAY, NOW - 400 * DAY);
        const door = `L-${id}`;
        insDoor.run(id, door);
        const room: RoomT = { id, building, door, gate: `GATE-${building}`, tenants: [] };
        const n = 1 + Math.floor(rand() * 3);
        for (let t = 0; t < n; t++) {
          const tenant = `T-${String(++tenants).padStart(6, '0')}`;
          insTenant.run(tenant, NOW - 300 * DAY, NOW - 300 * DAY);
          const cred = `C-${tenant}`;
          insCred.run(cred, tenant, id, door, t + 1, NOW - 200 * DAY, NOW + 200 * DAY, NOW - 200 * DAY, NOW - 200 * DAY);
          room.tenants.push({ id: tenant, cred, slot: t + 1, gone: rand() < 0.03 });
        }
        rooms.push(room);
      }
    }
  })();

  let passes = 0;
  const methods = ['fingerprint', 'fingerprint', 'fingerprint', 'card', 'pin'];
  const misuse = ['lost', 'cancelled', 'expired'];
  const hourOf = () => {
    const x = rand();
    let h = 0;
    while (HOUR_CDF[h]! < x) h++;
    return h;
  };
  for (let day = DAYS; day >= 1; day--) {
    const dayStart = NOW - day * DAY; // local midnight (NOW is a Shanghai midnight)
    db.transaction(() => {
      for (const room of rooms) {
        const k = 2 + Math.floor(rand() * 5);
        for (let i = 0; i < k; i++) {
          const ts = dayStart + hourOf() * 3_600_000 + Math.floor(rand() * 3_600_000);
          const atGate = rand() < 0.4;
          const door = atGate ? room.gate : room.door;
          const roll = rand();
          const id = `P${++passes}`;
          if (roll < 0.015) {
            insPass.run(id, door, ts, 'card', null, `h${Math.floor(rand() * 5000)}`, 'denied', 'unregistered', null, null, atGate ? null : room.id, room.building);
            continue;
          }
          const t = room.tenants[Math.floor(rand() * room.tenants.length)]!;
          if (roll < 0.02) {
            insPass.run(id, door, ts, 'fingerprint', t.slot, null, 'denied', misuse[Math.floor(rand() * 3)]!, t.cred, t.id, room.id, room.building);
            continue;
          }
          if (t.gone && day <= 30) {
            passes--;
            continue;
          }
          insPass.run(id, door, ts, methods[Math.floor(rand() * methods.length)]!, t.slot, null, 'granted', 'registered', t.cred, t.id, room.id, room.building);
        }
      }
    })();
  }

  const alarmTypes = [
    { rule: 'door_forced', zh: '强行开门', en: 'Door forced', cid: 423, sia: 'DF', severity: 'critical', profile: 'generic-rs485-fingerprint-lock' },
    { rule: 'low_battery', zh: '电池电量低', en: 'Low battery', cid: 302, sia: 'YT', severity: 'warning', profile: 'generic-rs485-fingerprint-lock' },
    { rule: 'tamper', zh: '防拆报警', en: 'Tamper', cid: 137, sia: 'TA', severity: 'critical', profile: 'generic-rs485-fingerprint-lock' },
    { rule: 'stranger', zh: '陌生凭证', en: 'Stranger', cid: 421, sia: 'DD', severity: 'warning', profile: 'generic-rs485-fingerprint-lock' },
    { rule: 'door_held_open', zh: '门长时间未关', en: 'Door held open', cid: 426, sia: 'DN', severity: 'warning', profile: 'generic-rs485-fingerprint-lock' },
    { rule: 'tenant_not_seen:T-000001', zh: '人房不一致', en: 'Tenant not seen', cid: null, sia: null, severity: 'warning', profile: 'access-rules' },
  ];
  let alarms = 0;
  db.transaction(() => {
    for (const room of rooms) {
      for (let day = DAYS; day >= 1; day--) {
        if (rand() >= 1 / 45) continue;
        const a = alarmTypes[Math.floor(rand() * alarmTypes.length)]!;
        const ts = NOW - day * DAY + hourOf() * 3_600_000;
        insAlarm.run(`A${++alarms}`, room.door, a.profile, a.rule, a.zh, a.en, a.cid, a.sia, a.severity, ts, ts, JSON.stringify({ building: room.building, room: room.id }), ts);
      }
    }
  })();
  for (const i of indexes) db.exec(i.sql);
  db.exec('ANALYZE');
  db.pragma('journal_mode = WAL');
  db.close();
  return { passes, tenants, alarms, ms: performance.now() - started };
}

function time<T>(fn: () => T): { ms: number[]; result: T } {
  let result = fn(); // warm-up: page cache and prepared statements
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    result = fn();
    ms.push(performance.now() - t);
  }
  return { ms, result };
}

runBench(async () => {
  // SW_BENCH_REPORTS_DIR keeps the generated store for reruns (generation takes minutes).
  const keep = process.env.SW_BENCH_REPORTS_DIR;
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'sw-reports-bench-'));
  try {
    const loadBefore = loadLine();
    let g: Generated;
    if (keep && existsSync(join(keep, 'generated.json'))) {
      g = JSON.parse(readFileSync(join(keep, 'generated.json'), 'utf8')) as Generated;
      log(`using the store generated earlier in ${dir}`);
    } else {
      log(`generating ${BUILDINGS * ROOMS_PER_BUILDING} rooms × ${DAYS} days in ${dir} …`);
      g = generate(dir);
      if (keep) writeFileSync(join(keep, 'generated.json'), JSON.stringify(g));
    }
    log(`generated ${g.passes} passes, ${g.tenants} tenants, ${g.alarms} alarms in ${round(g.ms / 1000, 1)} s`);
    const db = openReportDatabase(dir);
    const reports = new AccessReports(db);
    const occupancy = time(() => reports.occupancy({ now: NOW, activeDays: 7, periodDays: DAYS }));
    const threeHighs = time(() => reports.threeHighs({ from: NOW - DAYS * DAY, to: NOW, timeZone: 'Asia/Shanghai' }));
    const shareable = time(() => reports.shareable({ now: NOW, building: 'B042', timeZone: 'Asia/Shanghai', tenantView: (id) => ({ id, createdAt: 0 }) }));
    db.close();
    const o = occupancy.result.totals;
    const t = threeHighs.result.totals;
    log(`occupancy: ${o.registeredTenants} registered, ${o.activeTenants} active, ${o.notSeenTenants} not seen, ${o.strangers.passes} stranger passes; runs ${occupancy.ms.map((m) => round(m, 0)).join(' / ')} ms`);
    log(`three-highs: ${t.alarms} alarms, ${t.anomalies} anomalies, ${threeHighs.result.cells.length} cells; runs ${threeHighs.ms.map((m) => round(m, 0)).join(' / ')} ms`);
    // The generator's own counts: the reports must find what was put in.
    const sane = o.registeredTenants === g.tenants && t.alarms === g.alarms && o.notSeenTenants > 0 && t.anomalies > 0;
    if (!sane) throw new Error(`report totals do not match the generated data: ${JSON.stringify({ o, t, g })}`);
    const maxO = Math.max(...occupancy.ms);
    const maxT = Math.max(...threeHighs.ms);
    const metrics: BenchMetric[] = [
      { name: 'rooms × days', value: `${BUILDINGS * ROOMS_PER_BUILDING} × ${DAYS}` },
      { name: 'access-log rows', value: g.passes },
      { name: 'alarms', value: g.alarms },
      { name: '人房一致 report, slowest of 5 (ms)', value: round(maxO, 0), target: `≤ ${TARGET_MS}`, pass: maxO <= TARGET_MS },
      { name: '人房一致 report, median (ms)', value: round([...occupancy.ms].sort((a, b) => a - b)[2]!, 0) },
      { name: '三高 report, slowest of 5 (ms)', value: round(maxT, 0), target: `≤ ${TARGET_MS}`, pass: maxT <= TARGET_MS },
      { name: '三高 report, median (ms)', value: round([...threeHighs.ms].sort((a, b) => a - b)[2]!, 0) },
      { name: 'shareable export of one building (100 rooms, 7 days of passes), median (ms)', value: round([...shareable.ms].sort((a, b) => a - b)[2]!, 0) },
    ];
    printResult({
      title: 'Reports (人房一致, 三高) over 10,000 rooms × 90 days',
      method:
        `Real store file (real migrations and indexes), ${g.passes} access-log rows and ${g.alarms} alarms generated deterministically (100 buildings × 100 rooms, 1-3 tenants per room, mean 4 passes per room per day, ` +
        `1.5 % strangers, 0.5 % misused credentials, 3 % of tenants absent for the last 30 days). Each report on a read-only connection: one warm-up run, then ${RUNS} timed runs; the slowest is held against the target. ` +
        `人房一致 over the whole 90 days (activity window 7 days); 三高 over the whole 90 days in Asia/Shanghai. Load average before ${loadBefore}, after ${loadLine()}.`,
      metrics,
      notes: `Generation took ${round(g.ms / 1000, 1)} s (not measured). Totals found: ${o.registeredTenants} registered tenants, ${o.activeTenants} active, ${o.notSeenTenants} not seen; ${t.alarms} alarms and ${t.anomalies} anomalous passes in ${threeHighs.result.cells.length} cells.`,
    });
    if (maxO > TARGET_MS || maxT > TARGET_MS) process.exitCode = 1;
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
});
