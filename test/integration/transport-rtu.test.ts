/**
 * Modbus RTU transport over REAL pty pairs (socat), against a scripted slave that runs in its
 * own process (so that its clock and event loop are not the gateway's) and speaks raw bytes
 * through serialport. The slave is told what to do next over stdin and reports what it saw on
 * stdout, including the silence it measured before each request.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { busSchema, type BusConfig } from '../../gateway/src/config/schema.js';
import { ErrorCodes, isShouwangError } from '../../gateway/src/errors.js';
import { silentLogger } from '../../gateway/src/log.js';
import { silenceMs, transactionMinMs } from '../../gateway/src/protocol/wire-timing.js';
import { createModbusTransport } from '../../gateway/src/transport/index.js';
import type { ModbusTransport, TransportState } from '../../gateway/src/transport/types.js';
import { repoRoot, sleep, waitFor } from '../helpers/processes.js';

/**
 * The slave (CommonJS, run with `node -e` from the repo root so that `serialport` resolves).
 * Registers: holding[i] = 0x1000+i, input[i] = 0x2000+i, coil[i] = (i%3==0), discrete[i] = (i%2==1).
 * With `wire: true` it answers like a real line would: after the request's wire time, the
 * t3.5 silence and the reply's wire time, so a transaction lasts its theoretical minimum.
 */
const SLAVE = String.raw`
const { SerialPort } = require('serialport');
const readline = require('node:readline');
const [path, baudArg, unitArg] = process.argv.slice(1);
const baud = Number(baudArg), unit = Number(unitArg);
const charMs = 11000 / baud, t35 = baud > 19200 ? 1.75 : 3.5 * charMs;
const T = new Uint16Array(256);
for (let i = 0; i < 256; i++) { let c = i; for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1; T[i] = c; }
const crc = (b) => { let c = 0xffff; for (const x of b) c = (c >>> 8) ^ T[(c ^ x) & 0xff]; return c; };
const withCrc = (b) => { const c = crc(b); return Buffer.from([...b, c & 0xff, c >>> 8]); };
const holding = new Map(), coils = new Map();
const hr = (a) => holding.has(a) ? holding.get(a) : 0x1000 + a;
const co = (a) => coils.has(a) ? coils.get(a) : (a % 3 === 0 ? 1 : 0);
let wire = false, port, rx = Buffer.alloc(0), lastWriteAt = -1, nRequests = 0;
const once = [];
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const waitUntil = (t) => new Promise((res) => { const spin = () => performance.now() >= t ? res() : setImmediate(spin); const c = t - performance.now() - 1.25; c >= 1 ? setTimeout(spin, Math.floor(c)) : setImmediate(spin); });
function reqLen(b) { if (b.length < 2) return 0; const fc = b[1]; if (fc >= 1 && fc <= 6) return 8; if (fc === 15 || fc === 16) return b.length >= 7 ? 9 + b[6] : 0; return -1; }
function answer(req) {
  const fc = req[1], addr = req.readUInt16BE(2), n = req.readUInt16BE(4);
  if (fc === 1 || fc === 2) { const bytes = Math.ceil(n / 8), d = Buffer.alloc(bytes); for (let i = 0; i < n; i++) if (fc === 1 ? co(addr + i) : (addr + i) % 2 === 1) d[i >> 3] |= 1 << (i & 7); return Buffer.from([unit, fc, bytes, ...d]); }
  if (fc === 3 || fc === 4) { const d = Buffer.alloc(2 * n); for (let i = 0; i < n; i++) d.writeUInt16BE(fc === 3 ? hr(addr + i) : 0x2000 + addr + i, 2 * i); return Buffer.from([unit, fc, 2 * n, ...d]); }
  if (fc === 5) { coils.set(addr, n === 0xff00 ? 1 : 0); return req.subarray(0, 6); }
  if (fc === 6) { holding.set(addr, n); return req.subarray(0, 6); }
  if (fc === 15) { for (let i = 0; i < n; i++) coils.set(addr + i, (req[7 + (i >> 3)] >> (i & 7)) & 1); return req.subarray(0, 6); }
  if (fc === 16) { for (let i = 0; i < n; i++) holding.set(addr + i, req.readUInt16BE(7 + 2 * i)); return req.subarray(0, 6); }
  return Buffer.from([unit, fc | 0x80, 1]);
}
// Stamp before write(): on a loaded machine this process can be descheduled between the write
// syscall (done by libuv's thread pool) and the next line, which would understate the silence.
function send(buf) { lastWriteAt = performance.now(); port.write(buf); }
async function onRequest(req, arrivedAt) {
  nRequests++;
  const gapMs = lastWriteAt < 0 ? null : arrivedAt - lastWriteAt;
  out({ ev: 'req', n: nRequests, hex: req.toString('hex'), gapMs });
  if (req[0] !== unit) return;
  const act = once.shift() || {};
  if (act.do === 'silent') return;
  let reply = act.do === 'exception' ? Buffer.from([unit, req[1] | 0x80, act.code]) : answer(req);
  reply = withCrc(reply);
  if (act.do === 'badcrc') reply[reply.length - 1] ^= 0x5a;
  if (act.garbage) reply = Buffer.concat([Buffer.from(act.garbage, 'hex'), reply]);
  let at = arrivedAt + (wire ? (req.length + reply.length) * charMs + t35 : 0.3);
  if (act.do === 'late') at = arrivedAt + act.ms;
  if (act.do === 'late') { setTimeout(() => { send(reply); out({ ev: 'late-sent' }); }, act.ms); return; }
  await waitUntil(at);
  send(reply);
}
function onData(d) {
  const at = performance.now();
  rx = Buffer.concat([rx, d]);
  for (;;) {
    const len = reqLen(rx);
    if (len < 0) { out({ ev: 'junk', hex: rx.toString('hex') }); rx = Buffer.alloc(0); return; }
    if (len === 0 || rx.length < len) return;
    const req = rx.subarray(0, len); rx = rx.subarray(len);
    if (crc(req.subarray(0, len - 2)) !== req.readUInt16LE(len - 2)) { out({ ev: 'bad-request', hex: req.toString('hex') }); continue; }
    void onRequest(Buffer.from(req), at);
  }
}
function open() {
  port = new SerialPort({ path, baudRate: baud, autoOpen: false });
  port.on('error', () => {});
  port.open((err) => {
    if (err) return setTimeout(open, 50);
    port.on('data', onData);
    port.on('close', () => { out({ ev: 'closed' }); rx = Buffer.alloc(0); setTimeout(open, 50); });
    out({ ev: 'ready' });
  });
}
readline.createInterface({ input: process.stdin }).on('line', (l) => {
  const c = JSON.parse(l);
  if (c.wire !== undefined) wire = c.wire;
  if (c.once) once.push(c.once);
  if (c.write) send(Buffer.from(c.write, 'hex'));
  if (c.reset) { lastWriteAt = -1; }
  out({ ev: 'ack' });
});
open();
`;

