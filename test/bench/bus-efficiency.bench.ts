/**
 * Bus efficiency: transactions per second the gateway achieves on a wire-timed RS485 line,
 * divided by the theoretical maximum for the same frames at the same baud.
 *
 * The maximum of one transaction is `transactionMinMs(request, reply, baud)`: both frames at
 * 11 bits per character plus both t3.5 silences. Efficiency over a window is
 *   achieved tx/s ÷ (1 / mean transactionMin of the frames actually sent)
 *   = (Σ wire time of every frame + 2·t3.5·transactions) / elapsed.
 *
 * The gateway runs in this process (the real Gateway: transport + BusScheduler) with every poll
 * class at interval 0, so the bus never idles; the simulator runs in its own process on socat
 * pty pairs and answers each request when a real line would have delivered the reply. A result
 * counts only if the simulator saw ZERO silence violations (requests that started less than t3.5
 * after the previous frame) and no request failed.
 *
 * For comparison, a bare modbus-serial loop (connectRTUBuffered, one block after another, an
 * explicit precise t3.5 wait after each reply) runs on the same rig, and we report the ratio.
 */
import { performance } from 'node:perf_hooks';
import ModbusSerial from 'modbus-serial';
import type { RtuBusStats } from '../../simulator/src/rtu-bus.js';
import type { SimControlClient } from '../../simulator/src/control-client.js';
import { blockWireBytes, type ReadBlock } from '../../gateway/src/polling/planner.js';
import { silenceMs, transactionMinMs } from '../../gateway/src/protocol/wire-timing.js';
import { startGateway, startVillage } from '../helpers/village.js';
import { loadLine, log, printResult, round, runBench, sleep, waitUntil, type BenchMetric } from './bench-lib.js';

const MEASURE_MS = Number(process.env.SW_BENCH_SECONDS ?? 20) * 1000;
const WARMUP_MS = 2000;

interface Case {
  baud: number;
  village: string;
  target: number;
}
const CASES: Case[] = [
  { baud: 9600, village: 'simulator/villages/bench-9600.yaml', target: 0.95 },
  { baud: 115200, village: 'simulator/villages/bench-115200.yaml', target: 0.85 },
];

interface Window {
  transactions: number;
  /** Σ wire time of the frames of the counted transactions, ms. */
  wireMs: number;
  elapsedMs: number;
  failures: number;
}

interface RunResult extends Window {
  efficiency: number;
  txPerS: number;
  meanTxMinMs: number;
  /** Mean time a transaction took beyond its wire minimum, ms. */
  overheadMs: number;
  violations: number;
}

function summarise(w: Window, baud: number, violations: number): RunResult {
  const sil = silenceMs(baud);
  const meanTxMinMs = w.wireMs / w.transactions + 2 * sil;
  const txPerS = (w.transactions * 1000) / w.elapsedMs;
  return {
    ...w,
    efficiency: (txPerS * meanTxMinMs) / 1000,
    txPerS,
    meanTxMinMs,
    overheadMs: w.elapsedMs / w.transactions - meanTxMinMs,
    violations,
  };
}

async function simBus(control: SimControlClient): Promise<RtuBusStats> {
  const s = await control.stats();
  return s.buses[0] as RtuBusStats;
}

