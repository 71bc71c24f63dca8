/**
 * The raw-serial lock board (`wkly-lock-board`) on its own socat pty pair: status requests,
 * the open_lock command, and the door_changed frames it pushes by itself. Frames are built and
 * parsed with the gateway's raw-frame codec from the profile's framing; the simulator runs as a
 * child process.
 */
import { constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tty from 'node:tty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import { encodeFrame, FrameParser, type ParsedFrame } from '../../gateway/src/protocol/raw-frame.js';
import { SimControlClient } from '../../simulator/src/control-client.js';
import type { SimEndpoints } from '../../simulator/src/index.js';
import { jsonLine, repoRoot, sleep, startTsProcess, stopAll, type Started } from '../helpers/processes.js';

const profilesDir = join(repoRoot, 'device-profiles');
const board = ProfileRegistry.load([profilesDir]).get('wkly-lock-board');
const serial = board.serial!;
const status = serial.requests.find((r) => r.id === 'status')!;
const openLock = serial.commands.find((c) => c.id === 'open_lock')!;
const doorChanged = serial.pushes.find((p) => p.id === 'door_changed')!;

const village = `
site: { id: boardtest }
profiles: [${JSON.stringify(profilesDir)}]
behaviour: { enabled: false, doorOpenSeconds: [1, 1] }
buses:
  - id: boards
    kind: raw-serial
    baud: 9600
    devices:
      - { id: lockers, profile: wkly-lock-board, unitId: 3 }
`;

let dir: string;
let sim: Started<SimEndpoints>;
let control: SimControlClient;
let reader: tty.ReadStream;
let writer: tty.WriteStream;
const frames: Array<ParsedFrame & { at: number }> = [];

const statusData = (f: ParsedFrame) => ({ locks: f.data.readUInt16LE(0), doors: f.data.readUInt16LE(2) });

async function nextFrame(match: (f: ParsedFrame) => boolean, timeoutMs = 2000): Promise<ParsedFrame> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const i = frames.findIndex(match);
    if (i >= 0) return frames.splice(i, 1)[0]!;
    if (Date.now() > end) throw new Error(`no matching frame within ${timeoutMs} ms (have: ${frames.map((f) => f.raw.toString('hex')).join(' ')})`);
    await sleep(5);
  }
}

async function requestStatus(): Promise<ParsedFrame> {
  writer.write(encodeFrame(serial.framing, 3, status.command, status.data.map((b) => (b === 'arg' ? 0 : b))));
  return nextFrame((f) => f.command === (status.reply ?? status.command));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-simboard-'));
  writeFileSync(join(dir, 'v.yaml'), village);
  sim = await startTsProcess('simulator/src/main.ts', ['--village', join(dir, 'v.yaml'), '--log-level', 'warn'], (line) => {
    const j = jsonLine(line);
    return j?.ready === true ? (j.endpoints as SimEndpoints) : undefined;
  });
  control = new SimControlClient(sim.ready.control);
  const ep = sim.ready.buses.find((b) => b.id === 'boards');
  if (ep?.type !== 'raw-serial') throw new Error('expected a raw-serial endpoint');
  const flags = constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK;
  reader = new tty.ReadStream(openSync(ep.path, flags));
  reader.setRawMode(true);
  writer = new tty.WriteStream(openSync(ep.path, flags));
  const parser = new FrameParser(serial.framing);
  reader.on('data', (d: Buffer) => {
    const at = Date.now();
    for (const f of parser.push(d)) frames.push({ ...f, at });
  });
});

afterAll(async () => {
  reader?.destroy();
  writer?.destroy();
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('simulated raw-serial lock board', () => {
  it('answers a status request with the lock and door bitmaps', async () => {
    const r = await requestStatus();
    expect(r.address).toBe(3);
    expect(r.data.length).toBe(4);
    expect(statusData(r)).toEqual({ locks: 0, doors: 0 });
    // A frame for another board address gets nothing.
    writer.write(encodeFrame(serial.framing, 9, status.command, [0]));
    await sleep(150);
    expect(frames).toHaveLength(0);
  });

  it('pushes door_changed on its own when a door opens and closes', async () => {
    await control.door('lockers', 3, true);
    const opened = await nextFrame((f) => f.command === doorChanged.command);
    expect([...opened.data]).toEqual([3, 1]);
    expect(statusData(await requestStatus()).doors).toBe(1 << 2);
    await control.door('lockers', 3, false);
    const closed = await nextFrame((f) => f.command === doorChanged.command);
    expect([...closed.data]).toEqual([3, 0]);
  });

  it('executes open_lock: acknowledges, releases the lock, the door opens and closes with pushes', async () => {
    const since = Date.now() - 1;
    writer.write(encodeFrame(serial.framing, 3, openLock.command, [5]));
    const ack = await nextFrame((f) => f.command === (openLock.reply ?? openLock.command));
    expect([...ack.data]).toEqual([5, 0]);
    const writes = await control.writes('lockers', { since });
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatchObject({ table: 'frame', command: 'open_lock', values: [5] });
    expect(statusData(await requestStatus()).locks).toBe(1 << 4);

    const opened = await nextFrame((f) => f.command === doorChanged.command, 3000);
    expect([...opened.data]).toEqual([5, 1]);
    const closed = await nextFrame((f) => f.command === doorChanged.command, 4000);
    expect([...closed.data]).toEqual([5, 0]);
    expect(statusData(await requestStatus())).toEqual({ locks: 0, doors: 0 });

    // A channel the board does not have is refused.
    writer.write(encodeFrame(serial.framing, 3, openLock.command, [40]));
    const nak = await nextFrame((f) => f.command === (openLock.reply ?? openLock.command));
    expect([...nak.data]).toEqual([40, 1]);
    const stats = (await control.stats()).buses[0]!;
    expect(stats).toMatchObject({ type: 'raw-serial', commands: 2 });
    expect((stats as { pushes: number }).pushes).toBeGreaterThanOrEqual(4);
  });
});
