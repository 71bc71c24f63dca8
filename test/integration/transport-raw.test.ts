/**
 * Raw-frame transport over a REAL socat pty pair against a scripted lock-control board
 * (`57 4B 4C 59 | len | addr | cmd | data | XOR`) that speaks raw bytes through serialport.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busSchema } from '../../gateway/src/config/schema.js';
import { ErrorCodes, isShouwangError } from '../../gateway/src/errors.js';
import { silentLogger } from '../../gateway/src/log.js';
import type { FramingDef } from '../../gateway/src/profiles/schema.js';
import { createRawFrameTransport } from '../../gateway/src/transport/index.js';
import type { RawFrame, RawFrameTransport, TransportState } from '../../gateway/src/transport/types.js';
import { sleep, waitFor } from '../helpers/processes.js';

const lockBoard: FramingDef = {
  header: [0x57, 0x4b, 0x4c, 0x59],
  length: { offset: 4, counts: 'frame' },
  addressOffset: 5,
  commandOffset: 6,
  dataOffset: 7,
  checksum: { type: 'xor', from: 0 },
};

/** Built by hand here, not with encodeFrame, so the test does not trust the code it tests. */
function frame(addr: number, cmd: number, data: number[]): Buffer {
  const body = [0x57, 0x4b, 0x4c, 0x59, 8 + data.length, addr, cmd, ...data];
  return Buffer.from([...body, body.reduce((x, b) => x ^ b, 0)]);
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

/** The board: address 1, 16 locks. 0x83 status -> [locks lo, locks hi, doors lo, doors hi]; 0x82 open lock n -> [n, 1]. */
class Board {
  port: SerialPort | undefined;
  locks = 0xffff;
  doors = 0x0000;
  /** What to do with the next request, in order. */
  readonly plan: Array<'badChecksum' | 'garbageFirst' | 'pushFirst' | 'otherBoardFirst' | 'silent'> = [];
  readonly received: Buffer[] = [];
  private rx = Buffer.alloc(0);

  constructor(private readonly path: string) {}

  async open(): Promise<void> {
    const p = new SerialPort({ path: this.path, baudRate: 9600, autoOpen: false });
    p.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => p.open((e) => (e ? reject(e) : resolve())));
    p.on('data', (d: Buffer) => this.onData(d));
    this.port = p;
  }

  close(): Promise<void> {
    const p = this.port;
    this.port = undefined;
    return new Promise((r) => (p?.isOpen ? p.close(() => r()) : r()));
  }

  send(buf: Buffer): void {
    this.port!.write(buf);
  }

  private onData(d: Buffer): void {
    this.rx = Buffer.concat([this.rx, d]);
    while (this.rx.length >= 5 && this.rx.length >= this.rx[4]!) {
      const req = this.rx.subarray(0, this.rx[4]!);
      this.rx = this.rx.subarray(req.length);
      this.received.push(Buffer.from(req));
      const addr = req[5]!;
      const cmd = req[6]!;
      if (addr !== 1) continue;
      let reply: Buffer;
      if (cmd === 0x83) reply = frame(1, 0x83, [this.locks & 0xff, this.locks >> 8, this.doors & 0xff, this.doors >> 8]);
      else if (cmd === 0x82) {
        const n = req[7]!;
        this.locks &= ~(1 << (n - 1));
        reply = frame(1, 0x82, [n, 1]);
      } else continue;
      const step = this.plan.shift();
      if (step === 'silent') continue;
      if (step === 'badChecksum') reply[reply.length - 1]! ^= 0x20;
      if (step === 'garbageFirst') reply = Buffer.concat([Buffer.from([0x00, 0x57, 0x4b, 0xee]), reply]);
      if (step === 'pushFirst') reply = Buffer.concat([frame(1, 0x85, [3, 1]), reply]);
      if (step === 'otherBoardFirst') reply = Buffer.concat([frame(2, cmd, [9, 9, 9, 9]), reply]);
      setTimeout(() => this.port?.write(reply), 2);
    }
  }
}

const dir = mkdtempSync(join(tmpdir(), 'sw-transport-raw-'));
const gwPath = join(dir, 'gw');
const boardPath = join(dir, 'board');
let socat: ChildProcess | undefined;

async function startSocat(): Promise<void> {
  socat = spawn('socat', [`pty,raw,echo=0,link=${gwPath}`, `pty,raw,echo=0,link=${boardPath}`], { stdio: 'ignore' });
  await waitFor(() => existsSync(gwPath) && existsSync(boardPath), 5000, 'socat links');
}

async function killSocat(): Promise<void> {
  const child = socat;
  socat = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    process.kill(child.pid!, 'SIGTERM');
  });
  await waitFor(() => !existsSync(gwPath), 5000, 'socat links gone');
}