async function runGateway(c: Case, village: Awaited<ReturnType<typeof startVillage>>): Promise<{ result: RunResult; blocks: ReadBlock[]; sim: { replyP99LateMs: number; replyMeanLateMs: number } }> {
  // Violations are counted from before the gateway opens the port: warm-up included.
  const simBefore = await simBus(village.control);
  const gw = await startGateway(village, {
    // Every class due all the time: the scheduler never lets the bus idle.
    polling: { intervals: { alarm: 0, fast: 0, normal: 0, slow: 0 } },
  });
  try {
    const blocks = gw.gateway.plans().flatMap((p) => p.plans.flatMap((d) => d.blocks));
    if (gw.config.buses[0]!.polling.readsBetweenAlarmSweeps !== 1) throw new Error('the bare loop mirrors readsBetweenAlarmSweeps = 1');
    await sleep(WARMUP_MS);
    const t = () => gw.gateway.stats().buses[0]!.transport;
    const sim0 = await simBus(village.control);
    const a = { ...t() };
    const t0 = performance.now();
    await sleep(MEASURE_MS);
    const b = { ...t() };
    const t1 = performance.now();
    const sim1 = await simBus(village.control);
    const failures = b.timeouts - a.timeouts + (b.crcErrors - a.crcErrors) + (b.frameErrors - a.frameErrors) + (b.exceptions - a.exceptions);
    const result = summarise(
      { transactions: b.responses - a.responses, wireMs: b.wireMs - a.wireMs, elapsedMs: t1 - t0, failures },
      c.baud,
      sim1.silenceViolations - simBefore.silenceViolations,
    );
    // Cross-check against the simulator's own count of the wire time on its line.
    const simEff = (sim1.busyWireMs - sim0.busyWireMs + 2 * silenceMs(c.baud) * (sim1.replies - sim0.replies)) / (t1 - t0);
    log(`  gateway: sim-side efficiency ${simEff.toFixed(4)} (replies ${sim1.replies - sim0.replies}, busyWireMs ${(sim1.busyWireMs - sim0.busyWireMs).toFixed(1)})`);
    return { result, blocks, sim: { replyP99LateMs: sim1.replyTiming.p99ErrorMs, replyMeanLateMs: sim1.replyTiming.meanErrorMs } };
  } finally {
    await gw.stop();
  }
}

/**
 * The same blocks in the same proportions, read by modbus-serial's buffered RTU client with a
 * precise t3.5 wait after each reply: every alarm block (a sweep), then the next other block in
 * turn — what the scheduler does with every interval at 0 and readsBetweenAlarmSweeps 1.
 */
async function runBare(c: Case, village: Awaited<ReturnType<typeof startVillage>>, blocks: readonly ReadBlock[]): Promise<RunResult> {
  const ep = village.endpoints.buses[0]!;
  if (ep.type !== 'rtu') throw new Error(`bus ${ep.id} is ${ep.type}, expected an rtu pty`);
  // CJS module: at run time the default import is the client class itself.
  const ModbusRTU = ModbusSerial as unknown as typeof ModbusSerial.default;
  const client = new ModbusRTU();
  const simBefore = await simBus(village.control);
  await client.connectRTUBuffered(ep.path, { baudRate: c.baud });
  client.setTimeout(300);
  const sil = silenceMs(c.baud);
  const alarm = blocks.filter((b) => b.pollClass === 'alarm');
  const others = blocks.filter((b) => b.pollClass !== 'alarm');
  const sequence: ReadBlock[] = [];
  for (const o of others) sequence.push(...alarm, o);
  const read = (b: ReadBlock): Promise<unknown> => {
    client.setID(b.unitId);
    switch (b.table) {
      case 'coil':
        return client.readCoils(b.address, b.count);
      case 'discrete':
        return client.readDiscreteInputs(b.address, b.count);
      case 'input':
        return client.readInputRegisters(b.address, b.count);
      case 'holding':
        return client.readHoldingRegisters(b.address, b.count);
    }
  };
  const loop = async (ms: number, count: boolean): Promise<Window> => {
    const w: Window = { transactions: 0, wireMs: 0, elapsedMs: 0, failures: 0 };
    const t0 = performance.now();
    let i = 0;
    while (performance.now() - t0 < ms) {
      const b = sequence[i++ % sequence.length]!;
      try {
        await read(b);
        if (count) {
          const { request, reply } = blockWireBytes(b.table, b.count);
          w.transactions++;
          w.wireMs += transactionMinMs(request, reply, c.baud) - 2 * sil;
        }
      } catch {
        w.failures++;
      }
      await waitUntil(performance.now() + sil);
    }
    w.elapsedMs = performance.now() - t0;
    return w;
  };
  try {
    await loop(WARMUP_MS, false);
    const w = await loop(MEASURE_MS, true);
    const sim1 = await simBus(village.control);
    return summarise(w, c.baud, sim1.silenceViolations - simBefore.silenceViolations);
  } finally {
    await new Promise<void>((r) => client.close(() => r()));
  }
}

