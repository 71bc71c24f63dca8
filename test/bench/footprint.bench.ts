/**
 * Footprint: the gateway's resident memory and CPU while it polls 500 simulated Modbus TCP
 * devices (450 locks, 50 alarm poles, each on its own port) with every poll class — alarm
 * included — at 1 s. Village life runs (passes, presses...), so the gateway handles events and
 * alarms while it is measured.
 *
 * The gateway runs as its OWN process, started the way it ships: `bin/shouwang.js start --config
 * <file>`, whose #! line gives node its memory settings (see there). A second run starts the
 * same build as `node dist/gateway/src/main.js start` without them, to show what they are
 * worth. Nothing of the bench or of tsx is counted. We sample
 * /proc/<pid>/stat (utime + stime) and /proc/<pid>/status (VmRSS) once a second over the
 * measurement window after a warm-up. Transactions per second come from the simulator's
 * counters and are compared with the number of block reads the plans ask for each second.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { hashPassword } from '../../gateway/src/auth/password.js';
import { gatewayConfigSchema } from '../../gateway/src/config/schema.js';
import { planDevice } from '../../gateway/src/polling/planner.js';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import { gatewayConfigFor, loadVillageFile } from '../../simulator/src/index.js';
import type { TcpBusStats } from '../../simulator/src/tcp-slaves.js';
import { jsonLine, repoRoot } from '../helpers/processes.js';
import { startVillage, TEST_USERS } from '../helpers/village.js';
import { loadLine, log, percentile, printResult, round, runBench, sampleProc, sleep, startNodeProcess, type BenchMetric, type NodeChild, type ProcSample } from './bench-lib.js';

const VILLAGE = 'simulator/villages/footprint-500.yaml';
const WARMUP_MS = Number(process.env.SW_BENCH_WARMUP_S ?? 20) * 1000;
const MEASURE_MS = Number(process.env.SW_BENCH_SECONDS ?? 60) * 1000;
const PLAIN_MEASURE_MS = Number(process.env.SW_BENCH_PLAIN_SECONDS ?? 30) * 1000;
const RSS_TARGET_MB = 120;
const CPU_TARGET_PCT = 10;

/** Build dist/ when it is missing or older than any gateway/simulator source (scripts/bench.mjs builds first anyway). */
function ensureBuilt(): void {
  const main = join(repoRoot, 'dist/gateway/src/main.js');
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : e.name.endsWith('.ts') ? statSync(p).mtimeMs : 0);
    }, 0);
  const src = Math.max(newest(join(repoRoot, 'gateway/src')), newest(join(repoRoot, 'simulator/src')));
  if (existsSync(main) && statSync(main).mtimeMs >= src) return;
  log('building dist/ (npm run build)…');
  const r = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  if (!existsSync(main)) throw new Error(`npm run build did not produce ${main} (exit ${r.status})`);
}

interface Measured {
  samples: ProcSample[];
  cpuPct: number;
  rssMb: { mean: number; max: number; p50: number };
  txPerS: number;
  exceptions: number;
  elapsedMs: number;
}

async function measure(pid: number, simStats: () => Promise<TcpBusStats>, ms: number): Promise<Measured> {
  const s0 = await simStats();
  const samples: ProcSample[] = [sampleProc(pid)];
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    await sleep(1000);
    samples.push(sampleProc(pid));
  }
  const s1 = await simStats();
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  const rss = samples.map((s) => s.rssKb / 1024).sort((a, b) => a - b);
  return {
    samples,
    cpuPct: ((last.cpuMs - first.cpuMs) / (last.at - first.at)) * 100,
    rssMb: { mean: rss.reduce((a, b) => a + b, 0) / rss.length, max: rss[rss.length - 1]!, p50: percentile(rss, 50) },
    txPerS: ((s1.replies - s0.replies) * 1000) / (performance.now() - t0),
    exceptions: s1.exceptions - s0.exceptions,
    elapsedMs: last.at - first.at,
  };
}

