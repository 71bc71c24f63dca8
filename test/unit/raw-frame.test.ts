import { describe, expect, it } from 'vitest';
import type { FramingDef } from '../../gateway/src/profiles/schema.js';
import { computeChecksum, encodeFrame, FrameParser, framingProblem } from '../../gateway/src/protocol/raw-frame.js';
import { crc16Modbus } from '../../gateway/src/protocol/crc16.js';

/** The lock board: 57 4B 4C 59 | len | addr | cmd | data | XOR, len counting the whole frame. */
const lockBoard: FramingDef = {
  header: [0x57, 0x4b, 0x4c, 0x59],
  length: { offset: 4, counts: 'frame' },
  addressOffset: 5,
  commandOffset: 6,
  dataOffset: 7,
  checksum: { type: 'xor', from: 0 },
};

/** Hand-built lock-board frame, checksum computed here independently of the module. */
function handFrame(addr: number, cmd: number, data: number[]): Buffer {
  const body = [0x57, 0x4b, 0x4c, 0x59, 8 + data.length, addr, cmd, ...data];
  return Buffer.from([...body, body.reduce((x, b) => x ^ b, 0)]);
}

describe('encodeFrame', () => {
  it('builds the lock-board frame byte for byte', () => {
    // Open lock 3 on board 1: 57 4B 4C 59 09 01 82 03 XOR
    const f = encodeFrame(lockBoard, 1, 0x82, [3]);
    expect(f.toString('hex')).toBe('574b4c590901820' + '3' + (0x57 ^ 0x4b ^ 0x4c ^ 0x59 ^ 0x09 ^ 0x01 ^ 0x82 ^ 0x03).toString(16).padStart(2, '0'));
    expect(f).toEqual(handFrame(1, 0x82, [3]));
  });

  it('counts data bytes when the length byte says so, with sum8 from an offset', () => {
    const def: FramingDef = { header: [0xaa], length: { offset: 1, counts: 'data' }, addressOffset: 2, commandOffset: 3, dataOffset: 4, checksum: { type: 'sum8', from: 1 } };
    const f = encodeFrame(def, 0x10, 0x20, [0xf0, 0x20]);
    // aa 02 10 20 f0 20 | sum of 02 10 20 f0 20 = 0x142 -> 0x42
    expect(f.toString('hex')).toBe('aa02102' + '0f02042');
  });

  it('appends a CRC-16/MODBUS low byte first', () => {
    const def: FramingDef = { header: [0x7e, 0x7e], length: { offset: 2, counts: 'frame' }, addressOffset: 3, commandOffset: 4, dataOffset: 5, checksum: { type: 'crc16-modbus', from: 2 } };
    const f = encodeFrame(def, 5, 6, [7]);
    expect(f.length).toBe(8);
    const crc = crc16Modbus(f, 2, 6);
    expect(f[6]).toBe(crc & 0xff);
    expect(f[7]).toBe(crc >>> 8);
  });

  it('rejects bytes that are not bytes', () => {
    expect(() => encodeFrame(lockBoard, 256, 1, [])).toThrow(/address/);
    expect(() => encodeFrame(lockBoard, 1, 1, [300])).toThrow(/data\[0\]/);
  });

  it('checksums match known values', () => {
    expect(computeChecksum('xor', Buffer.from([1, 2, 4]), 0, 3)).toBe(7);
    expect(computeChecksum('sum8', Buffer.from([0xff, 0x02]), 0, 2)).toBe(1);
    // CRC-16/MODBUS check value of "123456789" is 0x4B37.
    expect(computeChecksum('crc16-modbus', Buffer.from('123456789'), 0, 9)).toBe(0x4b37);
  });
});

describe('framingProblem', () => {
  it('accepts the lock board and names overlapping offsets', () => {
    expect(framingProblem(lockBoard)).toBeUndefined();
    expect(framingProblem({ ...lockBoard, addressOffset: 2 })).toMatch(/addressOffset 2 lies inside/);
    expect(framingProblem({ ...lockBoard, commandOffset: 5 })).toMatch(/must differ/);
    expect(framingProblem({ ...lockBoard, commandOffset: 9 })).toMatch(/before dataOffset/);
  });
});

