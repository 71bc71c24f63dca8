/**
 * Write rate (issue #4): sustained points per second from the gateway's InfluxDB sink into a real
 * InfluxDB 1.6 (Debian influxd, started here with test/helpers/influx-servers.ts; its data, WAL
 * and meta dirs are on disk under os.tmpdir()), side by side with a plain curl posting the SAME
 * line protocol in the SAME batches.
 *
 * The workload: TOTAL lock readings (event_seq, door, bolt, battery: 4 fields, 5 tags, ~166
 * bytes of line protocol each) from 500 locks, one millisecond apart (test/helpers/influx-bench-data.ts).
 *
 *   ours        the gateway path: `points` events on the real EventBus, a few hundred per
 *               event-loop turn (the gateway emits one per poll reply, from I/O callbacks) ->
 *               InfluxSink (InfluxSchema.points: line protocol) -> LineBatcher (5,000 lines) ->
 *               InfluxWriter -> the client library's HTTP transport, POST /write, one request at
 *               a time. The producer emits as fast as the writer drains: it waits while two
 *               closed batches are queued, so nothing spills to the disk spool (checked: `spooled`
 *               must stay 0). Timed from the first emit to the last point confirmed.
 *   writer      the InfluxWriter alone, fed the pre-built lines of the batch files (diagnostic:
 *               the transport path without building line protocol).
 *   curl        the same lines, pre-written to files of 5,000 lines (exactly the bodies the sink
 *               sends), posted by ONE `curl -K <config>` process with `next` between requests:
 *               sequential, one keep-alive connection, no process start per request. This is
 *               the strongest plain-curl baseline, and the one the ratio uses.
 *   curl/spawn  the same files, one `curl --data-binary @file` process per request (how a shell
 *               script would do it), for reference.
 *
 * Every run gets a fresh influxd (the background compactions of an earlier run's data would
 * slow the next one) and a warm-up write; ROUNDS rounds, the order of the runs rotating per
 * round; medians per path, and the ratio of the medians. After every run
 * `SELECT count(event_seq)` must equal TOTAL. The CPU of influxd (from /proc) during each run
 * shows whether the server is the limit. The machine's other load moves these numbers: the
 * load average before and after is in the result.
 *
 *   npx tsx test/bench/influx-write.bench.ts
 *   SW_BENCH_SAMPLES_SCALE=0.2 SW_BENCH_ROUNDS=1 npx tsx test/bench/influx-write.bench.ts   (quick)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import { silentLogger } from '../../gateway/src/log.js';
import { influxSchema } from '../../gateway/src/sinks/influx/config.js';
import { InfluxSink } from '../../gateway/src/sinks/influx/influx-sink.js';
import { InfluxSchema } from '../../gateway/src/sinks/influx/schema.js';
import { InfluxWriter } from '../../gateway/src/sinks/influx/writer.js';
import { openStore } from '../../gateway/src/store/store.js';
import { benchReading, BENCH_DEVICES as DEVICES, gatewayDeviceInfo } from '../helpers/influx-bench-data.js';
import { SITE } from '../helpers/influx-kit.js';
import { InfluxdServer } from '../helpers/influx-servers.js';
import { loadLine, log, printResult, round, runBench, sampleProc, type BenchMetric } from './bench-lib.js';

const CURL = '/usr/bin/curl';
const SCALE = Number(process.env.SW_BENCH_SAMPLES_SCALE ?? 1);
const BATCH = 5000;
const TOTAL = Math.max(BATCH, Math.round((1_000_000 * SCALE) / BATCH) * BATCH);
const ROUNDS = Math.max(1, Number(process.env.SW_BENCH_ROUNDS ?? 3));
/** Readings emitted per event-loop turn by the producer of `ours`. */
const EMIT_SLICE = 250;
const RATIO_TARGET = 0.8;
const ABS_TARGET = 100_000;
/** Two hours ago on a whole hour: one shard group, well inside the (infinite) retention. */
const BASE = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000;

type PathName = 'ours' | 'writer' | 'curl' | 'curl/spawn';