describe('raw-frame transport (lock board) over a pty pair', () => {
  let board: Board;
  let transport: RawFrameTransport;
  const pushes: RawFrame[] = [];
  const states: TransportState[] = [];

  beforeAll(async () => {
    await startSocat();
    board = new Board(boardPath);
    await board.open();
    const bus = busSchema.parse({ type: 'raw-serial', id: 'locks', path: gwPath, baudRate: 9600, timeout: 150, reconnect: 100 });
    transport = createRawFrameTransport(bus, lockBoard, silentLogger());
    transport.on('push', (f) => pushes.push(f));
    transport.on('state', (s) => states.push(s));
    await transport.open();
  });

  afterAll(async () => {
    await transport?.close();
    await board?.close();
    await killSocat();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends a request frame and returns the matching reply', async () => {
    const reply = await transport.request(1, 0x83, [], 0x83);
    expect(reply.address).toBe(1);
    expect(reply.command).toBe(0x83);
    expect([...reply.data]).toEqual([0xff, 0xff, 0x00, 0x00]);
    expect(board.received.at(-1)).toEqual(frame(1, 0x83, []));
    const opened = await transport.request(1, 0x82, [3], 0x82);
    expect([...opened.data]).toEqual([3, 1]);
    expect([...(await transport.request(1, 0x83, [], 0x83)).data]).toEqual([0xfb, 0xff, 0x00, 0x00]);
  });

  it('emits an unsolicited frame as a push', async () => {
    const n = pushes.length;
    board.send(frame(1, 0x85, [2, 1]));
    await waitFor(() => pushes.length > n, 2000, 'push');
    expect(pushes.at(-1)!.command).toBe(0x85);
    expect([...pushes.at(-1)!.data]).toEqual([2, 1]);
  });

  it('emits a push that arrives just before the reply, and still matches the reply', async () => {
    const n = pushes.length;
    board.plan.push('pushFirst');
    const reply = await transport.request(1, 0x83, [], 0x83);
    expect(reply.command).toBe(0x83);
    expect(pushes.length).toBe(n + 1);
    expect(pushes.at(-1)!.command).toBe(0x85);
  });

  it('does not take a frame from another address for the reply', async () => {
    const n = pushes.length;
    board.plan.push('otherBoardFirst');
    const reply = await transport.request(1, 0x83, [], 0x83);
    expect(reply.address).toBe(1);
    expect(pushes.at(-1)!.address).toBe(2);
    expect(pushes.length).toBe(n + 1);
  });

  it('skips garbage before the reply', async () => {
    const before = transport.stats().frameErrors;
    board.plan.push('garbageFirst');
    expect((await transport.request(1, 0x83, [], 0x83)).command).toBe(0x83);
    expect(transport.stats().frameErrors).toBe(before + 1);
  });

  it('counts a reply with a bad checksum, times out, and the next request works', async () => {
    const before = transport.stats();
    board.plan.push('badChecksum');
    await expectCode(transport.request(1, 0x83, [], 0x83), ErrorCodes.TRANSPORT_TIMEOUT);
    const after = transport.stats();
    expect(after.crcErrors).toBe(before.crcErrors + 1);
    expect(after.timeouts).toBe(before.timeouts + 1);
    expect((await transport.request(1, 0x83, [], 0x83)).command).toBe(0x83);
  });

  it('keeps one request in flight when several are issued at once', async () => {
    const n = board.received.length;
    const replies = await Promise.all([transport.request(1, 0x83, [], 0x83), transport.request(1, 0x82, [5], 0x82), transport.request(1, 0x83, [], 0x83)]);
    expect(replies.map((r) => r.command)).toEqual([0x83, 0x82, 0x83]);
    expect(board.received.slice(n).map((f) => f[6])).toEqual([0x83, 0x82, 0x83]);
    // Lock 5 opened between the two status reads.
    expect(replies[0]!.data[0]! & 0x10).toBe(0x10);
    expect(replies[2]!.data[0]! & 0x10).toBe(0);
  });

  it('rejects bad arguments without sending', async () => {
    const n = board.received.length;
    await expectCode(transport.request(1, 0x83, [256], 0x83), ErrorCodes.PAYLOAD_INVALID);
    expect(board.received.length).toBe(n);
  });

  it('reopens after the port disappears', async () => {
    states.length = 0;
    board.plan.push('silent');
    const pending = transport.request(1, 0x83, [], 0x83, { timeoutMs: 5000 });
    pending.catch(() => undefined);
    await sleep(20);
    await killSocat();
    await expectCode(pending, ErrorCodes.TRANSPORT_CLOSED);
    await board.close();
    await sleep(250);
    await startSocat();
    await board.open();
    await waitFor(() => transport.state === 'open', 5000, 'reopened');
    expect((await transport.request(1, 0x83, [], 0x83)).command).toBe(0x83);
    expect(states).toEqual(['closed', 'open']);
    expect(transport.stats().reopens).toBe(1);
  });
});
