/**
 * The demo village started in-process (`startSimulator`, real socat pty pairs and TCP ports),
 * driven through the HTTP control API with `SimControlClient`: listing, points, press, pass,
 * stranger, faults, stats, and clear errors for bad requests.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimControlClient, SimControlError, startSimulator, type RtuBusStats, type SimulatorHandle } from '../../simulator/src/index.js';
import { repoRoot } from '../helpers/processes.js';

let sim: SimulatorHandle;
let client: SimControlClient;

beforeAll(async () => {
  sim = await startSimulator({ villageFile: join(repoRoot, 'simulator/villages/demo.yaml'), behaviour: false });
  client = new SimControlClient(sim.endpoints.control);
});

afterAll(async () => {
  await sim?.stop();
});

async function failure(p: Promise<unknown>): Promise<SimControlError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof SimControlError) return e;
    throw e;
  }
  throw new Error('expected the request to fail');
}

describe('simulator control API (demo village)', () => {
  it('brings up every bus of the demo village', async () => {
    const e = sim.endpoints;
    expect(e.lines).toBe('pty');
    expect(e.buses.map((b) => `${b.id}:${b.type}`)).toEqual([
      'rs485-locks-1:rtu',
      'rs485-locks-2:rtu',
      'rs485-entrance:rtu',
      'rs485-safety:rtu',
      'rs485-fire:rtu',
      'lockboard:raw-serial',
    ]);
    for (const b of e.buses) if ('path' in b) expect(existsSync(b.path)).toBe(true);
    expect(e.tcpDevices.length).toBe(6);
    const devices = await client.listDevices();
    expect(devices.length).toBe(sim.village.devices.length);
    expect(devices.find((d) => d.id === 'lock-A-101')).toMatchObject({ bus: 'rs485-locks-1', busKind: 'rtu', kind: 'door-lock' });
    expect(await client.endpoints()).toEqual(e);
  });

  it('presses a pole and reports the press time on the epoch clock with sub-ms precision', async () => {
    const before = Date.now();
    const { ts, releaseAt } = await client.press('pole-1', { holdMs: 300 });
    expect(ts).toBeGreaterThanOrEqual(before - 1);
    expect(ts).toBeLessThanOrEqual(Date.now() + 1);
    expect(releaseAt - ts).toBe(300);
    expect((await client.getPoints('pole-1')).button).toBe('pressed');
    await new Promise((r) => setTimeout(r, 400));
    expect((await client.getPoints('pole-1')).button).toBe('released');
  });

  it('plays passes, strangers and tampering on demand, and sets points directly', async () => {
    const pass = await client.pass('gate-A', { method: 'face', user: 9 });
    expect(pass).toMatchObject({ user: 9, method: 'face' });
    const gate = await client.getPoints('gate-A');
    expect(gate).toMatchObject({ last_method: 'face', last_result: 'granted', event_seq: 1, lock: 'unlocked' });
    expect(await client.stranger('lock-B-201', { attempts: 1 })).toMatchObject({ attempts: 1 });
    expect(await client.getPoints('lock-B-201')).toMatchObject({ last_result: 'denied', invalid_count: 1 });
    await client.tamper('smoke-A', { on: true });
    expect((await client.getPoints('smoke-A')).tamper).toBe('tampered');
    const set = await client.setPoints('gas-canteen', { concentration: 12.5, no_such_point: 1 });
    expect(set.set).toEqual(['concentration']);
    expect(set.skipped).toEqual(['no_such_point']);
    expect((await client.getPoints('gas-canteen')).concentration).toBe(12.5);
  });

  it('sets and clears faults and reports per-bus stats', async () => {
    await client.setBusFaults('rs485-safety', { crcReplyRate: 0.5 });
    await client.setDeviceFaults('pole-2', { dead: true, slowMs: 5 });
    const f = await client.faults();
    expect(f.buses['rs485-safety']).toMatchObject({ crcReplyRate: 0.5, crcRequestRate: 0, unplugged: false });
    expect(f.devices['pole-2']).toEqual({ dead: true, slowMs: 5 });
    await client.clearFaults();
    const cleared = await client.faults();
    expect(cleared.buses['rs485-safety']!.crcReplyRate).toBe(0);
    expect(cleared.devices).toEqual({});
    const stats = await client.stats();
    expect(stats.buses.map((b) => b.id)).toEqual(expect.arrayContaining(['rs485-locks-1', 'lan', 'lockboard']));
    const safety = stats.buses.find((b) => b.id === 'rs485-safety') as RtuBusStats;
    expect(Object.keys(safety.perUnit)).toHaveLength(sim.village.buses.find((b) => b.id === 'rs485-safety')!.devices.length);
  });

  it('answers bad requests with a clear error and a status code', async () => {
    expect(await failure(client.press('no-such-device'))).toMatchObject({ status: 404, code: 'SW_ERR_DEVICE_UNKNOWN' });
    const notAPole = await failure(client.press('lock-A-101'));
    expect(notAPole.status).toBe(409);
    expect(notAPole.message).toMatch(/has no "button" point/);
    expect(await failure(client.setBusFaults('rs485-safety', { crcReplyRate: 2 }))).toMatchObject({ status: 400 });
    expect(await failure(client.setBusFaults('lan', { crcReplyRate: 0.1 }))).toMatchObject({ status: 409 });
    const res = await fetch(`${sim.endpoints.control}/devices/pole-1/press`, { method: 'POST', body: '{not json' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/not JSON/);
    expect((await fetch(`${sim.endpoints.control}/nowhere`)).status).toBe(404);
  });
});
