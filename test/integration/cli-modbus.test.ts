/**
 * `shouwang scan` and `shouwang read` against real lines: a socat pty pair with a small
 * scripted Modbus RTU responder on the far end (as a USB-RS485 adapter would see devices), and
 * a real TCP socket with a Modbus TCP responder. The CLI runs as its own process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import tty from 'node:tty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendCrc, hasValidCrc } from '../../gateway/src/protocol/crc16.js';
import { runCli, tempTree, TEST_PROFILES } from './cli-run.js';

/** One simulated device: register and bit tables; unlisted addresses answer "illegal data address". */
interface FakeDevice {
  holding?: Record<number, number>;
  input?: Record<number, number>;
  coil?: Record<number, number>;
  discrete?: Record<number, number>;
}

const DEVICES: Record<number, FakeDevice> = {
  // a lock: identify [0x5357, 0x0101]; holding 10-11 = 25.0 as f32; then "SW"
  3: {
    holding: { 0: 0x5357, 1: 0x0101, 10: 0x41c8, 11: 0x0000, 12: 0x5357, 13: 0xfffe },
    discrete: { 0: 0, 1: 1 },
    input: { 20: 365 },
  },
  // an alarm pole: identify [0x5357, anything]
  7: { holding: { 0: 0x5357, 1: 0x0202 } },
  // an IO module: no holding registers at all (exception 2), identify in input 100
  9: { input: { 100: 0x1701 } },
  // something we have no profile for
  12: { holding: { 0: 0x1234, 1: 0x5678 } },
};

const TABLE_OF_FC: Record<number, keyof FakeDevice> = { 1: 'coil', 2: 'discrete', 3: 'holding', 4: 'input' };

/** The reply PDU a device gives to a read request PDU (or an exception PDU). */
function answer(dev: FakeDevice, pdu: Buffer): Buffer {
  const fc = pdu[0]!;
  const table = TABLE_OF_FC[fc];
  if (!table) return Buffer.from([fc | 0x80, 1]);
  const address = pdu.readUInt16BE(1);
  const count = pdu.readUInt16BE(3);
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    const v = dev[table]?.[address + i];
    if (v === undefined) return Buffer.from([fc | 0x80, 2]);
    values.push(v);
  }
  if (table === 'coil' || table === 'discrete') {
    const bytes = Buffer.alloc(Math.ceil(count / 8));
    values.forEach((v, i) => {
      if (v) bytes[i >> 3]! |= 1 << (i & 7);
    });
    return Buffer.concat([Buffer.from([fc, bytes.length]), bytes]);
  }
  const data = Buffer.alloc(count * 2);
  values.forEach((v, i) => data.writeUInt16BE(v, i * 2));
  return Buffer.concat([Buffer.from([fc, data.length]), data]);
}

/** Requests seen per unit id, to check that silent ids are asked only once. */
const seen = new Map<number, number>();

let dir: string;
let socat: ChildProcess | undefined;
let devReader: tty.ReadStream | undefined;
let devFd: number | undefined;
let tcpServer: Server | undefined;
let tcpPort = 0;
const gwPath = () => join(dir, 'ttyGW');

