/**
 * Spool (issue #4): how fast the InfluxDB sink puts points into its disk spool while the
 * database is away, how fast it replays them once a real InfluxDB 1.6 is up, and whether its
 * memory stays flat while it spools 1,000,000 points (the spool is on disk, not in the heap).
 *
 * The sink runs in a child process of its own (test/helpers/spool-bench-child.ts), so that its
 * memory is its own:
 *   1. spool: the sink's URL is a closed port on 127.0.0.1; TOTAL lock readings (the workload of
 *      influx-write.bench.ts: 4 fields, 5 tags, ~166 bytes of line protocol) go through the
 *      EventBus into the sink as fast as it takes them; each closed batch of 5,000 lines is one
 *      SQLite transaction (WAL, synchronous=FULL) in the store on disk. Rate = TOTAL / time until
 *      every point is committed to the spool.
 *   2. replay: a fresh influxd (data on disk) is started, and a new child opens the same store
 *      with the real URL; rate = points replayed / time until the spool is empty. Afterwards
 *      `SELECT count(event_seq)` must equal TOTAL (every point there, once).
 * Memory: the child samples process.memoryUsage() (RSS, heapUsed...) every 250 ms and prints it;
 * the bench also reads the child's VmRSS and CPU time from /proc/<pid> (sampleProc) as a cross-
 * check. A second spool run (into a second store) does a full GC before each sample, so that
 * heapUsed is the live heap. Flat means: after the warm-up (the first 10 % of the points, when V8
 * sizes its heap for the load) RSS stays within 50 MB of its value then, and the live heap and
 * RSS have no upward trend (least-squares slope < 1 MB per 100,000 points; a spool held in the
 * heap would show at least the line protocol itself, ~16 MB per 100,000 points).
 *
 *   npx tsx test/bench/influx-spool.bench.ts
 *   SW_BENCH_SAMPLES_SCALE=0.2 npx tsx test/bench/influx-spool.bench.ts     (quick)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, InfluxdServer } from '../helpers/influx-servers.js';
import { jsonLine, startTsProcess, type Started } from '../helpers/processes.js';
import { loadLine, log, printResult, round, runBench, sampleProc, type BenchMetric, type ProcSample } from './bench-lib.js';

const SCALE = Number(process.env.SW_BENCH_SAMPLES_SCALE ?? 1);
const TOTAL = Math.max(10_000, Math.round(1_000_000 * SCALE));
const CHILD = 'test/helpers/spool-bench-child.ts';
const DB = 'spooled';
const MB = 1024 * 1024;
const RSS_GROWTH_TARGET_MB = 50;
/** Live heap trend allowed; a spool kept in the heap would show the line protocol itself, ~16 MB per 100k points. */
const SLOPE_TARGET_MB_PER_100K = 1;
/** The outage integration test writes ≥ 2,000 points/s; the spool should take and give back 10× that. */
const RATE_TARGET = 20_000;

interface Sample {
  ms: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  spooled: number;
  written: number;
  spoolPoints: number;
  memory: number;
}

interface PhaseResult {
  samples: Sample[];
  proc: ProcSample[];
  done: Record<string, number | string>;
}

