import { describe, expect, it } from 'vitest';
import { Dc09StreamSplitter, MAX_FRAME_BYTES, parseFrame } from '../../gateway/src/alarms/dc09/index.js';
import { handFrame, PUBLIC_VECTOR } from './dc09-hand-frames.js';

const A = Buffer.from(PUBLIC_VECTOR, 'latin1');
const B = handFrame('"NULL"0002L0#1234[]');

describe('Dc09StreamSplitter', () => {
  it('returns each frame of a chunk holding several', () => {
    const s = new Dc09StreamSplitter();
    const out = s.push(Buffer.concat([A, B, A]));
    expect(out.map((f) => f.toString('latin1'))).toEqual([A, B, A].map((f) => f.toString('latin1')));
    expect(s.droppedBytes).toBe(0);
    expect(s.pendingBytes).toBe(0);
  });

  it('reassembles frames fed one byte at a time', () => {
    const s = new Dc09StreamSplitter();
    const all = Buffer.concat([A, B]);
    const out: Buffer[] = [];
    for (const byte of all) out.push(...s.push(Buffer.from([byte])));
    expect(out.map((f) => f.toString('latin1'))).toEqual([A, B].map((f) => f.toString('latin1')));
  });

  it('drops garbage before, between and after frames and counts it', () => {
    const s = new Dc09StreamSplitter();
    const out = s.push(Buffer.concat([Buffer.from('junk\r\r'), A, Buffer.from('xx'), B, Buffer.from('tail')]));
    expect(out).toHaveLength(2);
    expect(out.every((f) => parseFrame(f).ok)).toBe(true);
    expect(s.droppedBytes).toBe(6 + 2 + 4);
  });

  it('restarts at a second LF: the bytes before it were noise', () => {
    const s = new Dc09StreamSplitter();
    const out = s.push(Buffer.concat([Buffer.from('\nbroken frame'), A]));
    expect(out).toHaveLength(1);
    expect(out[0]!.toString('latin1')).toBe(PUBLIC_VECTOR);
    expect(s.droppedBytes).toBe('\nbroken frame'.length);
  });

  it('gives up on a frame that outgrows the DC-09 maximum without CR', () => {
    const s = new Dc09StreamSplitter();
    expect(s.push(Buffer.concat([Buffer.from('\n'), Buffer.alloc(MAX_FRAME_BYTES + 10, 0x41)]))).toEqual([]);
    expect(s.pendingBytes).toBe(0);
    expect(s.push(A)).toHaveLength(1);
  });

  it('keeps an incomplete frame until it completes, and reset() discards it', () => {
    const s = new Dc09StreamSplitter();
    expect(s.push(A.subarray(0, 10))).toEqual([]);
    expect(s.pendingBytes).toBe(10);
    s.reset();
    expect(s.pendingBytes).toBe(0);
    expect(s.droppedBytes).toBe(10);
  });

  it('passes a frame of exactly the maximum size', () => {
    const body = `"SIA-DCS"0001L0#1234[#1234|N${'BA1/'.repeat(1015)}BA1]`;
    const padded = body.replace('[#1234|N', `[#1234|N${'Z'.repeat(0xfff - body.length)}`);
    expect(padded.length).toBe(0xfff);
    const frame = handFrame(padded);
    expect(frame.length).toBe(MAX_FRAME_BYTES);
    expect(new Dc09StreamSplitter().push(frame)).toHaveLength(1);
  });
});
