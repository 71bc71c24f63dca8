/**
 * Pulling a simulated RS485 adapter: the simulator kills the bus's socat, the gateway-side path
 * disappears (as /dev/ttyUSB0 does), and after the given time the pair is recreated at the
 * same path and the slaves answer again.
 */
import { constants, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tty from 'node:tty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendCrc, hasValidCrc } from '../../gateway/src/protocol/crc16.js';
import { SimControlClient } from '../../simulator/src/control-client.js';
import type { SimEndpoints } from '../../simulator/src/index.js';
import { jsonLine, repoRoot, sleep, startTsProcess, stopAll, waitFor, type Started } from '../helpers/processes.js';

const village = `
site: { id: unplugtest }
profiles: [${JSON.stringify(join(repoRoot, 'device-profiles'))}]
behaviour: off
buses:
  - id: line-a
    kind: rtu
    baud: 19200
    devices:
      - { id: pole-1, profile: generic-alarm-pole, unitId: 5 }
`;

/** Open the pty, send one read, return the reply (undefined after 300 ms), close. */
async function readOnce(path: string): Promise<Buffer | undefined> {
  const flags = constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK;
  const r = new tty.ReadStream(openSync(path, flags));
  r.setRawMode(true);
  const w = new tty.WriteStream(openSync(path, flags));
  r.on('error', () => {});
  w.on('error', () => {});
  try {
    let acc = Buffer.alloc(0);
    r.on('data', (d: Buffer) => (acc = Buffer.concat([acc, d])));
    w.write(appendCrc(Buffer.from([5, 0x02, 0, 0, 0, 2])));
    const end = Date.now() + 300;
    while (acc.length < 6 && Date.now() < end) await sleep(5);
    return acc.length >= 6 ? acc : undefined;
  } finally {
    r.destroy();
    w.destroy();
  }
}

let dir: string;
let sim: Started<SimEndpoints>;
let control: SimControlClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-simunplug-'));
  writeFileSync(join(dir, 'v.yaml'), village);
  sim = await startTsProcess('simulator/src/main.ts', ['--village', join(dir, 'v.yaml'), '--run-dir', join(dir, 'run'), '--log-level', 'warn'], (line) => {
    const j = jsonLine(line);
    return j?.ready === true ? (j.endpoints as SimEndpoints) : undefined;
  });
  control = new SimControlClient(sim.ready.control);
});

afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('simulator port unplug', () => {
  it('removes the gateway-side path for the given time and brings it back at the same path', async () => {
    const ep = sim.ready.buses[0]!;
    if (ep.type !== 'rtu') throw new Error('expected a pty bus');
    expect(ep.path).toBe(join(dir, 'run', 'line-a'));
    const before = await readOnce(ep.path);
    expect(before && hasValidCrc(before)).toBe(true);

    const t0 = Date.now();
    const { ts, until } = await control.unplug('line-a', 1000);
    expect(until - ts).toBe(1000);
    expect(existsSync(ep.path)).toBe(false);
    expect((await control.faults()).buses['line-a']!.unplugged).toBe(true);
    await sleep(300);
    expect(existsSync(ep.path)).toBe(false);

    await waitFor(() => existsSync(ep.path), 5000, 'the pty path to come back');
    const downFor = Date.now() - t0;
    expect(downFor).toBeGreaterThanOrEqual(950);
    expect(downFor).toBeLessThan(4000);

    const after = await readOnce(ep.path);
    expect(after && hasValidCrc(after)).toBe(true);
    expect(after![0]).toBe(5);
    expect((await control.faults()).buses['line-a']!.unplugged).toBe(false);
  });

  it('cleans up its socat children when stopped with SIGTERM', async () => {
    const ep = sim.ready.buses[0]! as { path: string };
    expect(existsSync(ep.path)).toBe(true);
    await sim.stop('SIGTERM');
    expect(sim.child.exitCode).toBe(0);
    // socat removes its links as it exits; none left behind.
    expect(existsSync(ep.path)).toBe(false);
    expect(existsSync(`${ep.path}.sim`)).toBe(false);
  });
});