async function startGatewayProcess(configFile: string, viaLauncher: boolean): Promise<NodeChild<{ mqttPort: number }>> {
  const isReady = (line: string) => {
    const msg = jsonLine(line);
    if (msg?.msg !== 'gateway ready') return undefined;
    const port = (msg.mqtt as { port?: number } | undefined)?.port;
    return typeof port === 'number' ? { mqttPort: port } : undefined;
  };
  const args = ['start', '--config', configFile];
  return viaLauncher
    ? startNodeProcess(args, repoRoot, isReady, 60_000, join(repoRoot, 'bin/shouwang.js'))
    : startNodeProcess(['dist/gateway/src/main.js', ...args], repoRoot, isReady);
}

/** Devices that report `online` on their retained availability topic. */
async function onlineDevices(mqttPort: number, site: string): Promise<number> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: TEST_USERS.viewer.username, password: TEST_USERS.viewer.password, reconnectPeriod: 0 });
  const state = new Map<string, string>();
  client.on('message', (topic, payload) => state.set(topic, payload.toString()));
  await client.subscribeAsync(`shouwang/${site}/+/availability`, { qos: 1 });
  await sleep(1500);
  await client.endAsync(true);
  return [...state.values()].filter((v) => v === 'online').length;
}

async function main(): Promise<void> {
  ensureBuilt();
  const loadBefore = loadLine();
  const village = await startVillage({ village: VILLAGE });
  const storageDir = mkdtempSync(join(tmpdir(), 'sw-footprint-'));
  const metrics: BenchMetric[] = [];
  const notes: string[] = [];
  try {
    const polling = { intervals: { alarm: 1000, fast: 1000, normal: 1000, slow: 1000 } };
    const input = gatewayConfigFor(loadVillageFile(village.villageFile), village.endpoints, {
      storageDir,
      polling,
      mqtt: {
        host: '127.0.0.1',
        port: 0,
        users: Object.values(TEST_USERS).map((u) => ({ username: u.username, passwordHash: hashPassword(u.password), role: u.role })),
      },
    });
    const config = gatewayConfigSchema.parse(input);
    const configFile = join(storageDir, 'gateway.yaml');
    // One polling object is shared by all 500 buses: write it out in full (the loader rejects > 100 YAML aliases).
    writeFileSync(configFile, stringify(input, { aliasDuplicateObjects: false }));
    const profiles = ProfileRegistry.load(config.profiles.dirs);
    const blocksPerSecond = config.devices.reduce((n, d) => {
      const bus = config.buses.find((b) => b.id === d.bus)!;
      return n + planDevice(d, profiles.get(d.profile), bus.polling, { wire: { framing: 'tcp' } }).blocks.length;
    }, 0);
    const simStats = async () => (await village.control.stats()).buses.find((b): b is TcpBusStats => b.type === 'tcp')!;
    log(`${config.devices.length} devices on ${config.buses.length} Modbus TCP buses; the plans ask for ${blocksPerSecond} block reads per second`);

    const runs: Array<{ label: string; kind: 'headline' | 'plain'; viaLauncher: boolean; ms: number }> = [
      { label: 'bin/shouwang.js start (as shipped)', kind: 'headline', viaLauncher: true, ms: MEASURE_MS },
      { label: 'node dist/gateway/src/main.js start (no launcher settings)', kind: 'plain', viaLauncher: false, ms: PLAIN_MEASURE_MS },
    ];
    const summary: Partial<Record<'headline' | 'plain', Measured>> = {};
    for (const run of runs) {
      if (run.ms <= 0) continue;
      const gw = await startGatewayProcess(configFile, run.viaLauncher);
      const pid = gw.child.pid!;
      try {
        log(`\n${run.label}: gateway pid ${pid}, MQTT port ${gw.ready.mqttPort}; warm-up ${WARMUP_MS / 1000} s, then ${run.ms / 1000} s measured`);
        await sleep(WARMUP_MS);
        const m = await measure(pid, simStats, run.ms);
        const online = await onlineDevices(gw.ready.mqttPort, config.site.id);
        summary[run.kind] = m;
        const rssSeries = m.samples.filter((_, i) => i % 10 === 0).map((s) => (s.rssKb / 1024).toFixed(1));
        log(
          `  RSS mean ${m.rssMb.mean.toFixed(1)} MB, max ${m.rssMb.max.toFixed(1)} MB (every 10 s: ${rssSeries.join(', ')}); CPU ${m.cpuPct.toFixed(1)} % of one core; ` +
            `${m.txPerS.toFixed(0)} transactions/s of ${blocksPerSecond} planned (${((m.txPerS / blocksPerSecond) * 100).toFixed(1)} %); ${online}/${config.devices.length} devices online; ` +
            `load ${loadLine()}`,
        );
        if (run.kind === 'headline') {
          metrics.push(
            { name: 'RSS max, MB (bin/shouwang.js)', value: round(m.rssMb.max, 1), target: `≤ ${RSS_TARGET_MB}`, pass: m.rssMb.max <= RSS_TARGET_MB },
            { name: 'RSS mean, MB (bin/shouwang.js)', value: round(m.rssMb.mean, 1) },
            { name: 'CPU, % of one core (bin/shouwang.js)', value: round(m.cpuPct, 1), target: `≤ ${CPU_TARGET_PCT}`, pass: m.cpuPct <= CPU_TARGET_PCT },
            { name: 'transactions/s (planned)', value: `${m.txPerS.toFixed(0)} (${blocksPerSecond})`, target: 'every block each second', pass: m.txPerS >= 0.98 * blocksPerSecond },
            { name: 'devices online', value: `${online}/${config.devices.length}` },
          );
        } else {
          const what = 'without the launcher settings';
          metrics.push({ name: `RSS max / mean, MB (${what})`, value: `${m.rssMb.max.toFixed(1)} / ${m.rssMb.mean.toFixed(1)}` }, { name: `CPU % (${what})`, value: round(m.cpuPct, 1) });
        }
        notes.push(
          `${run.label}: ${(m.elapsedMs / 1000).toFixed(0)} s measured after ${WARMUP_MS / 1000} s warm-up; RSS every 10 s (MB): ${rssSeries.join(', ')}; ` +
            `CPU ${m.cpuPct.toFixed(1)} % of one core; ${m.txPerS.toFixed(0)} tx/s of ${blocksPerSecond} planned; Modbus exceptions ${m.exceptions}; ${online}/${config.devices.length} devices online at the end.`,
        );
      } finally {
        await gw.stop();
      }
    }
    const h = summary.headline;
    const p = summary.plain;
    if (h && p)
      notes.push(
        `What the launcher settings are worth: RSS max ${h.rssMb.max.toFixed(1)} MB with them, ${p.rssMb.max.toFixed(1)} MB without (mean ${h.rssMb.mean.toFixed(1)} / ${p.rssMb.mean.toFixed(1)}); ` +
          `CPU ${h.cpuPct.toFixed(1)} / ${p.cpuPct.toFixed(1)} %. bin/shouwang.js says what each setting does. Without them, most of the difference is glibc's malloc: ` +
          `after the first large block is freed (an MQTT login's scrypt), socket buffers come from heap arenas that fragment and are not given back.`,
      );
  } finally {
    await village.stop();
    rmSync(storageDir, { recursive: true, force: true });
  }
  const loadAfter = loadLine();
  log(`\nload average before ${loadBefore}, after ${loadAfter}`);
  printResult({
    title: 'Footprint (500 Modbus TCP devices, 1 s polling)',
    method:
      `Simulator (footprint-500: 450 locks + 50 poles, each its own TCP port, village life on) in its own process; the gateway as its own process from the build ` +
      `(bin/shouwang.js start --config …, as shipped), every poll class at 1000 ms (alarm too), log level info. /proc/<pid>/stat and VmRSS sampled every second for ` +
      `${MEASURE_MS / 1000} s after ${WARMUP_MS / 1000} s warm-up; CPU = Δ(utime+stime)/Δt. Transactions/s from the simulator's reply counter. ` +
      `Load average (1/5/15 min) before ${loadBefore}, after ${loadAfter}.`,
    metrics,
    notes: notes.join('\n\n'),
  });
}

runBench(main);