async function waitForFile(path: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > end) throw new Error(`${path} did not appear within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function startRtuResponder(path: string): void {
  devFd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
  devReader = new tty.ReadStream(devFd);
  const writer = new tty.WriteStream(devFd);
  let buf = Buffer.alloc(0);
  devReader.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    // All our requests are reads: unit + 5-byte PDU + CRC = 8 bytes.
    while (buf.length >= 8) {
      const frame = buf.subarray(0, 8);
      buf = buf.subarray(8);
      if (!hasValidCrc(frame)) {
        buf = Buffer.alloc(0);
        return;
      }
      const unit = frame[0]!;
      seen.set(unit, (seen.get(unit) ?? 0) + 1);
      const dev = DEVICES[unit];
      if (!dev) continue; // nobody at this address: silence, like a real line
      writer.write(appendCrc(Buffer.concat([Buffer.from([unit]), answer(dev, frame.subarray(1, 6))])));
    }
  });
}

function startTcpResponder(): Promise<void> {
  tcpServer = createServer((sock: Socket) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 7 && buf.length >= 6 + buf.readUInt16BE(4)) {
        const len = buf.readUInt16BE(4);
        const adu = buf.subarray(0, 6 + len);
        buf = buf.subarray(6 + len);
        const unit = adu[6]!;
        const dev = DEVICES[unit];
        if (!dev) continue;
        const pdu = answer(dev, adu.subarray(7));
        const header = Buffer.alloc(7);
        header.writeUInt16BE(adu.readUInt16BE(0), 0);
        header.writeUInt16BE(0, 2);
        header.writeUInt16BE(pdu.length + 1, 4);
        header[6] = unit;
        sock.write(Buffer.concat([header, pdu]));
      }
    });
    sock.on('error', () => undefined);
  });
  return new Promise((resolve) =>
    tcpServer!.listen(0, '127.0.0.1', () => {
      tcpPort = (tcpServer!.address() as { port: number }).port;
      resolve();
    }),
  );
}

beforeAll(async () => {
  dir = tempTree(TEST_PROFILES);
  socat = spawn('socat', [`PTY,raw,echo=0,link=${join(dir, 'ttyGW')}`, `PTY,raw,echo=0,link=${join(dir, 'ttyDEV')}`], { stdio: 'ignore' });
  await waitForFile(join(dir, 'ttyGW'), 5000);
  await waitForFile(join(dir, 'ttyDEV'), 5000);
  startRtuResponder(join(dir, 'ttyDEV'));
  await startTcpResponder();
});

afterAll(async () => {
  devReader?.destroy();
  if (devFd !== undefined) {
    try {
      closeSync(devFd);
    } catch {
      // already closed by the stream
    }
  }
  if (socat?.pid !== undefined && socat.exitCode === null) {
    const gone = new Promise((r) => socat!.once('exit', r));
    process.kill(socat.pid, 'SIGTERM');
    await gone;
  }
  await new Promise((r) => (tcpServer ? tcpServer.close(r) : r(undefined)));
  rmSync(dir, { recursive: true, force: true });
});

describe('shouwang scan (RTU over a socat pty pair)', () => {
  it('finds the responding unit ids and their candidate profiles; silent ids cost one short timeout', async () => {
    seen.clear();
    const ids = '1-15';
    const r = await runCli(['scan', '--port', gwPath(), '--baud', '9600', '--ids', ids, '--timeout', '100ms', '--profiles', join(dir, 'profiles')]);
    expect(r.stderr).not.toMatch(/unexpected error/);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/scan complete: 15 ids in [\d.]+ s; 4 responded: 3, 7, 9, 12/);

    // unit 3: the lock (and the pole, whose expect has a wildcard second word)
    expect(out).toContain(
      [
        'unit 3',
        '  read holding 0 ×2 (40001): 0x5357 0x0101',
        `    tx ${hexOf(appendCrc(Buffer.from([3, 3, 0, 0, 0, 2])))}`,
        `    rx ${hexOf(appendCrc(Buffer.from([3, 3, 4, 0x53, 0x57, 0x01, 0x01])))}`,
      ].join('\n'),
    );
    expect(section(out, 3)).toMatch(/candidate profiles:\n\s+test-lock\s+测试门锁 \/ Test lock\n\s+test-pole\s+一键报警柱 \/ Alarm pole/);
    // unit 7: only the pole
    expect(section(out, 7)).toMatch(/candidate profiles:\n\s+test-pole\s+一键报警柱/);
    expect(section(out, 7)).not.toContain('test-lock');
    // unit 9: answers holding with an exception, identified by its input register
    expect(section(out, 9)).toContain('  exception 2 (illegal data address): holding 0 ×2\n');
    expect(section(out, 9)).toContain('read input 100 ×1 (30101): 0x1701');
    expect(section(out, 9)).toMatch(/candidate profiles:\n\s+test-io\s+报警模块 \/ IO module/);
    // unit 12: answers, but nothing matches
    expect(section(out, 12)).toContain('  exception 2 (illegal data address): input 100 ×1\n');
    expect(section(out, 12)).toContain('  responded, no profile matched (raw registers holding 0: [0x1234 0x5678])');
    expect(out).not.toMatch(/^unit (1|2|4|5|6|8|10|11|13|14|15)$/m);

    // Silent ids were asked exactly once (first probe only); responders got both probes.
    for (let id = 1; id <= 15; id++) expect(seen.get(id), `requests to unit ${id}`).toBe(DEVICES[id] ? 2 : 1);
  });

  it('prints JSON with --json', async () => {
    const r = await runCli(['scan', '--port', gwPath(), '--ids', '3,12', '--timeout', '100ms', '--profiles', join(dir, 'profiles'), '--json']);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as Array<{ unit: number; candidates: string[]; probes: Array<{ values?: number[]; request?: string }> }>;
    expect(json.map((u) => [u.unit, u.candidates])).toEqual([
      [3, ['test-lock', 'test-pole']],
      [12, []],
    ]);
    expect(json[0]!.probes[0]!.values).toEqual([0x5357, 0x0101]);
  });

  it('rejects a bad id list as a usage error (exit 2) before opening the port', async () => {
    const r = await runCli(['scan', '--port', gwPath(), '--ids', '0-300']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--ids: expected 1-247, got 0');
  });

  it('fails with a message, not a stack, when the port does not exist', async () => {
    const r = await runCli(['scan', '--port', join(dir, 'no-such-tty'), '--ids', '1', '--profiles', join(dir, 'profiles')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no-such-tty');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

function hexOf(b: Buffer): string {
  return [...b].map((x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}

/** The report lines of one unit. */
function section(out: string, unit: number): string {
  const start = out.indexOf(`unit ${unit}\n`);
  if (start < 0) return '';
  const next = out.slice(start + 1).search(/^(unit \d+|scan complete)/m);
  return out.slice(start, next < 0 ? undefined : start + 1 + next);
}

describe('shouwang read (RTU over a socat pty pair)', () => {
  it('prints request/response hex and every plausible decoding, with 0- and 1-based addresses', async () => {
    const r = await runCli(['read', '--port', gwPath(), '--unit', '3', '--table', 'holding', '--address', '10', '--count', '4']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toContain('request   unit 3, FC03 read holding registers, addresses 10-13 (0-based, on the wire), ref 40011-40014, count 4');
    expect(out).toContain(`tx        ${hexOf(appendCrc(Buffer.from([3, 3, 0, 10, 0, 4])))}`);
    expect(out).toContain(`rx        ${hexOf(appendCrc(Buffer.from([3, 3, 8, 0x41, 0xc8, 0, 0, 0x53, 0x57, 0xff, 0xfe])))}   (13 bytes,`);
    // per register: 0-based, 1-based, Modicon, hex, u16, i16, bits, ascii
    expect(out).toMatch(/^\s+10\s+11\s+40011\s+0x41C8\s+16840\s+16840\s+01000001 11001000\s+"A\."$/m);
    expect(out).toMatch(/^\s+13\s+14\s+40014\s+0xFFFE\s+65534\s+-2\s+11111111 11111110\s+"\.\."$/m);
    // 32-bit pairs in both word orders: 0x41C8 0x0000 is 25.0 high word first
    expect(out).toMatch(/^10-11\s+11-12\s+1103626240\s+1103626240\s+25\s+16840\s+16840\s+2\.360e-41$/m);
    // 0x5357 0xFFFE: high word first 0x5357FFFE; low word first 0xFFFE5357 = -109737 signed
    expect(out).toMatch(/^12-13\s+13-14\s+1398276094\s+1398276094\s+\S+\s+4294857559\s+-109737\s+NaN$/m);
    expect(out).toContain('ASCII (high byte first): "A...SW.."');
  });

  it('--base 1 takes datasheet register numbers and sends the same request', async () => {
    const r = await runCli(['read', '--port', gwPath(), '--unit', '3', '--address', '11', '--base', '1', '--count', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('addresses 10-11 (0-based, on the wire) (typed 11 with --base 1), ref 40011-40012');
    expect(r.stdout).toContain(`tx        ${hexOf(appendCrc(Buffer.from([3, 3, 0, 10, 0, 2])))}`);
  });

  it('annotates the block with what --profile decodes (bits too)', async () => {
    const p = ['--profiles', join(dir, 'profiles'), '--profile', 'test-lock'];
    const regs = await runCli(['read', '--port', gwPath(), '--unit', '3', '--address', '10', '--count', '2', ...p]);
    expect(regs.code).toBe(0);
    expect(regs.stdout).toMatch(/^\s+10\s+11\s+40011\s+0x41C8.*energy=25 kWh$/m);
    const bits = await runCli(['read', '--port', gwPath(), '--unit', '3', '--table', 'discrete', '--address', '0', '--count', '2', ...p]);
    expect(bits.code).toBe(0);
    expect(bits.stdout).toMatch(/^\s+0\s+1\s+10001\s+0\s+off\s+door=closed$/m);
    expect(bits.stdout).toMatch(/^\s+1\s+2\s+10002\s+1\s+ON\s+bolt=locked$/m);
  });

  it('explains an illegal data address with the off-by-one suspects (exit 1, no stack)', async () => {
    const r = await runCli(['read', '--port', gwPath(), '--unit', '3', '--address', '14', '--count', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('illegal data address');
    expect(r.stderr).toContain(`tx        ${hexOf(appendCrc(Buffer.from([3, 3, 0, 14, 0, 1])))}`);
    expect(r.stderr).toContain('the datasheet counts from 1 (40001 style): try --address 13');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('explains a silent unit and hints at a Modicon reference typed as an address', async () => {
    const r = await runCli(['read', '--port', gwPath(), '--unit', '99', '--address', '40001', '--timeout', '100ms']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no reply from unit 99');
    expect(r.stderr).toContain('wrong baud rate or parity');
    expect(r.stderr).toContain('hint: 40001 looks like a Modicon reference: 40001 is holding address 0 on the wire');
  });
});

describe('shouwang read (Modbus TCP on a real socket)', () => {
  it('reads input registers and shows the MBAP request and reply', async () => {
    const r = await runCli(['read', '--host', '127.0.0.1', '--tcp-port', String(tcpPort), '--unit', '3', '--table', 'input', '--address', '20']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`line      127.0.0.1:${tcpPort} (Modbus TCP)`);
    expect(r.stdout).toMatch(/^tx {8}[0-9A-F]{2} [0-9A-F]{2} 00 00 00 06 03 04 00 14 00 01$/m);
    expect(r.stdout).toMatch(/^rx {8}[0-9A-F]{2} [0-9A-F]{2} 00 00 00 05 03 04 02 01 6D {3}\(11 bytes/m);
    expect(r.stdout).toMatch(/^\s+20\s+21\s+30021\s+0x016D\s+365\s+365\s/m);
  });
});
