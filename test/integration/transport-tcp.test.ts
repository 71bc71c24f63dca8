/**
 * Modbus TCP and RTU-over-TCP transports against real TCP servers on 127.0.0.1: modbus-serial's
 * ServerTCP for Modbus TCP (a well-known independent implementation), and small scripted
 * servers for late replies and for RTU frames tunnelled over TCP (a serial device server).
 */
import net from 'node:net';
import ModbusRTU from 'modbus-serial';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busSchema, type BusConfig } from '../../gateway/src/config/schema.js';
import { ErrorCodes, isShouwangError } from '../../gateway/src/errors.js';
import { silentLogger } from '../../gateway/src/log.js';
import { appendCrc, hasValidCrc } from '../../gateway/src/protocol/crc16.js';
import { createModbusTransport } from '../../gateway/src/transport/index.js';
import type { ModbusTransport, TransportState } from '../../gateway/src/transport/types.js';
import { sleep, waitFor } from '../helpers/processes.js';

async function expectCode(p: Promise<unknown>, code: string): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isShouwangError(err), `expected ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  return err as Error;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function tcpBus(port: number, extra: Record<string, unknown> = {}): BusConfig {
  return busSchema.parse({ type: 'tcp', id: 'lan-test', host: '127.0.0.1', port, timeout: 300, reconnect: 100, ...extra });
}

/** A Modbus TCP server with plain register maps; addresses >= 1000 answer "illegal data address". */
class Plc {
  readonly holding = new Map<number, number>();
  readonly coils = new Map<number, boolean>();
  private server: InstanceType<typeof ModbusRTU.ServerTCP> | undefined;
  constructor(readonly port: number) {}

  start(): Promise<void> {
    const illegal = (addr: number) => {
      if (addr >= 1000) throw Object.assign(new Error('illegal address'), { modbusErrorCode: 2 });
    };
    const vector = {
      getHoldingRegister: (addr: number) => (illegal(addr), this.holding.get(addr) ?? 0x3000 + addr),
      getInputRegister: (addr: number) => (illegal(addr), 0x4000 + addr),
      getCoil: (addr: number) => (illegal(addr), this.coils.get(addr) ?? addr % 2 === 0),
      getDiscreteInput: (addr: number) => (illegal(addr), addr % 4 === 0),
      setRegister: (addr: number, value: number) => {
        this.holding.set(addr, value);
      },
      setCoil: (addr: number, value: boolean) => {
        this.coils.set(addr, value);
      },
    };
    return new Promise((resolve, reject) => {
      const server = new ModbusRTU.ServerTCP(vector, { host: '127.0.0.1', port: this.port, unitID: 5 });
      server.on('initialized', () => resolve());
      server.on('serverError', reject);
      this.server = server;
    });
  }

  stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    return new Promise((resolve) => (s ? s.close(() => resolve()) : resolve()));
  }
}

describe('Modbus TCP transport against modbus-serial ServerTCP', () => {
  let plc: Plc;
  let transport: ModbusTransport;
  const states: TransportState[] = [];

  beforeAll(async () => {
    plc = new Plc(await freePort());
    await plc.start();
    transport = createModbusTransport(tcpBus(plc.port), silentLogger());
    transport.on('state', (s) => states.push(s));
    await transport.open();
  });

  afterAll(async () => {
    await transport?.close();
    await plc?.stop();
  });

  it('reads all four tables, with the MBAP request and reply as sent', async () => {
    const h = await transport.read(5, 'holding', 7, 2);
    expect(h.values).toEqual([0x3007, 0x3008]);
    expect(h.request.length).toBe(12);
    expect(h.request.readUInt16BE(2)).toBe(0); // protocol id
    expect(h.request[6]).toBe(5);
    expect(h.response.readUInt16BE(0)).toBe(h.request.readUInt16BE(0)); // same transaction id
    expect((await transport.read(5, 'input', 0, 3)).values).toEqual([0x4000, 0x4001, 0x4002]);
    expect((await transport.read(5, 'coil', 0, 5)).values).toEqual([1, 0, 1, 0, 1]);
    expect((await transport.read(5, 'discrete', 0, 9)).values).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  });

  it('uses a new transaction id per request', async () => {
    const a = await transport.read(5, 'holding', 0, 1);
    const b = await transport.read(5, 'holding', 0, 1);
    expect(b.request.readUInt16BE(0)).toBe(a.request.readUInt16BE(0) + 1);
  });

  it('writes registers and coils', async () => {
    await transport.write(5, 'holding', 10, [0xabcd]);
    await transport.write(5, 'holding', 20, [1, 2, 3]);
    await transport.write(5, 'coil', 30, [1]);
    await transport.write(5, 'coil', 40, [0, 1, 1]);
    expect(plc.holding.get(10)).toBe(0xabcd);
    expect([20, 21, 22].map((a) => plc.holding.get(a))).toEqual([1, 2, 3]);
    expect(plc.coils.get(30)).toBe(true);
    expect([40, 41, 42].map((a) => plc.coils.get(a))).toEqual([false, true, true]);
    expect((await transport.read(5, 'holding', 20, 3)).values).toEqual([1, 2, 3]);
  });

  it('reports an exception reply', async () => {
    const err = await expectCode(transport.read(5, 'holding', 1000, 1), ErrorCodes.MODBUS_EXCEPTION);
    expect(err.message).toMatch(/illegal data address/);
    expect(transport.stats().exceptions).toBe(1);
  });

  it('runs concurrent callers one at a time and gets every answer right', async () => {
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => transport.read(5, 'input', i, 1)));
    results.forEach((r, i) => expect(r.values).toEqual([0x4000 + i]));
  });

  it('readWith: the same values as read(), through a callback never called before it returns, errors included', async () => {
    const readWith = (unit: number, table: 'holding' | 'input' | 'coil' | 'discrete', address: number, count: number) =>
      new Promise<{ err: Error | undefined; values: number[] | undefined; elapsedMs: number; sync: boolean }>((resolve) => {
        let returned = false;
        transport.readWith!(unit, table, address, count, undefined, (err, values, elapsedMs) => resolve({ err, values, elapsedMs, sync: !returned }));
        returned = true;
      });
    for (const [table, address, count] of [['holding', 7, 2], ['input', 0, 3], ['coil', 0, 5], ['discrete', 0, 9]] as const) {
      const viaCallback = await readWith(5, table, address, count);
      expect(viaCallback.err).toBeUndefined();
      expect(viaCallback.sync).toBe(false);
      expect(viaCallback.elapsedMs).toBeGreaterThan(0);
      expect(viaCallback.values).toEqual((await transport.read(5, table, address, count)).values);
    }
    // Concurrent callers share the bus one at a time, as with read().
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => readWith(5, 'input', i, 1)));
    many.forEach((r, i) => expect(r.values).toEqual([0x4000 + i]));
    // A Modbus exception and a refused argument come back through the callback, asynchronously.
    const exception = await readWith(5, 'holding', 1000, 1);
    expect(exception.sync).toBe(false);
    expect((exception.err as { code?: string }).code).toBe(ErrorCodes.MODBUS_EXCEPTION);
    const invalid = await readWith(5, 'holding', 0, 126);
    expect(invalid.sync).toBe(false);
    expect((invalid.err as { code?: string }).code).toBe(ErrorCodes.PAYLOAD_INVALID);
  });

  it('reopens after the server restarts, failing queued requests at once', async () => {
    states.length = 0;
    const reopens = transport.stats().reopens;
    await plc.stop();
    await waitFor(() => transport.state === 'closed', 3000, 'transport noticed the peer went away');
    await expectCode(transport.read(5, 'holding', 0, 1), ErrorCodes.TRANSPORT_CLOSED);
    await sleep(350); // a few failed reconnect attempts
    await plc.start();
    await waitFor(() => transport.state === 'open', 3000, 'transport reconnected');
    expect((await transport.read(5, 'holding', 3, 1)).values).toEqual([0x3003]);
    expect(states).toEqual(['closed', 'open']);
    expect(transport.stats().reopens).toBe(reopens + 1);
  });
});

describe('Modbus TCP: late replies and dropped connections', () => {
  let server: net.Server;
  let port: number;
  /** What the scripted server does with the next request: answer now, after a delay, or never. */
  const plan: Array<{ delayMs?: number; silent?: boolean; closeConnection?: boolean }> = [];
  const sockets = new Set<net.Socket>();

  beforeAll(async () => {
    port = await freePort();
    server = net.createServer((sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      let buf = Buffer.alloc(0);
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 7 && buf.length >= 6 + buf.readUInt16BE(4)) {
          const req = buf.subarray(0, 6 + buf.readUInt16BE(4));
          buf = buf.subarray(req.length);
          const step = plan.shift() ?? {};
          if (step.closeConnection) {
            sock.destroy();
            return;
          }
          if (step.silent) continue;
          // FC03 reply whose values carry the requested address, so a mix-up shows.
          const addr = req.readUInt16BE(8);
          const n = req.readUInt16BE(10);
          const pdu = Buffer.alloc(2 + 2 * n);
          pdu[0] = 3;
          pdu[1] = 2 * n;
          for (let i = 0; i < n; i++) pdu.writeUInt16BE(addr + i, 2 + 2 * i);
          const reply = Buffer.concat([req.subarray(0, 4), Buffer.from([0, pdu.length + 1, req[6]!]), pdu]);
          if (step.delayMs) setTimeout(() => sock.write(reply), step.delayMs);
          else sock.write(reply);
        }
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it('drops a reply with a stale transaction id instead of taking it for the current request', async () => {
    const t = createModbusTransport(tcpBus(port, { timeout: 80 }), silentLogger());
    await t.open();
    try {
      // A is answered at 150 ms (after its 80 ms timeout); B is answered at 100 ms after it is
      // sent, so A's stale reply arrives first, while B waits.
      plan.push({ delayMs: 150 }, { delayMs: 100 });
      await expectCode(t.read(1, 'holding', 100, 2), ErrorCodes.TRANSPORT_TIMEOUT);
      const b = await t.read(1, 'holding', 200, 2, { timeoutMs: 400 });
      expect(b.values).toEqual([200, 201]);
      expect(t.stats().frameErrors).toBe(1);
      expect(t.stats().timeouts).toBe(1);
    } finally {
      await t.close();
    }
  });

  it('fails a pending request at once when the connection drops, then reconnects', async () => {
    const t = createModbusTransport(tcpBus(port, { timeout: 5000 }), silentLogger());
    await t.open();
    try {
      plan.push({ closeConnection: true });
      const t0 = performance.now();
      await expectCode(t.read(1, 'holding', 1, 1), ErrorCodes.TRANSPORT_CLOSED);
      expect(performance.now() - t0).toBeLessThan(1000);
      await waitFor(() => t.state === 'open', 3000, 'reconnected');
      expect((await t.read(1, 'holding', 9, 1)).values).toEqual([9]);
    } finally {
      await t.close();
    }
  });
});

describe('RTU over TCP (serial device server)', () => {
  let server: net.Server;
  let port: number;
  const arrivals: Array<{ at: number; gap: number | undefined }> = [];
  let lastReplyAt: number | undefined;
  let corruptNext = false;

  beforeAll(async () => {
    port = await freePort();
    server = net.createServer((sock) => {
      sock.setNoDelay(true);
      let buf = Buffer.alloc(0);
      sock.on('data', (d) => {
        const at = performance.now();
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 8) {
          const req = buf.subarray(0, 8);
          buf = buf.subarray(8);
          arrivals.push({ at, gap: lastReplyAt === undefined ? undefined : at - lastReplyAt });
          if (!hasValidCrc(req) || req[1] !== 4) continue;
          const n = req.readUInt16BE(4);
          const body = Buffer.alloc(3 + 2 * n);
          body[0] = req[0]!;
          body[1] = 4;
          body[2] = 2 * n;
          for (let i = 0; i < n; i++) body.writeUInt16BE(0x5000 + req.readUInt16BE(2) + i, 3 + 2 * i);
          const reply = appendCrc(body);
          if (corruptNext) reply[3]! ^= 0xff;
          corruptNext = false;
          lastReplyAt = performance.now();
          sock.write(reply);
        }
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('reads RTU frames over TCP, rejects a bad CRC, and keeps the line silence', async () => {
    const bus = busSchema.parse({ type: 'rtu-over-tcp', id: 'dtu', host: '127.0.0.1', port, baudRate: 9600, timeout: 300 });
    const t = createModbusTransport(bus, silentLogger());
    await t.open();
    try {
      expect((await t.read(9, 'input', 4, 2)).values).toEqual([0x5004, 0x5005]);
      corruptNext = true;
      await expectCode(t.read(9, 'input', 0, 1), ErrorCodes.TRANSPORT_CRC);
      for (let i = 0; i < 20; i++) expect((await t.read(9, 'input', i, 1)).values).toEqual([0x5000 + i]);
      const gaps = arrivals.slice(1).map((a) => a.gap!);
      expect(gaps).toHaveLength(21);
      // 3.5 characters at 9600 baud.
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(4.01);
      expect(t.stats().crcErrors).toBe(1);
      expect(t.stats().wireMs).toBeGreaterThan(0);
    } finally {
      await t.close();
    }
  });
});