async function main(): Promise<void> {
  const metrics: BenchMetric[] = [];
  const notes: string[] = [];
  const loadBefore = loadLine();
  for (const c of CASES) {
    log(`\n${c.baud} baud: ${c.village}`);
    const village = await startVillage({ village: c.village, behaviour: false });
    try {
      const g = await runGateway(c, village);
      const gw = g.result;
      log(
        `  gateway: ${gw.transactions} tx in ${(gw.elapsedMs / 1000).toFixed(1)} s = ${gw.txPerS.toFixed(1)} tx/s; mean transactionMin ${gw.meanTxMinMs.toFixed(3)} ms ` +
          `(max ${(1000 / gw.meanTxMinMs).toFixed(1)} tx/s); efficiency ${gw.efficiency.toFixed(4)}; overhead ${gw.overheadMs.toFixed(3)} ms/tx; ` +
          `failures ${gw.failures}; silence violations ${gw.violations}; sim reply lateness mean ${g.sim.replyMeanLateMs.toFixed(3)} p99 ${g.sim.replyP99LateMs.toFixed(3)} ms`,
      );
      const bare = await runBare(c, village, g.blocks);
      log(
        `  bare modbus-serial: ${bare.transactions} tx = ${bare.txPerS.toFixed(1)} tx/s; mean transactionMin ${bare.meanTxMinMs.toFixed(3)} ms; efficiency ${bare.efficiency.toFixed(4)}; ` +
          `overhead ${bare.overheadMs.toFixed(3)} ms/tx; failures ${bare.failures}; silence violations ${bare.violations}`,
      );
      const valid = gw.violations === 0 && gw.failures === 0;
      metrics.push(
        { name: `efficiency @${c.baud}`, value: round(gw.efficiency, 4), target: `≥ ${c.target}, 0 silence violations`, pass: valid && gw.efficiency >= c.target },
        { name: `tx/s @${c.baud} (max ${(1000 / gw.meanTxMinMs).toFixed(1)})`, value: round(gw.txPerS, 1) },
        { name: `overhead per tx @${c.baud}, ms`, value: round(gw.overheadMs, 3) },
        { name: `silence violations / failed tx @${c.baud}`, value: `${gw.violations} / ${gw.failures}`, target: '0 / 0', pass: valid },
        { name: `bare modbus-serial efficiency @${c.baud}`, value: round(bare.efficiency, 4) },
        { name: `gateway ÷ bare @${c.baud}`, value: round(gw.efficiency / bare.efficiency, 3) },
      );
      notes.push(
        `${c.baud} baud: gateway ${gw.transactions} transactions in ${(gw.elapsedMs / 1000).toFixed(1)} s, mean transactionMin ${gw.meanTxMinMs.toFixed(3)} ms, ` +
          `${gw.overheadMs.toFixed(3)} ms/tx above the wire minimum (simulator reply lateness mean ${g.sim.replyMeanLateMs.toFixed(3)} ms, p99 ${g.sim.replyP99LateMs.toFixed(3)} ms). ` +
          `Bare modbus-serial loop: ${bare.txPerS.toFixed(1)} tx/s, ${bare.overheadMs.toFixed(3)} ms/tx overhead, ${bare.violations} silence violations, ${bare.failures} failures.`,
      );
    } finally {
      await village.stop();
    }
  }
  const loadAfter = loadLine();
  log(`\nload average before ${loadBefore}, after ${loadAfter}`);
  printResult({
    title: 'Bus efficiency (RS485, wire-timed simulator, 31 slaves)',
    method:
      `Real Gateway (transport + BusScheduler) in-process, every poll class at interval 0 so the bus never idles, against the simulator in its own process over socat ptys; ` +
      `${MEASURE_MS / 1000} s per baud after ${WARMUP_MS / 1000} s warm-up. Efficiency = achieved tx/s × mean transactionMinMs of the frames actually sent ` +
      `(11 bits/char, both t3.5 silences). Valid only with 0 silence violations counted by the simulator. Bare loop: modbus-serial connectRTUBuffered reading the same blocks ` +
      `in the scheduler's proportions (a sweep of every alarm block, then the next other block) with a precise t3.5 wait after each reply. Load average (1/5/15 min) before ${loadBefore}, after ${loadAfter}.`,
    metrics,
    notes: notes.join('\n\n'),
  });
}

runBench(main);
