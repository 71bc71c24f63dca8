/**
 * Modbus TCP devices (one port each, MBAP) and the RTU-over-TCP fallback used when socat is
 * missing, through the in-process API (`startSimulator`). Clients: raw MBAP bytes over a socket,
 * and modbus-serial as a client.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import ModbusSerial from 'modbus-serial';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayConfigSchema } from '../../gateway/src/config/schema.js';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import { isModbusPoint } from '../../gateway/src/profiles/schema.js';
import { appendCrc, hasValidCrc } from '../../gateway/src/protocol/crc16.js';
import { silenceMs, wireTimeMs } from '../../gateway/src/protocol/wire-timing.js';
import { gatewayConfigFor, startSimulator, type SimulatorHandle, type TcpBusStats } from '../../simulator/src/index.js';
import { repoRoot, sleep, waitFor } from '../helpers/processes.js';

const profilesDir = join(repoRoot, 'device-profiles');
const pole = ProfileRegistry.load([profilesDir]).get('generic-alarm-pole');

const village = `
site: { id: tcptest }
profiles: [${JSON.stringify(profilesDir)}]
behaviour: off
buses:
  - id: lan
    kind: tcp
    devices:
      - { id: pole-t, profile: generic-alarm-pole }
      - { id: lock-t, profile: generic-rs485-fingerprint-lock, unitId: 7 }
  - id: line
    kind: rtu
    baud: 9600
    devices:
      - { id: pole-r, profile: generic-alarm-pole, unitId: 4 }
`;

/** One MBAP transaction over a connected socket. */
function mbap(socket: Socket, tid: number, unit: number, pdu: number[], timeoutMs = 300): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const frame = Buffer.alloc(7 + pdu.length);
    frame.writeUInt16BE(tid, 0);
    frame.writeUInt16BE(0, 2);
    frame.writeUInt16BE(pdu.length + 1, 4);
    frame[6] = unit;
    Buffer.from(pdu).copy(frame, 7);
    let acc = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      if (acc.length >= 6 && acc.length >= 6 + acc.readUInt16BE(4)) finish(acc);
    };
    const finish = (v: Buffer | undefined) => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(v);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on('data', onData);
    socket.write(frame);
  });
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

let dir: string;
let sim: SimulatorHandle;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-simtcp-'));
  writeFileSync(join(dir, 'v.yaml'), village);
  sim = await startSimulator({ villageFile: join(dir, 'v.yaml'), preferSocat: false });
});