interface SlaveEvent {
  ev: string;
  n?: number;
  hex?: string;
  gapMs?: number | null;
}

class Slave {
  readonly events: SlaveEvent[] = [];
  private constructor(readonly child: ChildProcess) {}

  static start(path: string, baud: number, unit: number): Promise<Slave> {
    const child = spawn(process.execPath, ['-e', SLAVE, path, String(baud), String(unit)], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] });
    const slave = new Slave(child);
    createInterface({ input: child.stdout! }).on('line', (line) => slave.events.push(JSON.parse(line) as SlaveEvent));
    return waitFor(() => slave.events.some((e) => e.ev === 'ready'), 10_000, 'slave ready').then(() => slave);
  }

  async send(cmd: Record<string, unknown>): Promise<void> {
    const acks = this.events.filter((e) => e.ev === 'ack').length;
    this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    await waitFor(() => this.events.filter((e) => e.ev === 'ack').length > acks, 5000, 'slave ack');
  }

  requests(): SlaveEvent[] {
    return this.events.filter((e) => e.ev === 'req');
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.kill('SIGTERM');
    });
  }
}

/** A socat pty pair at fixed link paths, started and killed by PID. */
class PtyPair {
  private child: ChildProcess | undefined;
  constructor(
    readonly a: string,
    readonly b: string,
  ) {}

  async start(): Promise<void> {
    this.child = spawn('socat', [`pty,raw,echo=0,link=${this.a}`, `pty,raw,echo=0,link=${this.b}`], { stdio: 'ignore' });
    await waitFor(() => existsSync(this.a) && existsSync(this.b), 5000, 'socat links');
  }

  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      process.kill(child.pid!, 'SIGTERM');
    });
    await waitFor(() => !existsSync(this.a) && !existsSync(this.b), 5000, 'socat links gone');
  }
}

function rtuBus(path: string, baudRate: number, extra: Record<string, unknown> = {}): BusConfig {
  return busSchema.parse({ type: 'rtu', id: 'rs485-test', path, baudRate, timeout: 200, reconnect: 200, ...extra });
}

