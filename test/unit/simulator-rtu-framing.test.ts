/**
 * Pure parts of the simulated RTU slave: where a request ends (from its function code) and the
 * wire-timing arithmetic (reply due time, silence rule). Expected times are worked out by hand
 * from the Modbus rules: 11 bits per character, t3.5, 1.75 ms above 19200 baud.
 */
import { describe, expect, it } from 'vitest';
import { appendCrc } from '../../gateway/src/protocol/crc16.js';
import { readRequestPdu, writeRequestPdu } from '../../gateway/src/protocol/modbus-pdu.js';
import { RTU_MAX_FRAME, scanRtuRequest } from '../../simulator/src/rtu-framing.js';
import { breaksSilence, frameEndsAt, replyDueAt } from '../../simulator/src/rtu-timing.js';

const frame = (unit: number, pdu: Buffer) => appendCrc(Buffer.concat([Buffer.from([unit]), pdu]));

describe('scanRtuRequest (frame boundaries from the function code)', () => {
  it('finds the 8-byte end of every read and single-write request', () => {
    for (const pdu of [readRequestPdu('coil', 0, 8), readRequestPdu('discrete', 3, 2), readRequestPdu('holding', 100, 10), readRequestPdu('input', 0, 1)]) {
      expect(scanRtuRequest(frame(1, pdu))).toEqual({ kind: 'frame', length: 8 });
    }
    expect(scanRtuRequest(frame(1, writeRequestPdu('coil', 2, [1])))).toEqual({ kind: 'frame', length: 8 });
    expect(scanRtuRequest(frame(1, writeRequestPdu('holding', 2, [0x1234])))).toEqual({ kind: 'frame', length: 8 });
  });

  it('reads the byte count of FC15/FC16 to size the frame', () => {
    const fc16 = frame(7, writeRequestPdu('holding', 32, [1, 2, 3]));
    expect(fc16.length).toBe(1 + 6 + 6 + 2);
    expect(scanRtuRequest(fc16)).toEqual({ kind: 'frame', length: 15 });
    const fc15 = frame(7, writeRequestPdu('coil', 0, [1, 0, 1, 1, 0, 0, 0, 0, 1]));
    expect(scanRtuRequest(fc15)).toEqual({ kind: 'frame', length: 1 + 6 + 2 + 2 });
    // Before the byte count has arrived the length is unknown.
    expect(scanRtuRequest(fc16.subarray(0, 6))).toEqual({ kind: 'need-more' });
    expect(scanRtuRequest(fc16.subarray(0, 14))).toEqual({ kind: 'need-more' });
  });

  it('waits for more bytes on a partial frame and ignores what follows a complete one', () => {
    const f = frame(1, readRequestPdu('holding', 0, 2));
    expect(scanRtuRequest(f.subarray(0, 1))).toEqual({ kind: 'need-more' });
    expect(scanRtuRequest(f.subarray(0, 7))).toEqual({ kind: 'need-more' });
    expect(scanRtuRequest(Buffer.concat([f, f]))).toEqual({ kind: 'frame', length: 8 });
  });

  it('cannot size an unknown function code, and rejects impossible lengths', () => {
    expect(scanRtuRequest(Buffer.from([1, 0x2b, 0x0e, 0x01, 0x00, 0, 0]))).toEqual({ kind: 'unknown-length' });
    const huge = Buffer.from([1, 0x10, 0, 0, 0, 127, 254]);
    expect(1 + 6 + 254 + 2).toBeGreaterThan(RTU_MAX_FRAME);
    expect(scanRtuRequest(huge)).toEqual({ kind: 'garbage' });
  });
});

describe('wire timing of a simulated line', () => {
  it('9600 baud: reply due 21.198 ms after the first byte of an 8-byte request with a 7-byte reply', () => {
    // 8 x 1.1458 (request) + 3.5 x 1.1458 (t3.5) + 7 x 1.1458 (reply) = 18.5 chars = 21.198 ms
    expect(replyDueAt(1000, 8, 7, 9600)).toBeCloseTo(1000 + 21.1979, 3);
    expect(replyDueAt(1000, 8, 7, 9600, 50)).toBeCloseTo(1000 + 71.1979, 3);
    expect(frameEndsAt(1000, 8, 9600)).toBeCloseTo(1009.1667, 3);
  });

  it('115200 baud: the silence is fixed at 1.75 ms', () => {
    // 15 chars x 0.095486 ms + 1.75 ms
    expect(replyDueAt(0, 8, 7, 115200)).toBeCloseTo(15 * (11 / 115.2) + 1.75, 6);
    expect(replyDueAt(0, 8, 7, 115200)).toBeCloseTo(3.1823, 3);
  });

  it('a frame starting less than t3.5 after the line went quiet breaks the silence rule', () => {
    // t3.5 at 9600 = 4.0104 ms
    expect(breaksSilence(104.0, 100, 9600)).toBe(true);
    expect(breaksSilence(104.02, 100, 9600)).toBe(false);
    expect(breaksSilence(101.7, 100, 38400)).toBe(true);
    expect(breaksSilence(101.76, 100, 38400)).toBe(false);
    expect(breaksSilence(0, -Infinity, 9600)).toBe(false);
  });
});
