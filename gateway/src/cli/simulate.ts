/**
 * `shouwang simulate`: run the village simulator (virtual devices on socat pty pairs and Modbus
 * TCP) in the foreground until Ctrl-C or SIGTERM, then stop it cleanly so its pty links and
 * socat children are removed. Logs go to stderr; stdout says where the devices are.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import type { SimEndpoints } from '../../../simulator/src/index.js';
import type { CliOutput } from './io.js';
import { importOptional } from './lazy-module.js';

export interface SimulateOptions {
  village: string;
  controlPort?: number;
  json?: boolean;
  /** Also write a gateway config that polls the simulated village. */
  gatewayConfig?: string;
  logLevel?: string;
}

type SimulatorModule = typeof import('../../../simulator/src/index.js');

/** Where the simulated devices are, in the terms `scan`, `read` and gateway.yaml use. */
export function formatEndpoints(e: SimEndpoints): string {
  const out: string[] = [];
  out.push(`control API  ${e.control}`);
  out.push(`serial lines ${e.lines === 'pty' ? 'socat pty pairs' : 'RTU over TCP (socat not available)'}`);
  for (const b of e.buses) {
    if (b.type === 'rtu-over-tcp') out.push(`  bus ${b.id}: rtu-over-tcp ${b.host}:${b.port} (${b.baud} ${b.parity})   shouwang scan --host ${b.host} --tcp-port ${b.port} --rtu-over-tcp`);
    else if (b.type === 'rtu') out.push(`  bus ${b.id}: rtu ${b.path} (${b.baud} ${b.parity})   shouwang scan --port ${b.path} --baud ${b.baud} --parity ${b.parity}`);
    else out.push(`  bus ${b.id}: raw-serial ${b.path} (${b.baud} ${b.parity})`);
  }
  for (const d of e.tcpDevices) out.push(`  device ${d.id}: modbus-tcp ${d.host}:${d.port} unit ${d.unitId}   shouwang read --host ${d.host} --tcp-port ${d.port} --unit ${d.unitId} --address 0`);
  for (const u of e.unavailable) out.push(`  bus ${u.id}: not started (${u.reason})`);
  out.push(`run dir      ${e.runDir}`);
  return out.join('\n');
}

/** Resolves once a stop signal arrives. A second signal while stopping exits at once. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    let seen = false;
    const on = (sig: NodeJS.Signals) => {
      if (seen) process.exit(1);
      seen = true;
      done(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

export async function runSimulate(opts: SimulateOptions, io: CliOutput): Promise<void> {
  const sim = await importOptional<SimulatorModule>(() => import('../../../simulator/src/index.js'), 'the simulator', 'simulator/src/index');
  const log = pino({ level: opts.logLevel ?? process.env.SW_LOG_LEVEL ?? 'info', base: { app: 'shouwang-sim' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
  const stopped = untilSignal();
  const handle = await sim.startSimulator({
    villageFile: resolve(opts.village),
    ...(opts.controlPort === undefined ? {} : { controlPort: opts.controlPort }),
    log,
  });
  try {
    if (opts.gatewayConfig !== undefined) {
      writeFileSync(opts.gatewayConfig, `# Written by \`shouwang simulate\` for ${opts.village}; valid while the simulator runs.\n${stringify(sim.gatewayConfigFor(handle.village, handle.endpoints))}`);
      io.err(`wrote ${opts.gatewayConfig}`);
    }
    // Same ready line as simulator/src/main.ts, so scripts can use either.
    if (opts.json) io.out(JSON.stringify({ ready: true, endpoints: handle.endpoints }));
    else io.out(`simulator ready: ${handle.village.site.id} (Ctrl-C to stop)\n${formatEndpoints(handle.endpoints)}`);
    const sig = await stopped;
    io.err(`${sig}: stopping the simulator`);
  } finally {
    await handle.stop();
  }
}
