/**
 * Cross-check against the village simulator (written independently, in its own process): the
 * simulator's wire-timed slaves judge the gateway's silences with their own clock, and count
 * any request that starts less than t3.5 after the line went quiet as a silence violation.
 * Efficiency is printed, not asserted: the bus-efficiency bench owns it, on a quiet machine.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busSchema } from '../../gateway/src/config/schema.js';
import { silentLogger } from '../../gateway/src/log.js';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import { transactionMinMs } from '../../gateway/src/protocol/wire-timing.js';
import { createModbusTransport } from '../../gateway/src/transport/index.js';
import { SimControlClient } from '../../simulator/src/control-client.js';
import type { RtuBusStats, SimEndpoints } from '../../simulator/src/index.js';
import { jsonLine, repoRoot, startTsProcess, stopAll, type Started } from '../helpers/processes.js';

const profilesDir = join(repoRoot, 'device-profiles');
const identify = ProfileRegistry.load([profilesDir]).get('generic-alarm-pole').identify!;

const village = `
site: { id: transporttest, name: transport test }
seed: 3
profiles: [${JSON.stringify(profilesDir)}]
behaviour: off
buses:
  - { id: slow, kind: rtu, baud: 9600, devices: [{ id: pole-s, profile: generic-alarm-pole, unitId: 4 }] }
  - { id: fast, kind: rtu, baud: 115200, devices: [{ id: pole-f, profile: generic-alarm-pole, unitId: 4 }] }
`;

let dir: string;
let sim: Started<SimEndpoints>;
let control: SimControlClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-transport-sim-'));
  writeFileSync(join(dir, 'village.yaml'), village);
  sim = await startTsProcess('simulator/src/main.ts', ['--village', join(dir, 'village.yaml'), '--run-dir', join(dir, 'run'), '--log-level', 'warn'], (line) => {
    const j = jsonLine(line);
    return j?.ready === true ? (j.endpoints as SimEndpoints) : undefined;
  });
  control = new SimControlClient(sim.ready.control);
});

afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe.each([
  ['slow', 9600, 150],
  ['fast', 115200, 600],
] as const)('transport against the simulator, bus %s (%i baud)', (busId, baud, count) => {
  it('reads back to back with no silence violation the simulator can see', async () => {
    const endpoint = sim.ready.buses.find((b) => b.id === busId);
    if (endpoint?.type !== 'rtu') throw new Error(`simulator bus ${busId} is not a pty line`);
    const t = createModbusTransport(busSchema.parse({ type: 'rtu', id: busId, path: endpoint.path, baudRate: baud, timeout: 1000 }), silentLogger());
    await t.open();
    try {
      const before = (await control.stats()).buses.find((b) => b.id === busId) as RtuBusStats;
      const t0 = performance.now();
      for (let i = 0; i < count; i++) {
        const r = await t.read(4, identify.table, identify.address, identify.count);
        expect(r.values).toEqual(identify.expect);
      }
      const elapsed = performance.now() - t0;
      const after = (await control.stats()).buses.find((b) => b.id === busId) as RtuBusStats;
      const requestBytes = 8;
      const replyBytes = 5 + 2 * identify.count;
      const efficiency = (count * transactionMinMs(requestBytes, replyBytes, baud)) / elapsed;
      console.log(
        `[transport-simulator] ${baud} baud: ${count} reads in ${elapsed.toFixed(0)} ms = ${(efficiency * 100).toFixed(1)}% of the theoretical maximum; ` +
          `simulator: ${after.silenceViolations - before.silenceViolations} silence violations, reply timing p50 error ${after.replyTiming.p50ErrorMs.toFixed(3)} ms`,
      );
      expect(after.silenceViolations - before.silenceViolations).toBe(0);
      expect(after.crcDropped - before.crcDropped).toBe(0);
      expect(after.replies - before.replies).toBe(count);
      expect(t.stats()).toMatchObject({ requests: count, responses: count, timeouts: 0, crcErrors: 0, frameErrors: 0 });
    } finally {
      await t.close();
    }
  });
});
