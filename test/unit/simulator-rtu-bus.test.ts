/**
 * The RTU slave bus's decisions with synthetic arrival times and a recording scheduler: which
 * frames are answered, when the reply is due, which are dropped (bad CRC, silence rule, other
 * units, dead slaves) and what is counted.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../gateway/src/log.js';
import { profileSchema } from '../../gateway/src/profiles/schema.js';
import { appendCrc, hasValidCrc } from '../../gateway/src/protocol/crc16.js';
import { monoNow } from '../../simulator/src/clock.js';
import { SimDevice } from '../../simulator/src/device-model.js';
import { Rng } from '../../simulator/src/rng.js';
import { RtuSlaveBus } from '../../simulator/src/rtu-bus.js';
import { replyDueAt } from '../../simulator/src/rtu-timing.js';

const profile = profileSchema.parse({
  id: 'mini',
  name: { zh: '小', en: 'mini' },
  kind: 'alarm-pole',
  transport: ['modbus-rtu'],
  points: [
    { id: 'button', table: 'discrete', address: 0, type: 'bool' },
    { id: 'help_light', table: 'coil', address: 2, type: 'bool' },
    { id: 'voice', table: 'holding', address: 0, type: 'u16' },
  ],
});

function setup(baud = 9600) {
  const devices = [1, 2].map(
    (unitId) =>
      new SimDevice(
        { id: `pole-${unitId}`, name: undefined, profile: 'mini', busId: 'b', unitId, location: {}, tenants: [], initial: {}, sourcePath: [] },
        profile,
      ),
  );
  const scheduled: Array<{ at: number; fn: () => void }> = [];
  const bus = new RtuSlaveBus({
    id: 'b',
    type: 'rtu',
    baud,
    devices,
    scheduler: { at: (at, fn) => scheduled.push({ at, fn }) },
    faultRng: new Rng(1),
    log: silentLogger(),
  });
  const written: Buffer[] = [];
  const sink = (f: Buffer) => (written.push(f), true);
  // Synthetic times in the future of the real clock, so the "written now" time of a reply
  // (taken from the real clock) never moves the line's quiet time past them.
  const t0 = monoNow() + 60_000;
  const flush = () => {
    for (const s of scheduled.splice(0)) s.fn();
  };
  return { bus, devices, scheduled, written, sink, t0, flush };
}

const req = (unit: number, ...pdu: number[]) => appendCrc(Buffer.from([unit, ...pdu]));

describe('RtuSlaveBus', () => {
  it('answers its unit with a reply due at arrival + wire(request) + t3.5 + wire(reply)', () => {
    const { bus, scheduled, written, sink, t0, flush, devices } = setup();
    devices[0]!.set('button', true);
    bus.receive(req(1, 0x02, 0, 0, 0, 1), t0, sink);
    expect(scheduled).toHaveLength(1);
    expect(scheduled[0]!.at).toBeCloseTo(replyDueAt(t0, 8, 6, 9600), 9);
    flush();
    expect(written).toHaveLength(1);
    expect([...written[0]!.subarray(0, 4)]).toEqual([1, 0x02, 1, 1]);
    expect(hasValidCrc(written[0]!)).toBe(true);
    expect(bus.stats()).toMatchObject({ frames: 1, requests: 1, replies: 1, perUnit: { '1': { requests: 1, replies: 1 } } });
  });

  it('assembles a request split over chunks and times it from its first byte', () => {
    const { bus, scheduled, sink, t0 } = setup();
    const f = req(2, 0x03, 0, 0, 0, 1);
    bus.receive(f.subarray(0, 3), t0, sink);
    expect(scheduled).toHaveLength(0);
    bus.receive(f.subarray(3), t0 + 2, sink);
    expect(scheduled).toHaveLength(1);
    expect(scheduled[0]!.at).toBeCloseTo(replyDueAt(t0, 8, 7, 9600), 9);
  });

  it('stays silent on a bad CRC and counts it', () => {
    const { bus, scheduled, sink, t0 } = setup();
    const f = req(1, 0x02, 0, 0, 0, 1);
    f[3]! ^= 0x10;
    bus.receive(f, t0, sink);
    expect(scheduled).toHaveLength(0);
    expect(bus.stats()).toMatchObject({ crcDropped: 1, requests: 0 });
  });

  it('discards a request that starts less than t3.5 after the previous frame ended', () => {
    const { bus, scheduled, sink, t0, flush } = setup();
    bus.receive(req(1, 0x02, 0, 0, 0, 1), t0, sink);
    const due = scheduled[0]!.at;
    flush();
    // 4.0 ms after the reply's last byte: t3.5 at 9600 is 4.01 ms.
    bus.receive(req(2, 0x02, 0, 0, 0, 1), due + 4.0, sink);
    expect(scheduled).toHaveLength(0);
    expect(bus.stats().silenceViolations).toBe(1);
    // The discarded frame occupied the line too: the next request must wait for its end + t3.5.
    const discardedEnd = due + 4.0 + 8 * (11 / 9.6);
    bus.receive(req(2, 0x02, 0, 0, 0, 1), discardedEnd + 4.02, sink);
    expect(scheduled).toHaveLength(1);
    expect(bus.stats().silenceViolations).toBe(1);
  });

  it('treats two requests in one burst as a silence violation for the second', () => {
    const { bus, scheduled, sink, t0 } = setup();
    bus.receive(Buffer.concat([req(1, 0x02, 0, 0, 0, 1), req(2, 0x02, 0, 0, 0, 1)]), t0, sink);
    expect(scheduled).toHaveLength(1);
    expect(bus.stats()).toMatchObject({ frames: 2, silenceViolations: 1 });
  });

  it('executes broadcasts on every slave without a reply, ignores other units and dead slaves', () => {
    const { bus, scheduled, sink, t0, devices } = setup();
    bus.receive(req(0, 0x05, 0, 2, 0xff, 0), t0, sink);
    expect(devices.map((d) => d.get('help_light'))).toEqual([true, true]);
    bus.receive(req(9, 0x02, 0, 0, 0, 1), t0 + 100, sink);
    devices[1]!.faults.dead = true;
    bus.receive(req(2, 0x02, 0, 0, 0, 1), t0 + 200, sink);
    expect(scheduled).toHaveLength(0);
    expect(bus.stats()).toMatchObject({ broadcasts: 1, otherUnits: 1, perUnit: { '2': { requests: 1, ignored: 1 } } });
  });

  it('adds a slow slave\'s delay and corrupts replies when told to', () => {
    const { bus, scheduled, written, sink, t0, flush, devices } = setup();
    devices[0]!.faults.slowMs = 25;
    bus.faults.crcReplyRate = 1;
    bus.receive(req(1, 0x02, 0, 0, 0, 1), t0, sink);
    expect(scheduled[0]!.at).toBeCloseTo(replyDueAt(t0, 8, 6, 9600) + 25, 9);
    flush();
    expect(hasValidCrc(written[0]!)).toBe(false);
    expect(bus.stats().injectedReplyCorruptions).toBe(1);
  });

  it('drops a truncated frame once the line has been quiet for t3.5', async () => {
    const { bus, scheduled, sink, t0 } = setup(115200);
    bus.receive(req(1, 0x02, 0, 0, 0, 1).subarray(0, 5), t0, sink);
    await new Promise((r) => setTimeout(r, 20));
    expect(bus.stats().crcDropped).toBe(1);
    // The next complete frame is read from its own start.
    bus.receive(req(1, 0x02, 0, 0, 0, 1), t0 + 50, sink);
    expect(scheduled).toHaveLength(1);
  });
});