afterAll(async () => {
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('simulator Modbus TCP devices', () => {
  it('gives every TCP device its own port and a matching gateway bus', () => {
    const ports = sim.endpoints.tcpDevices.map((d) => d.port);
    expect(new Set(ports).size).toBe(2);
    expect(sim.endpoints.tcpDevices.find((d) => d.id === 'lock-t')).toMatchObject({ bus: 'lan', host: '127.0.0.1', unitId: 7 });
    const cfg = gatewayConfigSchema.parse(gatewayConfigFor(sim.village, sim.endpoints));
    const lockBus = cfg.buses.find((b) => b.id === cfg.devices.find((d) => d.id === 'lock-t')!.bus)!;
    expect(lockBus).toMatchObject({ type: 'tcp', host: '127.0.0.1', port: sim.endpoints.tcpDevices.find((d) => d.id === 'lock-t')!.port });
  });

  it('answers MBAP reads, writes and exceptions', async () => {
    const ep = sim.endpoints.tcpDevices.find((d) => d.id === 'pole-t')!;
    const s = await open(ep.port);
    try {
      const id = pole.identify!;
      const r = await mbap(s, 0x1234, 1, [0x03, id.address >> 8, id.address & 0xff, 0, id.count]);
      expect(r!.readUInt16BE(0)).toBe(0x1234);
      expect(r![7]).toBe(0x03);
      expect([r!.readUInt16BE(9), r!.readUInt16BE(11)]).toEqual(id.expect);

      const help = pole.points.find((p) => p.id === 'help_light')!;
      if (!isModbusPoint(help)) throw new Error('help_light is not a register point');
      const w = await mbap(s, 2, 1, [0x05, 0, help.address, 0xff, 0x00]);
      expect([...w!.subarray(7)]).toEqual([0x05, 0, help.address, 0xff, 0x00]);
      expect(sim.device('pole-t')!.writes().at(-1)).toMatchObject({ table: 'coil', address: help.address, values: [1] });

      const ex = await mbap(s, 3, 1, [0x03, 0x7f, 0x00, 0, 1]);
      expect([...ex!.subarray(7)]).toEqual([0x83, 0x02]);

      await sim.control.setDeviceFaults('pole-t', { dead: true });
      expect(await mbap(s, 4, 1, [0x03, 0, 0, 0, 1], 200)).toBeUndefined();
      await sim.control.setDeviceFaults('pole-t', { dead: false });
    } finally {
      s.destroy();
    }
    const stats = (await sim.control.stats()).buses.find((b) => b.id === 'lan') as TcpBusStats;
    expect(stats).toMatchObject({ type: 'tcp', devices: 2 });
    expect(stats.exceptions).toBeGreaterThanOrEqual(1);
    expect(stats.ignored).toBeGreaterThanOrEqual(1);
  });

  it('serves modbus-serial as a client, including a tenant pass made through the control API', async () => {
    const ep = sim.endpoints.tcpDevices.find((d) => d.id === 'lock-t')!;
    // modbus-serial is CommonJS: module.exports is the client class, which its typings call `default`.
    const Client = ModbusSerial as unknown as typeof ModbusSerial.default;
    const client = new Client();
    await client.connectTCP(ep.host, { port: ep.port });
    client.setID(7);
    client.setTimeout(500);
    try {
      const pass = await sim.control.pass('lock-t', { user: 12, method: 'card' });
      expect(pass).toMatchObject({ user: 12, method: 'card' });
      const lockProfile = sim.device('lock-t')!.profile;
      const seq = lockProfile.points.find((p) => p.id === 'event_seq')!;
      if (!isModbusPoint(seq)) throw new Error('event_seq is not a register point');
      const r = await client.readInputRegisters(seq.address, 4);
      // event_seq, last_user, last_method (card = 2 in this profile), last_result granted (0)
      const methodMap = lockProfile.points.find((p) => p.id === 'last_method')!.map!;
      const cardCode = Number(Object.entries(methodMap).find(([, v]) => v === 'card')![0]);
      expect(r.data).toEqual([1, 12, cardCode, 0]);
    } finally {
      await new Promise<void>((res) => client.close(() => res()));
    }
  });

  it('serves 500 devices polled every second from one process', async () => {
    const big = join(dir, 'big.yaml');
    writeFileSync(
      big,
      `site: { id: big }\nprofiles: [${JSON.stringify(profilesDir)}]\nbehaviour: on\nbuses: [{ id: lan, kind: tcp }]\n` +
        `generate: [{ profile: generic-rs485-fingerprint-lock, buildings: 10, floors: 5, roomsPerFloor: 10, buses: [lan], id: 'lock-{building}-{room}' }]\n`,
    );
    const many = await startSimulator({ villageFile: big });
    const socks: Socket[] = [];
    try {
      expect(many.endpoints.tcpDevices).toHaveLength(500);
      socks.push(...(await Promise.all(many.endpoints.tcpDevices.map((d) => open(d.port)))));
      const latencies: number[] = [];
      for (let round = 0; round < 3; round++) {
        const t = performance.now();
        // Each device gets what a gateway poll of a lock reads: discrete 0-3 and input 0-5.
        const replies = await Promise.all(
          socks.map(async (s, i) => {
            const a = await mbap(s, round * 2 + 1, 1, [0x02, 0, 0, 0, 4], 2000);
            const b = await mbap(s, round * 2 + 2, 1, [0x04, 0, 0, 0, 6], 2000);
            latencies.push(performance.now() - t);
            return a !== undefined && b !== undefined && b.length === 9 + 12 ? i : -1;
          }),
        );
        expect(replies.filter((r) => r < 0)).toEqual([]);
        await sleep(Math.max(0, 1000 - (performance.now() - t)));
      }
      latencies.sort((a, b) => a - b);
      const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
      console.log(`500 TCP devices, 1000 requests per round: p99 round-trip ${p99.toFixed(1)} ms (client in the same process)`);
      expect(p99).toBeLessThan(500);
      const stats = (await many.control.stats()).buses[0] as TcpBusStats;
      expect(stats.replies).toBe(3000);
      expect(stats.connections).toBe(500);
    } finally {
      for (const s of socks) s.destroy();
      await many.stop();
    }
  });
});

describe('RTU over TCP (the fallback without socat)', () => {
  it('carries the RTU bus with the same framing, CRC checks and wire timing', async () => {
    const ep = sim.endpoints.buses[0]!;
    expect(sim.endpoints.lines).toBe('rtu-over-tcp');
    if (ep.type !== 'rtu-over-tcp') throw new Error(`expected rtu-over-tcp, got ${ep.type}`);
    expect(ep).toMatchObject({ id: 'line', host: '127.0.0.1', baud: 9600 });
    const s = await open(ep.port);
    try {
      const rtu = (frame: Buffer, n: number, timeoutMs = 300) =>
        new Promise<{ bytes: Buffer; elapsed: number } | undefined>((resolve) => {
          let acc = Buffer.alloc(0);
          const t = performance.now();
          const onData = (d: Buffer) => {
            acc = Buffer.concat([acc, d]);
            if (acc.length >= n) done({ bytes: acc, elapsed: performance.now() - t });
          };
          const done = (v: { bytes: Buffer; elapsed: number } | undefined) => {
            clearTimeout(timer);
            s.off('data', onData);
            resolve(v);
          };
          const timer = setTimeout(() => done(undefined), timeoutMs);
          s.on('data', onData);
          s.write(frame);
        });
      const req = appendCrc(Buffer.from([4, 0x02, 0, 0, 0, 2]));
      const r = await rtu(req, 6);
      expect(hasValidCrc(r!.bytes)).toBe(true);
      expect(r!.bytes[0]).toBe(4);
      expect(r!.elapsed).toBeGreaterThan(wireTimeMs(8 + 6, 9600) + silenceMs(9600) - 0.05);

      await sleep(10);
      const bad = Buffer.from(req);
      bad[2]! ^= 1;
      expect(await rtu(bad, 1, 150)).toBeUndefined();
      const stats = (await sim.control.stats()).buses.find((b) => b.id === 'line')!;
      expect(stats).toMatchObject({ type: 'rtu-over-tcp', crcDropped: 1, replies: 1 });
    } finally {
      s.destroy();
    }
  });

  it('unplugs by closing the listener and listens again on the same port', async () => {
    const ep = sim.endpoints.buses[0]! as { port: number };
    await sim.control.unplug('line', 500);
    await expect(open(ep.port)).rejects.toThrow(/ECONNREFUSED/);
    const s = await waitFor(() => open(ep.port).catch(() => undefined), 3000, 'the RTU-over-TCP port to come back');
    s.destroy();
  });
});