async function expectCode(p: Promise<unknown>, code: string): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isShouwangError(err), `expected ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  return err as Error;
}

/** Mark a promise handled now (it may reject while the test does other things); check it later with expectCode. */
function captured<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

const dir = mkdtempSync(join(tmpdir(), 'sw-transport-rtu-'));
const pty = new PtyPair(join(dir, 'gw'), join(dir, 'dev'));

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('Modbus RTU transport over a pty pair', () => {
  let slave: Slave;
  let transport: ModbusTransport;
  const states: TransportState[] = [];

  beforeAll(async () => {
    await pty.start();
    slave = await Slave.start(pty.b, 9600, 7);
    transport = createModbusTransport(rtuBus(pty.a, 9600), silentLogger());
    transport.on('state', (s) => states.push(s));
    await transport.open();
  });

  afterAll(async () => {
    await transport?.close();
    await slave?.stop();
    await pty.kill();
  });

  afterEach(async () => {
    // Let any late reply a test provoked drain before the next test.
    await sleep(50);
  });

  it('reads holding, input, coils and discrete inputs', async () => {
    const h = await transport.read(7, 'holding', 10, 3);
    expect(h.values).toEqual([0x100a, 0x100b, 0x100c]);
    expect(h.request.toString('hex')).toBe(slave.requests().at(-1)!.hex);
    expect(h.response.length).toBe(3 + 6 + 2);
    expect(h.elapsedMs).toBeGreaterThan(0);
    expect((await transport.read(7, 'input', 0, 2)).values).toEqual([0x2000, 0x2001]);
    expect((await transport.read(7, 'coil', 0, 10)).values).toEqual([1, 0, 0, 1, 0, 0, 1, 0, 0, 1]);
    expect((await transport.read(7, 'discrete', 3, 4)).values).toEqual([1, 0, 1, 0]);
    expect(states).toEqual(['opening', 'open']);
  });

  it('writes single and multiple registers and coils, and reads them back', async () => {
    await transport.write(7, 'holding', 100, [0xbeef]);
    await transport.write(7, 'holding', 101, [1, 2, 3]);
    expect((await transport.read(7, 'holding', 100, 4)).values).toEqual([0xbeef, 1, 2, 3]);
    await transport.write(7, 'coil', 1, [1]);
    await transport.write(7, 'coil', 2, [1, 1, 0, 0, 1, 0, 1, 1, 1]);
    expect((await transport.read(7, 'coil', 0, 11)).values).toEqual([1, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1]);
    const fcs = slave.requests().slice(-6).map((r) => parseInt(r.hex!.slice(2, 4), 16));
    expect(fcs).toEqual([6, 16, 3, 5, 15, 1]);
  });

  it('reports a Modbus exception by name', async () => {
    await slave.send({ once: { do: 'exception', code: 2 } });
    const before = transport.stats().exceptions;
    const err = await expectCode(transport.read(7, 'holding', 0, 1), ErrorCodes.MODBUS_EXCEPTION);
    expect(err.message).toMatch(/illegal data address/);
    expect(transport.stats().exceptions).toBe(before + 1);
  });

  it('rejects a reply with a bad CRC, counts it, and the next request still works', async () => {
    await slave.send({ once: { do: 'badcrc' } });
    const before = transport.stats().crcErrors;
    await expectCode(transport.read(7, 'holding', 0, 2), ErrorCodes.TRANSPORT_CRC);
    expect(transport.stats().crcErrors).toBe(before + 1);
    expect((await transport.read(7, 'holding', 0, 2)).values).toEqual([0x1000, 0x1001]);
  });

  it('finds the reply behind garbage on the line', async () => {
    await slave.send({ once: { garbage: '0703ff00' } });
    const before = transport.stats().frameErrors;
    expect((await transport.read(7, 'holding', 4, 1)).values).toEqual([0x1004]);
    expect(transport.stats().frameErrors).toBe(before + 1);
  });

  it('times out when the slave stays silent, and the next request still works', async () => {
    await slave.send({ once: { do: 'silent' } });
    const before = transport.stats().timeouts;
    const t0 = performance.now();
    await expectCode(transport.read(7, 'holding', 0, 1, { timeoutMs: 80 }), ErrorCodes.TRANSPORT_TIMEOUT);
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(80);
    expect(took).toBeLessThan(200);
    expect(transport.stats().timeouts).toBe(before + 1);
    expect((await transport.read(7, 'input', 5, 1)).values).toEqual([0x2005]);
  });

  it('never takes a late reply for the next request', async () => {
    // A (holding 0..1) times out at 100 ms + wire time; its reply comes at 160 ms. B has the
    // same shape and its own reply is slow (80 ms): without the quiet guard after a timeout,
    // A's reply would land while B waits and be taken for B's.
    await slave.send({ once: { do: 'late', ms: 160 } });
    await slave.send({ once: { do: 'late', ms: 80 } });
    const lateSent = slave.events.filter((e) => e.ev === 'late-sent').length;
    await expectCode(transport.read(7, 'holding', 0, 2, { timeoutMs: 100 }), ErrorCodes.TRANSPORT_TIMEOUT);
    const b = await transport.read(7, 'holding', 20, 2);
    expect(b.values).toEqual([0x1014, 0x1015]);
    await waitFor(() => slave.events.filter((e) => e.ev === 'late-sent').length === lateSent + 2, 2000, 'late replies sent');

    // A late reply that lands while a request of another shape waits is skipped, not taken.
    // A: timeout 30 ms + 19.5 ms wire, then a guard as long; C is written at ~103 ms, A's reply
    // arrives at 130 ms, C's own at ~143 ms.
    await slave.send({ once: { do: 'late', ms: 130 } });
    await slave.send({ once: { do: 'late', ms: 40 } });
    const frameErrors = transport.stats().frameErrors;
    await expectCode(transport.read(7, 'holding', 0, 2, { timeoutMs: 30 }), ErrorCodes.TRANSPORT_TIMEOUT);
    const c = await transport.read(7, 'holding', 30, 3, { timeoutMs: 150 });
    expect(c.values).toEqual([0x101e, 0x101f, 0x1020]);
    expect(transport.stats().frameErrors).toBe(frameErrors + 1);
  });

  it('keeps exactly one request on the line when many are issued at once', async () => {
    const n0 = slave.requests().length;
    const reads = Array.from({ length: 20 }, (_, i) => transport.read(7, i % 2 ? 'input' : 'holding', i, 1));
    const writes = [transport.write(7, 'holding', 200, [42]), transport.write(7, 'coil', 300, [1])];
    const results = await Promise.all(reads);
    await Promise.all(writes);
    results.forEach((r, i) => expect(r.values).toEqual([(i % 2 ? 0x2000 : 0x1000) + i]));
    // Every request arrived after the previous reply (the slave measured a gap for each), in order.
    const seen = slave.requests().slice(n0);
    expect(seen).toHaveLength(22);
    for (const r of seen) expect(r.gapMs!).toBeGreaterThanOrEqual(silenceMs(9600));
  });

  it('validates arguments before touching the bus', async () => {
    const n0 = transport.stats().requests;
    await expectCode(transport.read(0, 'holding', 0, 1), ErrorCodes.PAYLOAD_INVALID);
    await expectCode(transport.read(7, 'holding', 0, 126), ErrorCodes.PAYLOAD_INVALID);
    await expectCode(transport.read(7, 'coil', 65535, 2), ErrorCodes.PAYLOAD_INVALID);
    await expectCode(transport.write(7, 'holding', 0, [70000]), ErrorCodes.PAYLOAD_INVALID);
    expect(transport.stats().requests).toBe(n0);
  });

  it('counts wire time at the bus baud rate', async () => {
    const s0 = transport.stats();
    await transport.read(7, 'holding', 0, 10); // 8 + 25 bytes
    const s1 = transport.stats();
    expect(s1.wireMs - s0.wireMs).toBeCloseTo((33 * 11 * 1000) / 9600, 5);
    expect(s1.requests - s0.requests).toBe(1);
    expect(s1.responses - s0.responses).toBe(1);
  });

  it('reopens by itself after the port disappears, failing pending and queued requests at once', async () => {
    const reopens0 = transport.stats().reopens;
    states.length = 0;
    await slave.send({ once: { do: 'silent' } });
    // Settle handlers attached now: these reject while we are still killing socat.
    const inFlight = captured(transport.read(7, 'holding', 0, 1, { timeoutMs: 5000 }));
    const queued = captured(transport.read(7, 'holding', 1, 1, { timeoutMs: 5000 }));
    await sleep(30);
    const t0 = performance.now();
    await pty.kill();
    await expectCode(inFlight, ErrorCodes.TRANSPORT_CLOSED);
    await expectCode(queued, ErrorCodes.TRANSPORT_CLOSED);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(transport.state).toBe('closed');
    await expectCode(transport.read(7, 'holding', 0, 1), ErrorCodes.TRANSPORT_CLOSED);
    // Unplugged for a while: several reopen attempts fail.
    await sleep(600);
    expect(transport.state).toBe('closed');
    await pty.start();
    await waitFor(() => transport.state === 'open', 5000, 'transport reopened');
    await waitFor(() => slave.events.filter((e) => e.ev === 'ready').length >= 2, 5000, 'slave reopened');
    expect((await transport.read(7, 'input', 9, 1)).values).toEqual([0x2009]);
    expect(states).toEqual(['closed', 'open']);
    expect(transport.stats().reopens).toBe(reopens0 + 1);
  });
});

describe('open() on a missing port', () => {
  it('rejects with the first error and keeps retrying until the port appears', async () => {
    const pair = new PtyPair(join(dir, 'late-gw'), join(dir, 'late-dev'));
    const t = createModbusTransport(rtuBus(pair.a, 19200), silentLogger());
    try {
      await expectCode(t.open(), ErrorCodes.TRANSPORT_CLOSED);
      expect(t.state).toBe('closed');
      await pair.start();
      const slave = await Slave.start(pair.b, 19200, 1);
      try {
        await waitFor(() => t.state === 'open', 5000, 'transport opened in the background');
        expect((await t.read(1, 'holding', 0, 1)).values).toEqual([0x1000]);
        expect(t.stats().reopens).toBe(0);
      } finally {
        await slave.stop();
      }
    } finally {
      await t.close();
      await pair.kill();
    }
  });
});

/** Silence before each request and per-transaction overhead, measured by the slave, with a wire-timed slave. */
describe.each([9600, 115200])('inter-frame silence at %i baud', (baud) => {
  const pair = new PtyPair(join(dir, `t${baud}-gw`), join(dir, `t${baud}-dev`));
  let slave: Slave;

  beforeAll(async () => {
    await pair.start();
    slave = await Slave.start(pair.b, baud, 3);
    await slave.send({ wire: true });
  });

  afterAll(async () => {
    await slave?.stop();
    await pair.kill();
  });

  it('keeps at least the default 3.5-character silence, with little overhead', async () => {
    // A generous timeout: a loaded machine may stall a process, and timeouts are not what this measures.
    const t = createModbusTransport(rtuBus(pair.a, baud, { timeout: 2000 }), silentLogger());
    await t.open();
    try {
      const count = baud === 9600 ? 150 : 600;
      for (let i = 0; i < 20; i++) await t.read(3, 'holding', 0, 2); // warm up
      const n0 = slave.requests().length;
      const t0 = performance.now();
      for (let i = 0; i < count; i++) await t.read(3, 'holding', 0, 2); // 8-byte request, 9-byte reply
      const elapsed = performance.now() - t0;
      const gaps = slave.requests().slice(n0 + 1).map((r) => r.gapMs!);
      const silence = silenceMs(baud);
      const over = gaps.map((g) => g - silence);
      const efficiency = (count * transactionMinMs(8, 9, baud)) / elapsed;
      console.log(
        `[transport-rtu] ${baud} baud: silence ${silence.toFixed(3)} ms; slave-measured gap - silence: min ${Math.min(...over).toFixed(3)} ` +
          `median ${quantile(over, 0.5).toFixed(3)} p95 ${quantile(over, 0.95).toFixed(3)} max ${Math.max(...over).toFixed(3)} ms; ` +
          `${count} reads in ${elapsed.toFixed(0)} ms = ${(efficiency * 100).toFixed(1)}% of the theoretical maximum`,
      );
      expect(gaps).toHaveLength(count - 1);
      // Never less than the silence: measured by the slave from before its reply's write() call.
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(silence);
      // Not much more: the overhead is pty + serialport latency both ways plus our scheduling
      // (~0.6-0.9 ms here; a plain setTimeout would add 1-2 ms more). Efficiency is only
      // reported: the bus-efficiency bench owns that number, on a quiet machine.
      // 3 ms leaves room for a loaded CI machine; the bench measures the real overhead.
      expect(quantile(over, 0.5)).toBeLessThan(3);
    } finally {
      await t.close();
    }
  });

  it('keeps a configured interFrameDelay', async () => {
    const delay = baud === 9600 ? 10 : 3;
    const t = createModbusTransport(rtuBus(pair.a, baud, { interFrameDelay: delay, timeout: 2000 }), silentLogger());
    await t.open();
    try {
      const n0 = slave.requests().length;
      for (let i = 0; i < 40; i++) await t.read(3, 'input', 0, 1);
      const gaps = slave.requests().slice(n0 + 1).map((r) => r.gapMs!);
      expect(gaps).toHaveLength(39);
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(delay);
      expect(quantile(gaps, 0.5)).toBeLessThan(delay + 3);
    } finally {
      await t.close();
    }
  });
});