describe('FrameParser', () => {
  it('yields a frame pushed whole', () => {
    const p = new FrameParser(lockBoard);
    const frames = p.push(handFrame(2, 0x83, [0x0f, 0x01]));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.address).toBe(2);
    expect(frames[0]!.command).toBe(0x83);
    expect([...frames[0]!.data]).toEqual([0x0f, 0x01]);
    expect(frames[0]!.raw).toEqual(handFrame(2, 0x83, [0x0f, 0x01]));
    expect(p.pending).toBe(0);
  });

  it('skips garbage before a frame, including a false start of the header', () => {
    const p = new FrameParser(lockBoard);
    const garbage = Buffer.from([0x00, 0xff, 0x57, 0x4b, 0x13, 0x57]);
    const frames = p.push(Buffer.concat([garbage, handFrame(1, 0x85, [4])]));
    expect(frames.map((f) => f.command)).toEqual([0x85]);
    expect(p.stats.skippedBytes).toBe(garbage.length);
  });

  it('reassembles a frame split into single bytes, including a split header', () => {
    const p = new FrameParser(lockBoard);
    const bytes = Buffer.concat([Buffer.from([0x11]), handFrame(3, 0x83, [1, 2, 3])]);
    const got = [];
    for (const b of bytes) got.push(...p.push(Buffer.from([b])));
    expect(got).toHaveLength(1);
    expect([...got[0]!.data]).toEqual([1, 2, 3]);
    expect(p.stats.skippedBytes).toBe(1);
  });

  it('yields several frames from one chunk', () => {
    const p = new FrameParser(lockBoard);
    const frames = p.push(Buffer.concat([handFrame(1, 0x83, [0]), handFrame(1, 0x85, [1]), handFrame(2, 0x85, [])]));
    expect(frames.map((f) => [f.address, f.command])).toEqual([[1, 0x83], [1, 0x85], [2, 0x85]]);
  });

  it('drops a frame with a bad checksum, counts it, and finds the good frame after it', () => {
    const p = new FrameParser(lockBoard);
    const bad = handFrame(1, 0x83, [9]);
    bad[bad.length - 1]! ^= 0xff;
    const frames = p.push(Buffer.concat([bad, handFrame(1, 0x83, [7])]));
    expect(frames).toHaveLength(1);
    expect([...frames[0]!.data]).toEqual([7]);
    expect(p.stats.badChecksums).toBe(1);
  });

  it('finds a real frame that starts inside a corrupt one', () => {
    const p = new FrameParser(lockBoard);
    // A header with a length byte promising more than comes, followed at once by a real frame.
    const truncated = Buffer.from([0x57, 0x4b, 0x4c, 0x59, 0x0c, 0x01]);
    const frames = p.push(Buffer.concat([truncated, handFrame(1, 0x85, [2])]));
    // The false frame swallows part of the real one; the checksum fails, resync finds the real one.
    expect(frames.map((f) => f.command)).toEqual([0x85]);
    expect(p.stats.badChecksums).toBe(1);
  });

  it('counts an impossible length and resynchronises', () => {
    const p = new FrameParser(lockBoard);
    const frames = p.push(Buffer.concat([Buffer.from([0x57, 0x4b, 0x4c, 0x59, 0x02]), handFrame(4, 0x83, [])]));
    expect(frames.map((f) => f.address)).toEqual([4]);
    expect(p.stats.badLengths).toBe(1);
  });

  it('flush() gives up on a stalled partial frame and returns frames buffered behind it', () => {
    const p = new FrameParser(lockBoard);
    // A false header announcing 40 bytes, then a real frame that is complete but shorter.
    const frames = p.push(Buffer.concat([Buffer.from([0x57, 0x4b, 0x4c, 0x59, 40]), handFrame(1, 0x85, [1])]));
    expect(frames).toEqual([]);
    expect(p.pending).toBeGreaterThan(0);
    const flushed = p.flush();
    expect(flushed.map((f) => f.command)).toEqual([0x85]);
    expect(p.pending).toBe(0);
    expect(p.stats.stalled).toBe(1);
  });

  it('parses what encodeFrame builds for a data-counting CRC framing', () => {
    const def: FramingDef = { header: [0x7e], length: { offset: 3, counts: 'data' }, addressOffset: 1, commandOffset: 2, dataOffset: 4, checksum: { type: 'crc16-modbus', from: 1 } };
    const p = new FrameParser(def);
    const a = encodeFrame(def, 9, 0x31, [0x7e, 0x7e, 0x00]);
    const b = encodeFrame(def, 9, 0x32, []);
    const got = [...p.push(a.subarray(0, 3)), ...p.push(Buffer.concat([a.subarray(3), b]))];
    expect(got.map((f) => [f.command, [...f.data]])).toEqual([[0x31, [0x7e, 0x7e, 0x00]], [0x32, []]]);
  });
});
