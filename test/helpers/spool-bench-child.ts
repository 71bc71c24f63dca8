/**
 * The child process of test/bench/influx-spool.bench.ts: an InfluxSink on a store in `dir`,
 * measured in its own process so that its memory is its own.
 *
 *   spool  <dir> <deadUrl> <total>        nothing listens at deadUrl: `total` lock readings go
 *                                         through the EventBus into the sink and on to the disk
 *                                         spool, as fast as the sink takes them (a few hundred
 *                                         per event-loop turn, the producer blocked while a
 *                                         batch is written to SQLite);
 *   replay <dir> <url> <db> <total>       a real InfluxDB at url: the sink replays the spool.
 *
 * stdout, one JSON object per line:
 *   {"ready":true}
 *   {"sample":{...}}   every 250 ms: ms since the phase began, process.memoryUsage() (rss,
 *                      heapUsed, heapTotal, external, arrayBuffers) and the sink's counters
 *                      (with SW_BENCH_GC_BEFORE_SAMPLE=1, after a full GC: the live heap)
 *   {"done":{...}}     the phase's time, counters and the spool on disk; then the process exits
 *
 *   node --import tsx test/helpers/spool-bench-child.ts spool /tmp/x http://127.0.0.1:9 1000000
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import { influxSchema } from '../../gateway/src/sinks/influx/config.js';
import { InfluxSink, type InfluxSinkStats } from '../../gateway/src/sinks/influx/influx-sink.js';
import { openStore } from '../../gateway/src/store/store.js';
import { benchReading, gatewayDeviceInfo, SPOOL_BENCH_BASE } from './influx-bench-data.js';
import { SITE } from './influx-kit.js';

const SAMPLE_MS = 250;
/** Readings per event-loop turn (the gateway emits one per poll reply, from I/O callbacks). */
const EMIT_SLICE = 250;

const [mode, dir, url, ...rest] = process.argv.slice(2);
if ((mode !== 'spool' && mode !== 'replay') || !dir || !url) {
  console.error('usage: spool-bench-child.ts spool <dir> <deadUrl> <total> | replay <dir> <url> <db> <total>');
  process.exit(2);
}
const db = mode === 'replay' ? rest[0]! : 'spooled';
const total = Number(mode === 'replay' ? rest[1] : rest[0]);

const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

const store = openStore({ dir });
const sink = new InfluxSink({
  config: influxSchema.parse({
    enabled: true,
    api: 'v1',
    url,
    v1: { db },
    batch: { size: 5000, intervalMs: 1000 },
    // Spool phase: the dead server is retried now and then, as in an outage. Replay phase: it answers.
    retry: { initialMs: 1000, maxMs: 5000 },
    spool: { maxBytes: 1024 * 1024 * 1024 },
  }),
  store,
  site: SITE,
  deviceInfo: gatewayDeviceInfo,
  log: pino({ level: 'warn' }, process.stderr),
});
const stats = (): Extract<InfluxSinkStats, { enabled: true }> => {
  const s = sink.stats();
  if (!s.enabled) throw new Error('sink not enabled');
  return s;
};

function diskBytes(): number {
  let n = 0;
  for (const f of ['shouwang.db', 'shouwang.db-wal']) {
    try {
      n += statSync(join(dir!, f)).size;
    } catch {
      // No WAL right now.
    }
  }
  return n;
}

let t0 = performance.now();
/**
 * SW_BENCH_GC_BEFORE_SAMPLE=1: a full garbage collection before each sample, so that heapUsed is
 * the LIVE heap (what the process holds on to), not live + garbage not yet collected.
 */
function gcFunction(): (() => void) | undefined {
  if (process.env.SW_BENCH_GC_BEFORE_SAMPLE !== '1') return undefined;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
const gcBeforeSample = gcFunction();

function sample(): void {
  gcBeforeSample?.();
  const m = process.memoryUsage();
  const s = stats();
  out({
    sample: {
      ms: Math.round(performance.now() - t0),
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      spooled: s.spooled,
      written: s.written,
      spoolPoints: s.spool.points,
      memory: s.memory.batching + s.memory.queued + s.memory.inFlight,
    },
  });
}

async function spoolPhase(): Promise<void> {
  const bus = new EventBus();
  sink.attach(bus);
  sink.start();
  t0 = performance.now();
  const timer = setInterval(sample, SAMPLE_MS);
  sample();
  for (let i = 0; i < total; ) {
    const end = Math.min(total, i + EMIT_SLICE);
    for (; i < end; i++) bus.emit('points', benchReading(i, SPOOL_BENCH_BASE));
    await new Promise((r) => setImmediate(r));
  }
  sink.flush();
  // The last batch may be in a failing request right now: it is spooled when that fails.
  while (stats().spooled < total) await new Promise((r) => setTimeout(r, 5));
  const ms = performance.now() - t0;
  sample();
  clearInterval(timer);
  const s = stats();
  out({ done: { mode, ms, spooled: s.spooled, spoolPoints: s.spool.points, spoolBytes: s.spool.bytes, diskBytes: diskBytes(), dropped: s.dropped.total, requests: s.requests, state: s.connection.state } });
}

async function replayPhase(): Promise<void> {
  const before = store.spool.stats(Number.MAX_SAFE_INTEGER);
  t0 = performance.now();
  const timer = setInterval(sample, SAMPLE_MS);
  sample();
  sink.start();
  while (!store.spool.isEmpty()) await new Promise((r) => setTimeout(r, 5));
  const ms = performance.now() - t0;
  sample();
  clearInterval(timer);
  const s = stats();
  out({ done: { mode, ms, before: before.points, replayed: s.replayed, written: s.written, requests: s.requests, retries: s.retries, dropped: s.dropped.total, spoolPoints: s.spool.points, state: s.connection.state } });
}

out({ ready: true });
(mode === 'spool' ? spoolPhase() : replayPhase())
  .then(async () => {
    await sink.stop();
    store.close();
    process.exit(0);
  })
  .catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