interface Run {
  path: PathName;
  round: number;
  db: string;
  points: number;
  ms: number;
  rate: number;
  /** influxd CPU during the run, % of one core. */
  serverCpu: number;
  /** CPU of the client (this process for `ours`), % of one core; undefined for curl. */
  clientCpu?: number;
  requests: number;
  note?: string;
}

/** Reading i: device lock-(i mod 500), timestamp BASE + i ms. */
function reading(i: number): ReturnType<typeof benchReading> {
  return benchReading(i, BASE);
}

/** The line protocol of readings [from, to), exactly as the sink builds it. */
function linesOf(schema: InfluxSchema, from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i++) {
    const { device, points } = reading(i);
    for (const l of schema.points(device, points, gatewayDeviceInfo(device))) out.push(l.line);
  }
  return out;
}

/** Batch files of BATCH lines (no trailing newline: the body the writer sends). */
function writeBatchFiles(dir: string): { files: string[]; bytes: number } {
  const schema = new InfluxSchema({ site: SITE });
  const files: string[] = [];
  let bytes = 0;
  for (let from = 0; from < TOTAL; from += BATCH) {
    const body = linesOf(schema, from, Math.min(TOTAL, from + BATCH)).join('\n');
    const file = join(dir, `batch-${String(files.length).padStart(5, '0')}.lp`);
    writeFileSync(file, body);
    bytes += Buffer.byteLength(body);
    files.push(file);
  }
  return { files, bytes };
}

function writeUrl(influx: InfluxdServer, db: string): string {
  return `${influx.url}/write?db=${encodeURIComponent(db)}&precision=ms`;
}

/** Run a process to its end; stdout as text; rejects on a non-zero exit. */
function runProcess(bin: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out).toString());
      else reject(new Error(`${bin} ${args.slice(0, 6).join(' ')}… exited ${code ?? signal}: ${Buffer.concat(err).toString().slice(-500)}`));
    });
  });
}

function expectAll204(out: string, requests: number, what: string): void {
  const codes = out.split('\n').filter((l) => l.trim() !== '');
  const bad = codes.filter((c) => c.trim() !== '204');
  if (codes.length !== requests || bad.length > 0) throw new Error(`${what}: ${codes.length} answers for ${requests} requests, not 204: ${bad.slice(0, 5).join(', ')}`);
}

/** Measure `fn`: wall time, influxd CPU (from /proc), this process's CPU. */
async function timed(influx: InfluxdServer, fn: () => Promise<void>): Promise<{ ms: number; serverCpu: number; selfCpu: number }> {
  const pid = influx.pid!;
  const s0 = sampleProc(pid);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  const s1 = sampleProc(pid);
  const c = process.cpuUsage(c0);
  return { ms, serverCpu: ((s1.cpuMs - s0.cpuMs) / (s1.at - s0.at)) * 100, selfCpu: ((c.user + c.system) / 1000 / ms) * 100 };
}

/** One curl process, every batch as its own request (`next`), sequential over one keep-alive connection. */
async function runCurlChained(influx: InfluxdServer, db: string, files: string[], dir: string): Promise<Omit<Run, 'round'>> {
  const url = writeUrl(influx, db);
  const cfg = join(dir, `curl-${db}.cfg`);
  writeFileSync(
    cfg,
    files.map((f) => [`url = "${url}"`, `data-binary = "@${f}"`, 'output = "/dev/null"', 'write-out = "%{http_code}\\n"', 'silent'].join('\n')).join('\nnext\n') + '\n',
  );
  let out = '';
  const t = await timed(influx, async () => {
    out = await runProcess(CURL, ['-K', cfg]);
  });
  expectAll204(out, files.length, 'curl -K');
  return { path: 'curl', db, points: TOTAL, ms: t.ms, rate: (TOTAL * 1000) / t.ms, serverCpu: t.serverCpu, requests: files.length };
}

