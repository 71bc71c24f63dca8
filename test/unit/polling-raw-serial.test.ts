import { describe, expect, it } from 'vitest';
import { deviceSchema, pollingSchema } from '../../gateway/src/config/schema.js';
import type { DeviceStatus } from '../../gateway/src/core/types.js';
import { RawSerialPoller } from '../../gateway/src/polling/raw-serial-poller.js';
import type { PolledDevice, ValuesBatch } from '../../gateway/src/polling/types.js';
import { profileSchema, type ProfileInput } from '../../gateway/src/profiles/schema.js';
import { FakeRawFrameTransport, ManualClock, settle } from './polling-fakes.js';

const bits16 = (prefix: string) => Object.fromEntries(Array.from({ length: 16 }, (_, i) => [String(i), `${prefix}${i + 1}`]));

function lockBoard(statusPoll: 'alarm' | 'fast' = 'fast') {
  const input: ProfileInput = {
    id: 'wkly-lock-board',
    name: { zh: '锁控板', en: 'Lock board' },
    kind: 'lock-board',
    transport: ['raw-serial'],
    points: [
      { id: 'locks', type: 'bitfield', frame: 'status', offset: 0, length: 2, bits: bits16('lock') },
      { id: 'doors', type: 'bitfield', frame: 'status', offset: 2, length: 2, bits: bits16('door') },
      { id: 'firmware', type: 'u16', frame: 'info', offset: 0 },
      { id: 'changed_doors', type: 'bitfield', frame: 'door_changed', offset: 0, length: 2, bits: bits16('door') },
    ],
    commands: [{ id: 'open_lock', name: { zh: '开锁', en: 'Open lock' }, frame: 'open_lock', roles: ['manager'] }],
    serial: {
      framing: {
        header: [0x57, 0x4b, 0x4c, 0x59],
        length: { offset: 4, counts: 'frame' },
        addressOffset: 5,
        commandOffset: 6,
        dataOffset: 7,
        checksum: { type: 'xor' },
      },
      requests: [
        { id: 'status', command: 0x83, poll: statusPoll },
        { id: 'info', command: 0x90, poll: 'slow' },
      ],
      pushes: [{ id: 'door_changed', command: 0x85 }],
      commands: [{ id: 'open_lock', command: 0x82, data: ['arg'] }],
    },
  };
  return profileSchema.parse(input);
}

function board(id: string, address: number, statusPoll: 'alarm' | 'fast' = 'fast'): PolledDevice {
  const profile = lockBoard(statusPoll);
  return { config: deviceSchema.parse({ id, profile: profile.id, bus: 'locks', unitId: address }), profile };
}

function harness(devices: PolledDevice[]) {
  const clock = new ManualClock();
  const transport = new FakeRawFrameTransport(clock);
  const values: ValuesBatch[] = [];
  const statuses: DeviceStatus[] = [];
  const poller = new RawSerialPoller({
    bus: 'locks',
    transport,
    polling: pollingSchema.parse({}),
    devices,
    clock,
    onValues: (v) => values.push(v),
    onStatus: (s) => statuses.push(s),
  });
  return { clock, transport, values, statuses, poller };
}