/** Run one child phase to its end, sampling its /proc entry every 250 ms as well. */
async function runPhase(args: string[], env: Record<string, string> = {}): Promise<PhaseResult> {
  const child: Started<true> = await startTsProcess(CHILD, args, (l) => (jsonLine(l)?.ready === true ? true : undefined), { timeoutMs: 30_000, env });
  const pid = child.child.pid!;
  const proc: ProcSample[] = [];
  const timer = setInterval(() => {
    try {
      proc.push(sampleProc(pid));
    } catch {
      // Exited between two samples.
    }
  }, 250);
  proc.push(sampleProc(pid));
  const code = await new Promise<number | null>((resolve) => {
    if (child.child.exitCode !== null) resolve(child.child.exitCode);
    else child.child.once('exit', (c) => resolve(c));
  });
  clearInterval(timer);
  if (code !== 0) throw new Error(`${CHILD} ${args[0]} exited ${code}: ${child.stderrText().slice(-2000)}`);
  const samples: Sample[] = [];
  let done: PhaseResult['done'] | undefined;
  for (const line of child.lines) {
    const j = jsonLine(line);
    if (j?.sample) samples.push(j.sample as Sample);
    if (j?.done) done = j.done as PhaseResult['done'];
  }
  if (!done) throw new Error(`${CHILD} ${args[0]} printed no result: ${child.lines.slice(-5).join(' | ')} ${child.stderrText().slice(-1000)}`);
  return { samples, proc, done };
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

interface MemorySummary {
  /** Before the first point. */
  start: number;
  /** At the first sample after 10 % of the points (V8 has sized its heap for the load by then). */
  warm: number;
  max: number;
  /** Highest value after the warm-up sample. */
  maxAfterWarm: number;
  end: number;
  /** Least-squares slope over the samples after the first 10 % of the points, MB per 100,000 points. */
  slope: number;
}

function summarise(samples: Sample[], key: 'rss' | 'heapUsed', progress: (s: Sample) => number): MemorySummary {
  const late = samples.filter((s) => progress(s) >= 0.1 * TOTAL);
  const mbOf = (s: Sample) => s[key] / MB;
  return {
    start: mbOf(samples[0]!),
    warm: mbOf(late[0] ?? samples[samples.length - 1]!),
    max: Math.max(...samples.map(mbOf)),
    maxAfterWarm: Math.max(...late.map(mbOf)),
    end: mbOf(samples[samples.length - 1]!),
    slope: slope(
      late.map((s) => progress(s) / 100_000),
      late.map(mbOf),
    ),
  };
}

const mb = (n: number) => n.toFixed(1);
const fmt = (n: number) => Math.round(n).toLocaleString('en');

async function main(): Promise<void> {
  const loadBefore = loadLine();
  const dir = mkdtempSync(join(tmpdir(), 'sw-bench-spool-'));
  const metrics: BenchMetric[] = [];
  const notes: string[] = [];
  let influx: InfluxdServer | undefined;
  try {
    // 1. Spool: nothing listens at deadUrl. Memory sampled as it is (live + not yet collected).
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    log(`spooling ${fmt(TOTAL)} points into ${dir} (InfluxDB URL ${deadUrl}: closed)…`);
    const spool = await runPhase(['spool', dir, deadUrl, String(TOTAL)]);
    const sd = spool.done;
    if (sd.spooled !== TOTAL || sd.spoolPoints !== TOTAL || sd.dropped !== 0) throw new Error(`spool phase: ${JSON.stringify(sd)}`);
    const spoolRate = (TOTAL * 1000) / Number(sd.ms);
    const rss = summarise(spool.samples, 'rss', (s) => s.spooled);
    const heap = summarise(spool.samples, 'heapUsed', (s) => s.spooled);
    const procRss = spool.proc.map((p) => p.rssKb / 1024);
    const cpuPct = ((spool.proc[spool.proc.length - 1]!.cpuMs - spool.proc[0]!.cpuMs) / (spool.proc[spool.proc.length - 1]!.at - spool.proc[0]!.at)) * 100;
    const series = spool.samples.map((s) => `${Math.round(s.spooled / 1000)}k:${mb(s.rss / MB)}/${mb(s.heapUsed / MB)}`).join(' ');
    log(
      `spool: ${fmt(spoolRate)} points/s (${(Number(sd.ms) / 1000).toFixed(2)} s; ${mb(Number(sd.spoolBytes) / MB)} MB of line protocol in the spool, ${mb(Number(sd.diskBytes) / MB)} MB on disk); ` +
        `RSS start/warm/max/end ${mb(rss.start)}/${mb(rss.warm)}/${mb(rss.max)}/${mb(rss.end)} MB (slope ${rss.slope.toFixed(2)} MB/100k); ` +
        `heapUsed ${mb(heap.start)}/${mb(heap.warm)}/${mb(heap.max)}/${mb(heap.end)} MB; /proc VmRSS max ${mb(Math.max(...procRss))} MB; CPU ${cpuPct.toFixed(0)} %`,
    );
    log(`  points spooled:RSS/heapUsed MB, every 250 ms: ${series}`);

    // 1b. The same again into a second store, with a full GC before every sample: the live heap.
    const liveDir = mkdtempSync(join(tmpdir(), 'sw-bench-spool-live-'));
    let live: PhaseResult;
    try {
      live = await runPhase(['spool', liveDir, deadUrl, String(TOTAL)], { SW_BENCH_GC_BEFORE_SAMPLE: '1' });
    } finally {
      rmSync(liveDir, { recursive: true, force: true });
    }
    if (live.done.spooled !== TOTAL) throw new Error(`spool phase (live heap): ${JSON.stringify(live.done)}`);
    const liveHeap = summarise(live.samples, 'heapUsed', (s) => s.spooled);
    const liveRss = summarise(live.samples, 'rss', (s) => s.spooled);
    const liveSeries = live.samples.map((s) => `${Math.round(s.spooled / 1000)}k:${mb(s.rss / MB)}/${mb(s.heapUsed / MB)}`).join(' ');
    log(`live heap (full GC before each sample): start/max/end ${mb(liveHeap.start)}/${mb(liveHeap.max)}/${mb(liveHeap.end)} MB, slope ${liveHeap.slope.toFixed(2)} MB/100k; RSS slope ${liveRss.slope.toFixed(2)} MB/100k`);
    log(`  points spooled:RSS/live heap MB: ${liveSeries}`);

    // 2. Replay into a fresh InfluxDB 1.6.
    influx = await InfluxdServer.start();
    await influx.createDatabase(DB);
    log(`replaying into influxd ${influx.url} (pid ${influx.pid}, data in ${influx.dir})…`);
    const s0 = sampleProc(influx.pid!);
    const replay = await runPhase(['replay', dir, influx.url, DB, String(TOTAL)]);
    const s1 = sampleProc(influx.pid!);
    const rd = replay.done;
    if (rd.replayed !== TOTAL || rd.spoolPoints !== 0 || rd.dropped !== 0) throw new Error(`replay phase: ${JSON.stringify(rd)}`);
    const replayRate = (TOTAL * 1000) / Number(rd.ms);
    const stored = await influx.count('event_seq', 'door_lock', DB);
    if (stored !== TOTAL) throw new Error(`replay: ${stored} points in InfluxDB, expected ${TOTAL}`);
    const replayRss = summarise(replay.samples, 'rss', (s) => s.written);
    const replayHeap = summarise(replay.samples, 'heapUsed', (s) => s.written);
    const serverCpu = ((s1.cpuMs - s0.cpuMs) / (s1.at - s0.at)) * 100;
    log(
      `replay: ${fmt(replayRate)} points/s (${(Number(rd.ms) / 1000).toFixed(2)} s, ${rd.requests} requests, ${rd.retries} retries); ${fmt(stored)} points in InfluxDB; ` +
        `RSS start/max/end ${mb(replayRss.start)}/${mb(replayRss.max)}/${mb(replayRss.end)} MB, heapUsed ${mb(replayHeap.start)}/${mb(replayHeap.max)}/${mb(replayHeap.end)} MB; influxd CPU ${serverCpu.toFixed(0)} %`,
    );

    const warmGrowth = rss.maxAfterWarm - rss.warm;
    metrics.push(
      { name: 'spool write rate, points/s (server down)', value: Math.round(spoolRate), target: `≥ ${fmt(RATE_TARGET)}`, pass: spoolRate >= RATE_TARGET },
      { name: 'replay rate, points/s (into InfluxDB 1.6)', value: Math.round(replayRate), target: `≥ ${fmt(RATE_TARGET)}`, pass: replayRate >= RATE_TARGET },
      { name: 'RSS while spooling, MB: start / at 10 % / max / end', value: `${mb(rss.start)} / ${mb(rss.warm)} / ${mb(rss.max)} / ${mb(rss.end)}` },
      { name: 'RSS growth after warm-up (max − value at 10 %), MB', value: round(warmGrowth, 1), target: `< ${RSS_GROWTH_TARGET_MB}`, pass: warmGrowth < RSS_GROWTH_TARGET_MB },
      { name: 'RSS trend after warm-up, MB per 100k points', value: round(rss.slope, 2) },
      { name: 'heapUsed while spooling, MB: start / at 10 % / max / end', value: `${mb(heap.start)} / ${mb(heap.warm)} / ${mb(heap.max)} / ${mb(heap.end)}` },
      { name: 'live heap while spooling (after full GC), MB: start / max / end', value: `${mb(liveHeap.start)} / ${mb(liveHeap.max)} / ${mb(liveHeap.end)}` },
      { name: 'live heap trend, MB per 100k points', value: round(liveHeap.slope, 2), target: `< ${SLOPE_TARGET_MB_PER_100K}`, pass: liveHeap.slope < SLOPE_TARGET_MB_PER_100K },
      { name: 'RSS trend with GC before each sample, MB per 100k points', value: round(liveRss.slope, 2), target: `< ${SLOPE_TARGET_MB_PER_100K}`, pass: liveRss.slope < SLOPE_TARGET_MB_PER_100K },
      { name: 'spool on disk after spooling, MB (line protocol in it)', value: `${mb(Number(sd.diskBytes) / MB)} (${mb(Number(sd.spoolBytes) / MB)})` },
      { name: 'RSS / heapUsed while replaying, MB: start / max / end', value: `${mb(replayRss.start)} / ${mb(replayRss.max)} / ${mb(replayRss.end)}; ${mb(replayHeap.start)} / ${mb(replayHeap.max)} / ${mb(replayHeap.end)}` },
    );
    notes.push(
      `Spooling, ${spool.samples.length} samples 250 ms apart (points spooled:RSS/heapUsed, MB): ${series}. Child CPU ${cpuPct.toFixed(0)} % of one core; /proc VmRSS max ${mb(Math.max(...procRss))} MB.`,
      `Second spool run with a full GC before each sample (points spooled:RSS/live heap, MB): ${liveSeries}. ` +
        `A spool held in the heap would grow the live heap by at least the line protocol itself, ${mb((Number(sd.spoolBytes) / TOTAL) * 100_000 / MB)} MB per 100k points.`,
      `Replay: ${rd.requests} requests, ${rd.retries} retries, ${fmt(stored)} points counted in InfluxDB afterwards; influxd CPU ${serverCpu.toFixed(0)} % of one core.`,
      `The RSS at start (${Math.round(rss.start)} MB) is node + tsx + better-sqlite3 idle; the first 250 ms add V8's young generation and heap for the load (the "at 10 %" value). ` +
        `Flat means it does not grow with the points spooled after that.`,
    );
  } finally {
    await influx?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
  const loadAfter = loadLine();
  printResult({
    title: 'InfluxDB spool: write, replay, memory (1,000,000 points)'.replace('1,000,000', fmt(TOTAL)),
    method:
      `The InfluxSink in a child process (test/helpers/spool-bench-child.ts, node --import tsx), store on disk under os.tmpdir(). Spool: InfluxDB URL on a closed port, ` +
      `${fmt(TOTAL)} lock readings (4 fields, 5 tags, ~166 bytes/line) from 500 devices through the EventBus as fast as the sink takes them; batches of 5,000 lines, each one ` +
      `SQLite transaction (WAL, synchronous=FULL; spool.maxBytes 1 GiB so that nothing overflows); rate = points / time until all are committed. Replay: a fresh influxd 1.6 (data on disk), a new child on the same store; ` +
      `rate = points / time until the spool is empty; count(event_seq) in InfluxDB checked = ${fmt(TOTAL)}. Memory: process.memoryUsage() sampled in the child every 250 ms ` +
      `(VmRSS from /proc cross-checked by the bench); trend = least-squares slope over the samples after the first 10 % of the points. ` +
      `Load average before ${loadBefore}, after ${loadAfter}.`,
    metrics,
    notes: notes.join('\n\n'),
  });
}

runBench(main);