/** One `curl --data-binary @file` process per batch, one after the other. */
async function runCurlSpawned(influx: InfluxdServer, db: string, files: string[]): Promise<Omit<Run, 'round'>> {
  const url = writeUrl(influx, db);
  let out = '';
  const t = await timed(influx, async () => {
    for (const f of files) out += `${await runProcess(CURL, ['-s', '-o', '/dev/null', '-w', '%{http_code}\\n', '--data-binary', `@${f}`, url])}`;
  });
  expectAll204(out, files.length, 'curl per request');
  return { path: 'curl/spawn', db, points: TOTAL, ms: t.ms, rate: (TOTAL * 1000) / t.ms, serverCpu: t.serverCpu, requests: files.length };
}

/** The gateway path: bus -> InfluxSink -> writer -> InfluxDB, the producer paced by the writer. */
async function runOurs(influx: InfluxdServer, db: string): Promise<Omit<Run, 'round'>> {
  const dir = mkdtempSync(join(tmpdir(), 'sw-bench-influx-write-'));
  const store = openStore({ dir });
  let wake: (() => void) | undefined;
  const sink = new InfluxSink({
    config: influxSchema.parse({ enabled: true, api: 'v1', url: influx.url, v1: { db }, batch: { size: BATCH, intervalMs: 1000 } }),
    store,
    site: SITE,
    deviceInfo: gatewayDeviceInfo,
    log: silentLogger(),
    onDelivery: () => {
      const w = wake;
      wake = undefined;
      w?.();
    },
  });
  const delivered = () => new Promise<void>((r) => (wake = r));
  const bus = new EventBus();
  sink.attach(bus);
  sink.start();
  const stats = () => {
    const s = sink.stats();
    if (!s.enabled) throw new Error('sink not enabled');
    return s;
  };
  try {
    const t = await timed(influx, async () => {
      let i = 0;
      while (i < TOTAL) {
        const m = stats().memory;
        // Two batches waiting besides the one in flight: let the writer catch up (below its spill limit of 4).
        if (m.queued + m.batching >= 2 * BATCH) {
          await delivered();
          continue;
        }
        // Readings arrive a few hundred per event-loop turn (in the gateway: one emit per poll
        // reply, from an I/O callback), so the writer's socket gets its turn between them.
        const end = Math.min(TOTAL, i + EMIT_SLICE);
        for (; i < end; i++) bus.emit('points', reading(i));
        await new Promise((r) => setImmediate(r));
      }
      sink.flush();
      const deadline = performance.now() + 120_000;
      while (stats().written < TOTAL) {
        if (performance.now() > deadline) throw new Error(`ours: only ${stats().written}/${TOTAL} written after 120 s: ${JSON.stringify(stats().connection)}`);
        await Promise.race([delivered(), new Promise((r) => setTimeout(r, 100))]);
      }
    });
    const s = stats();
    if (s.spooled > 0 || s.dropped.total > 0 || s.retries > 0)
      throw new Error(`ours: spooled ${s.spooled}, dropped ${s.dropped.total}, retries ${s.retries} (the measurement must stay on the direct path)`);
    return { path: 'ours', db, points: TOTAL, ms: t.ms, rate: (TOTAL * 1000) / t.ms, serverCpu: t.serverCpu, clientCpu: t.selfCpu, requests: s.requests };
  } finally {
    await sink.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The writer alone (diagnostic): the pre-built lines of the batch files -> InfluxWriter ->
 * InfluxDB, paced like `ours`. The difference to `ours` is the cost of building line protocol.
 */
async function runWriterOnly(influx: InfluxdServer, db: string, files: string[]): Promise<Omit<Run, 'round'>> {
  const dir = mkdtempSync(join(tmpdir(), 'sw-bench-influx-writer-'));
  const store = openStore({ dir });
  let wake: (() => void) | undefined;
  const writer = new InfluxWriter({
    config: influxSchema.parse({ enabled: true, api: 'v1', url: influx.url, v1: { db }, batch: { size: BATCH, intervalMs: 1000 } }),
    spool: store.spool,
    log: silentLogger(),
    onDelivery: () => {
      const w = wake;
      wake = undefined;
      w?.();
    },
  });
  const delivered = () => new Promise<void>((r) => (wake = r));
  writer.start();
  try {
    const t = await timed(influx, async () => {
      for (const f of files) {
        for (;;) {
          const m = writer.stats().memory;
          if (m.queued + m.batching < 2 * BATCH) break;
          await delivered();
        }
        writer.write(readFileSync(f, 'utf8').split('\n').map((line) => ({ line, class: 'telemetry' as const })));
      }
      writer.flush();
      const deadline = performance.now() + 120_000;
      while (writer.stats().written < TOTAL) {
        if (performance.now() > deadline) throw new Error(`writer: only ${writer.stats().written}/${TOTAL} written after 120 s`);
        await Promise.race([delivered(), new Promise((r) => setTimeout(r, 100))]);
      }
    });
    const s = writer.stats();
    if (s.spooled > 0 || s.dropped.badData + s.dropped.overflow + s.dropped.storeError > 0 || s.retries > 0)
      throw new Error(`writer: spooled ${s.spooled}, retries ${s.retries}, dropped ${JSON.stringify(s.dropped)}`);
    return { path: 'writer', db, points: TOTAL, ms: t.ms, rate: (TOTAL * 1000) / t.ms, serverCpu: t.serverCpu, clientCpu: t.selfCpu, requests: s.requests };
  } finally {
    await writer.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function commandExists(bin: string): Promise<boolean> {
  try {
    await runProcess(bin, ['--version']);
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  if (!(await commandExists(CURL))) throw new Error(`${CURL} not found: install curl (apt-get install curl; check with \`command -v curl\`)`);
  const loadBefore = loadLine();
  const dir = mkdtempSync(join(tmpdir(), 'sw-bench-influx-lp-'));
  const runs: Run[] = [];
  let bytes = 0;
  try {
    log(`${TOTAL.toLocaleString('en')} points in batches of ${BATCH}, ${ROUNDS} round(s); a fresh influxd for every run`);
    const t0 = performance.now();
    const batches = writeBatchFiles(dir);
    bytes = batches.bytes;
    log(`wrote ${batches.files.length} batch files, ${(bytes / 2 ** 20).toFixed(1)} MiB of line protocol (${(bytes / TOTAL).toFixed(0)} bytes/line) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const order: PathName[] = ['curl', 'ours', 'writer', 'curl/spawn'];
    for (let r = 1; r <= ROUNDS; r++) {
      const rotated = order.map((_, k) => order[(k + r - 1) % order.length]!);
      for (const path of rotated) {
        // A fresh server per run: the compactions of an earlier run's data must not slow this one.
        const influx = await InfluxdServer.start();
        try {
          // Warm-up (not counted): the first write creates the meta data, a shard and a WAL segment.
          await influx.createDatabase('warmup');
          await runCurlChained(influx, 'warmup', batches.files.slice(0, 4), dir);
          const db = `${path.replace('/', '_')}_r${r}`;
          await influx.createDatabase(db);
          const run =
            path === 'ours'
              ? await runOurs(influx, db)
              : path === 'writer'
                ? await runWriterOnly(influx, db, batches.files)
                : path === 'curl'
                  ? await runCurlChained(influx, db, batches.files, dir)
                  : await runCurlSpawned(influx, db, batches.files);
          const stored = await influx.count('event_seq', 'door_lock', db);
          if (stored !== TOTAL) throw new Error(`${path} round ${r}: ${stored} points stored in ${db}, expected ${TOTAL}`);
          runs.push({ ...run, round: r });
          log(
            `round ${r} ${path.padEnd(10)} ${Math.round(run.rate).toLocaleString('en').padStart(9)} points/s  (${(run.ms / 1000).toFixed(2)} s, ${run.requests} requests, ` +
              `influxd CPU ${run.serverCpu.toFixed(0)} %${run.clientCpu === undefined ? '' : `, bench process CPU ${run.clientCpu.toFixed(0)} %`}; ${stored} stored)`,
          );
        } finally {
          await influx.dispose();
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const median = (xs: number[]): number => {
    const a = [...xs].sort((x, y) => x - y);
    return a.length % 2 === 1 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2;
  };
  const of = (path: PathName): Run[] => runs.filter((r) => r.path === path);
  const rate = (path: PathName): number => median(of(path).map((r) => r.rate));
  const cpu = (path: PathName, which: 'serverCpu' | 'clientCpu'): number => median(of(path).map((r) => r[which] ?? Number.NaN));
  const ours = rate('ours');
  const curl = rate('curl');
  const writer = rate('writer');
  const spawned = rate('curl/spawn');
  const ratio = ours / curl;
  const roundRatios = Array.from({ length: ROUNDS }, (_, k) => of('ours')[k]!.rate / of('curl')[k]!.rate);
  const serverLimited = curl < ABS_TARGET;
  const fmt = (n: number) => Math.round(n).toLocaleString('en');
  const metrics: BenchMetric[] = [
    {
      name: 'ours: EventBus → InfluxSink → InfluxDB 1.6, points/s (median)',
      value: Math.round(ours),
      target: serverLimited ? `≥ ${fmt(ABS_TARGET)} if the server allows` : `≥ ${fmt(ABS_TARGET)}`,
      pass: ours >= ABS_TARGET || (serverLimited && ratio >= RATIO_TARGET),
    },
    { name: 'curl -K (one process, keep-alive, same batches), points/s (median)', value: Math.round(curl) },
    { name: 'ratio ours / curl (medians)', value: round(ratio, 2), target: `≥ ${RATIO_TARGET}`, pass: ratio >= RATIO_TARGET },
    { name: 'ratio ours / curl per round', value: roundRatios.map((r) => r.toFixed(2)).join(', ') },
    { name: 'writer alone (pre-built lines), points/s; ratio to curl', value: `${fmt(writer)}; ${(writer / curl).toFixed(2)}` },
    { name: 'curl --data-binary, one process per request, points/s; ours / it', value: `${fmt(spawned)}; ${(ours / spawned).toFixed(2)}` },
    { name: 'influxd CPU, % of one core (ours / curl)', value: `${cpu('ours', 'serverCpu').toFixed(0)} / ${cpu('curl', 'serverCpu').toFixed(0)}` },
    { name: 'bench process CPU during ours, % of one core', value: round(cpu('ours', 'clientCpu'), 0) },
  ];
  const loadAfter = loadLine();
  const all = runs.map((r) => `r${r.round} ${r.path} ${fmt(r.rate)}/s (influxd ${r.serverCpu.toFixed(0)} %)`).join('; ');
  printResult({
    title: 'InfluxDB write rate (InfluxDB 1.6, v1 /write)',
    method:
      `${fmt(TOTAL)} lock readings (4 fields, 5 tags, ${(bytes / TOTAL).toFixed(0)} bytes/line) from ${DEVICES} devices into a local influxd 1.6 (data/WAL on disk under os.tmpdir(), a fresh server started by the bench for every run), ` +
      `batches of ${fmt(BATCH)} lines, one request at a time. Ours: \`points\` events on the EventBus (${EMIT_SLICE} per event-loop turn) → InfluxSink (line protocol) → batcher → writer → ` +
      `@influxdata/influxdb-client transport, POST /write; the producer waits while 2 batches are queued, so nothing spills to the spool (checked); timed from the first emit to the last point confirmed. ` +
      `Curl: the same bodies pre-written to files, posted by one \`curl -K\` process (\`next\` per batch, keep-alive) — the ratio uses this one; ` +
      `also one \`curl --data-binary @file\` process per batch, and the writer alone fed the pre-built lines. Each run into a fresh database, count(event_seq) checked = ${fmt(TOTAL)}; ` +
      `${ROUNDS} round(s), run order rotating, medians; CPU of influxd from /proc, of the bench process from process.cpuUsage(). Load average before ${loadBefore}, after ${loadAfter}.`,
    metrics,
    notes:
      `All runs: ${all}. ` +
      (serverLimited
        ? `curl itself stays below ${fmt(ABS_TARGET)} points/s: the server (influxd on this machine, sharing ${cpus().length} cores with the client) is the limit, so the absolute target is judged by the ratio. `
        : `curl reaches ${fmt(curl)} points/s, so the server allows the absolute target. `) +
      `Both sides share ${cpus().length} cores with influxd: ours also builds the line protocol from domain objects in the same process (curl sends finished files); ` +
      `the writer-alone run shows the transport path without that work.`,
  });
}

runBench(main);
