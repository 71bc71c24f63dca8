/**
 * Access-log ingest (issue #5): DeviceEvents of kind `access` on the real EventBus -> field
 * mapping, card hashing, registry resolve, SQLite insert (real file, WAL, synchronous=FULL),
 * then the bus `access` event. Registry: 100 buildings × 100 rooms = 10,000 rooms, 10,000
 * tenants (name + ID number encrypted), 10,000 lock-slot credentials and 2,000 cards, loaded
 * through the bulk import (one transaction).
 *
 * 1. Sustained: passes arrive paced at RATE/s (20 per 10 ms tick) for SECONDS; measured: the
 *    rate actually stored, and the lag from emit to the `access` event (p50/p99/max).
 *    Target: >= 1,000 passes/s sustained with no backlog.
 * 2. Burst: BURST passes emitted as fast as the loop allows (500 per turn); measured: the
 *    throughput until the last `access` event. Target >= 1,000 passes/s.
 * Mix: 80 % registered tenants, 10 % strangers (unknown slot, denied), 5 % cards at the
 * building entrance, 5 % remote unlocks.
 *
 * The access rules (issue #5 part 3) are another module: this measures the access log alone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AccessModule } from '../../gateway/src/access/access-module.js';
import { importBatch, type ImportBatch } from '../../gateway/src/access/registry-import.js';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import type { DeviceEvent } from '../../gateway/src/core/types.js';
import { silentLogger } from '../../gateway/src/log.js';
import { openStore } from '../../gateway/src/store/store.js';
import { loadLine, log, percentile, printResult, round, runBench, sleep } from './bench-lib.js';

const SCALE = Number(process.env.SW_BENCH_SAMPLES_SCALE ?? 1);
const BUILDINGS = 100;
const ROOMS_PER_BUILDING = 100;
const ROOMS = BUILDINGS * ROOMS_PER_BUILDING;
const CARDS = 2000;
const RATE = 2000;
const SECONDS = Math.max(2, Math.round(5 * SCALE));
const BURST = Math.round(20_000 * SCALE);
const DAY = 86_400_000;

function idNumber(i: number): string {
  return `440106${String(19700101 + (i % 28)).padStart(8, '0')}${String(i).padStart(4, '0').slice(-4)}`;
}

function registryBatch(now: number): ImportBatch {
  const buildings = Array.from({ length: BUILDINGS }, (_, b) => ({ row: b + 1, data: { id: `B${b}`, site: 'bench', name: `${b}栋` } }));
  const rooms = Array.from({ length: ROOMS }, (_, i) => {
    const b = Math.floor(i / ROOMS_PER_BUILDING);
    return { row: i + 1, data: { id: `R${i}`, building: `B${b}`, number: String(100 + (i % ROOMS_PER_BUILDING)), doors: [`lock-${i}`] } };
  });
  const tenants = Array.from({ length: ROOMS }, (_, i) => ({ row: i + 1, data: { id: `T${i}`, name: `租客${i}`, idNumber: idNumber(i) } }));
  const credentials = [
    ...Array.from({ length: ROOMS }, (_, i) => ({
      row: i + 1,
      data: { id: `C${i}`, tenant: `T${i}`, room: `R${i}`, kind: 'lock_slot', door: `lock-${i}`, slot: 1 + (i % 20), validFrom: now - 30 * DAY, validTo: now + 300 * DAY },
    })),
    ...Array.from({ length: CARDS }, (_, i) => ({
      row: ROOMS + i + 1,
      data: { id: `K${i}`, tenant: `T${i}`, room: `R${i}`, kind: 'card', cardNumber: String(10_000_000 + i), validFrom: now - 30 * DAY, validTo: now + 300 * DAY },
    })),
  ];
  return { buildings, rooms, tenants, credentials };
}

let seq = 0;
function passEvent(i: number, ts: number): DeviceEvent {
  seq++;
  const room = (i * 7919) % ROOMS;
  const kind = i % 20;
  const base = { id: `P${seq}`, site: 'bench', event: 'pass', kind: 'access' as const, ts };
  if (kind === 0) {
    const gate = `gate-B${Math.floor(room / ROOMS_PER_BUILDING)}`;
    return { ...base, device: gate, profile: 'generic-access-controller', fields: { last_card: 10_000_000 + (room % CARDS), last_method: 'card', last_result: 'granted', last_user: 0 } };
  }
  if (kind === 1) return { ...base, device: `lock-${room}`, profile: 'generic-rs485-fingerprint-lock', fields: { last_user: 0, last_method: 'remote', last_result: 'granted' } };
  if (kind === 2 || kind === 3) return { ...base, device: `lock-${room}`, profile: 'generic-rs485-fingerprint-lock', fields: { last_user: 50, last_method: 'fingerprint', last_result: 'denied' } };
  return { ...base, device: `lock-${room}`, profile: 'generic-rs485-fingerprint-lock', fields: { last_user: 1 + (room % 20), last_method: kind % 2 ? 'fingerprint' : 'card', last_result: 'granted' } };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sw-bench-access-'));
  const store = openStore({ dir });
  try {
    const access = new AccessModule({ store, dataDir: dir, log: silentLogger() });
    const bus = new EventBus();
    access.start(bus);
    const now = Date.now();

    const t0 = performance.now();
    const imported = importBatch(access.registry, registryBatch(now), 'bench');
    const importMs = performance.now() - t0;
    log(`import: ${JSON.stringify(imported.created)} in ${importMs.toFixed(0)} ms`);

    const emittedAt = new Map<string, number>();
    const lags: number[] = [];
    let received = 0;
    const resolutions: Record<string, number> = {};
    bus.on('access', (r) => {
      received++;
      resolutions[r.resolution] = (resolutions[r.resolution] ?? 0) + 1;
      const at = emittedAt.get(r.id);
      if (at !== undefined) {
        lags.push(performance.now() - at);
        emittedAt.delete(r.id);
      }
    });

    // 1. Sustained, paced.
    const perTick = RATE / 100;
    const ticks = SECONDS * 100;
    const start = performance.now();
    let sent = 0;
    for (let t = 0; t < ticks; t++) {
      const due = start + t * 10;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      for (let k = 0; k < perTick; k++) {
        const e = passEvent(sent++, Date.now());
        emittedAt.set(e.id, performance.now());
        bus.emit('event', e);
      }
    }
    while (received < sent && performance.now() - start < SECONDS * 1000 + 30_000) await sleep(5);
    const sustainedS = (performance.now() - start) / 1000;
    const sustainedRate = received / sustainedS;
    const backlog = sent - received;
    const sorted = [...lags].sort((a, b) => a - b);
    log(`sustained: ${received}/${sent} in ${sustainedS.toFixed(2)} s = ${sustainedRate.toFixed(0)}/s; lag p50 ${percentile(sorted, 50).toFixed(2)} p99 ${percentile(sorted, 99).toFixed(2)} max ${sorted.at(-1)?.toFixed(2)} ms`);

    // 2. Burst.
    const before = received;
    const b0 = performance.now();
    for (let i = 0; i < BURST; i += 500) {
      for (let k = 0; k < 500 && i + k < BURST; k++) bus.emit('event', passEvent(sent++, Date.now()));
      await new Promise((r) => setImmediate(r));
    }
    while (received - before < BURST && performance.now() - b0 < 120_000) await sleep(2);
    const burstS = (performance.now() - b0) / 1000;
    const burstRate = (received - before) / burstS;
    const stats = access.accessLog.stats();
    log(`burst: ${received - before} in ${burstS.toFixed(2)} s = ${burstRate.toFixed(0)}/s; batches ${stats.batches}, largest ${stats.largestBatch}; resolutions ${JSON.stringify(resolutions)}`);

    const stored = store.accessLog.count();
    const t1 = performance.now();
    const page = access.accessLog.search({ room: 'R123', limit: 100 });
    const searchMs = performance.now() - t1;
    access.stop();

    printResult({
      title: 'Access log ingest (issue #5)',
      method:
        `Real EventBus, real SQLite file (WAL, synchronous=FULL), registry of ${ROOMS} rooms / ${ROOMS} tenants / ${ROOMS + CARDS} credentials via bulk import. ` +
        `Sustained: ${RATE}/s paced in 10 ms ticks for ${SECONDS} s, lag = emit -> bus \`access\` (stored). Burst: ${BURST} passes, 500 per event-loop turn. ` +
        'Mix: 80 % tenants, 10 % strangers, 5 % entrance cards, 5 % remote. Access rules not included (separate module).',
      metrics: [
        { name: 'sustained rate stored', value: `${round(sustainedRate, 0)}/s (offered ${RATE}/s)`, target: '>= 1000/s', pass: sustainedRate >= 1000 && backlog === 0 },
        { name: 'sustained backlog at end', value: backlog, target: '0', pass: backlog === 0 },
        { name: 'lag emit -> stored+announced p50 / p99 / max', value: `${round(percentile(sorted, 50))} / ${round(percentile(sorted, 99))} / ${round(sorted.at(-1) ?? Number.NaN)} ms` },
        { name: 'burst throughput', value: `${round(burstRate, 0)}/s (${BURST} passes, largest batch ${stats.largestBatch})`, target: '>= 1000/s', pass: burstRate >= 1000 },
        { name: 'stored rows', value: stored, target: `${sent}`, pass: stored === sent },
        { name: `bulk import (${ROOMS} rooms + tenants, ${ROOMS + CARDS} credentials)`, value: `${round(importMs / 1000, 2)} s` },
        { name: 'search by room (newest 100)', value: `${round(searchMs, 2)} ms (${page.records.length} rows)` },
      ],
      notes: `Load average during the run: ${loadLine()}. Resolutions: ${JSON.stringify(resolutions)}.`,
    });
    if (sustainedRate < 1000 || burstRate < 1000 || backlog !== 0 || stored !== sent) process.exitCode = 1;
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