describe('raw-serial poller', () => {
  it('polls requests by their poll class and decodes frame points from the replies', async () => {
    const { clock, transport, values, statuses, poller } = harness([board('lb1', 1), board('lb2', 2)]);
    transport.board(1).replies.set(0x83, [0b0000_0101, 0b1000_0000, 0b0000_0001, 0x00]);
    transport.board(1).replies.set(0x90, [0x01, 0x02]);
    transport.board(2).replies.set(0x83, [0, 0, 0, 0]);
    poller.start();
    await clock.advance(9_999);
    await settle(clock, poller.stop());
    const statusReqs = (addr: number) => transport.log.filter((f) => f.address === addr && f.command === 0x83);
    expect(statusReqs(1)).toHaveLength(10); // fast: every second
    expect(statusReqs(2)).toHaveLength(10);
    expect(transport.log.filter((f) => f.command === 0x90)).toHaveLength(2); // slow: once
    const first = values.find((v) => v.device === 'lb1' && 'locks' in v.values)!;
    expect(first.pollClass).toBe('fast');
    const locks = first.values.locks as Record<string, boolean>;
    expect(Object.entries(locks).filter(([, on]) => on).map(([k]) => k)).toEqual(['lock1', 'lock3', 'lock16']);
    expect((first.values.doors as Record<string, boolean>).door1).toBe(true);
    expect(values.find((v) => v.device === 'lb1' && 'firmware' in v.values)!.values.firmware).toBe(0x0102);
    expect(statuses.map((s) => [s.device, s.availability])).toEqual([
      ['lb1', 'online'],
      ['lb2', 'online'],
    ]);
  });

  it('decodes unsolicited pushes, which also prove the board is alive', async () => {
    const { clock, transport, values, statuses, poller } = harness([board('lb1', 1)]);
    transport.board(1).dead = true;
    poller.start();
    await clock.advance(1);
    transport.push(1, 0x85, [0b0000_0010, 0]);
    transport.push(9, 0x85, [1, 0]); // unknown address: ignored
    transport.push(1, 0x99, [1, 0]); // unknown command: ignored
    const pushed = values.filter((v) => v.pollClass === 'push');
    expect(pushed).toHaveLength(1);
    expect(pushed[0]!.device).toBe('lb1');
    expect((pushed[0]!.values.changed_doors as Record<string, boolean>).door2).toBe(true);
    expect(statuses).toEqual([expect.objectContaining({ device: 'lb1', availability: 'online' })]);
    expect(poller.stats().pushes).toBe(1);
    // A status reply pushed unasked is decoded as the status frame.
    transport.push(1, 0x83, [0xff, 0xff, 0, 0]);
    expect(values[values.length - 1]!.values.locks).toMatchObject({ lock1: true, lock16: true });
    await settle(clock, poller.stop());
  });

  it('shares the breaker: a dead board goes offline and is probed once per window while its neighbour keeps its rate', async () => {
    const { clock, transport, statuses, poller } = harness([board('lb1', 1), board('lb2', 2)]);
    transport.board(2).dead = true;
    poller.start();
    await clock.advance(60_000);
    transport.board(2).dead = false;
    await clock.advance(40_000);
    await settle(clock, poller.stop());
    const b2 = transport.log.filter((f) => f.address === 2);
    const timeouts = b2.filter((f) => f.outcome === 'timeout');
    // 3 to trip, then one probe per window (5, 10, 20 s, doubling), each at the board's first due read
    // (status polls every 1 s) after its window; the board is back at 60 s, so the 4th probe succeeds.
    expect(timeouts).toHaveLength(6);
    let prevEnd = timeouts[2]!.start + 300;
    let windowMs = 5000;
    for (const probe of timeouts.slice(3)) {
      expect(probe.start - prevEnd).toBeGreaterThanOrEqual(windowMs);
      expect(probe.start - prevEnd).toBeLessThanOrEqual(windowMs + 1000);
      prevEnd = probe.start + 300;
      windowMs *= 2;
    }
    const offline = statuses.find((s) => s.device === 'lb2' && s.availability === 'offline')!;
    expect(offline).toMatchObject({ reason: 'timeout', consecutiveFailures: 3, since: timeouts[2]!.start + 300 });
    const online = statuses.filter((s) => s.device === 'lb2' && s.availability === 'online');
    expect(online).toHaveLength(1);
    const goodProbe = b2.find((f) => f.outcome === 'ok')!;
    expect(goodProbe.start - prevEnd).toBeGreaterThanOrEqual(40_000);
    expect(goodProbe.start - prevEnd).toBeLessThanOrEqual(41_000);
    expect(online[0]!.since - goodProbe.start).toBeLessThan(100);
    // The neighbour: one status read per second, at 0, 1, ..., 100 s — none lost to the dead board.
    expect(transport.log.filter((f) => f.address === 1 && f.command === 0x83)).toHaveLength(101);
    expect(poller.stats().devices.lb2!.breakerTrips).toBe(1);
  });

  it('sweeps alarm-class requests back to back', async () => {
    const { clock, transport, poller } = harness([board('lb1', 1, 'alarm'), board('lb2', 2, 'alarm')]);
    poller.start();
    await clock.advance(5_000);
    await settle(clock, poller.stop());
    const status = transport.log.filter((f) => f.command === 0x83);
    // Each status exchange (8 + 12 bytes at 9600 baud + silences + 5 ms) takes ~35 ms.
    expect(status.length).toBeGreaterThan(130);
    status.forEach((f, k) => expect(f.address).toBe((k % 2) + 1));
  });

  it('sends command frames in the next slot with the argument filled in', async () => {
    const { clock, transport, poller } = harness([board('lb1', 1)]);
    transport.board(1).replies.set(0x82, [0x05, 0x01]);
    poller.start();
    await clock.advance(50);
    const reply = settle(clock, poller.sendFrame('lb1', 'open_lock', 5), 1);
    const frame = await reply;
    expect(frame.command).toBe(0x82);
    expect([...frame.data]).toEqual([5, 1]);
    expect(transport.log.find((f) => f.command === 0x82)).toMatchObject({ address: 1, data: [5] });
    await expect(poller.sendFrame('lb1', 'open_lock')).rejects.toMatchObject({ code: 'SW_ERR_PAYLOAD_INVALID' });
    await expect(poller.sendFrame('lb1', 'nope', 1)).rejects.toMatchObject({ code: 'SW_ERR_COMMAND_UNKNOWN' });
    await expect(poller.sendFrame('zz', 'open_lock', 1)).rejects.toMatchObject({ code: 'SW_ERR_DEVICE_UNKNOWN' });
    await settle(clock, poller.stop());
  });

  it('reports points beyond a short reply as bad', async () => {
    const { clock, transport, values, poller } = harness([board('lb1', 1)]);
    transport.board(1).replies.set(0x83, [0xff, 0xff]); // locks only, no door bytes
    poller.start();
    await clock.advance(500);
    await settle(clock, poller.stop());
    const v = values.find((x) => x.pollClass === 'fast')!;
    expect(Object.keys(v.values)).toEqual(['locks']);
    expect(v.bad).toEqual({ doors: 'frame too short: 2 data bytes' });
  });
});
