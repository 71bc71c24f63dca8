import { describe, expect, it } from 'vitest';
import { MbapReader, encodeMbap } from '../../gateway/src/transport/mbap.js';

describe('MBAP', () => {
  it('encodes transaction id, protocol 0, length and unit', () => {
    expect(encodeMbap(0x0102, 0x11, Buffer.from([0x03, 0x00, 0x6b, 0x00, 0x03])).toString('hex')).toBe('01020000000611' + '03006b0003');
  });

  it('reads frames split across chunks and several in one chunk', () => {
    const r = new MbapReader();
    const a = encodeMbap(1, 1, Buffer.from([0x03, 0x02, 0x00, 0x2a]));
    const b = encodeMbap(2, 1, Buffer.from([0x83, 0x02]));
    expect(r.push(a.subarray(0, 5))).toEqual([]);
    const frames = r.push(Buffer.concat([a.subarray(5), b]));
    expect(frames.map((f) => [f.transactionId, f.unitId, f.pdu.toString('hex')])).toEqual([
      [1, 1, '0302002a'],
      [2, 1, '8302'],
    ]);
  });

  it('drops a stream that makes no sense and counts it', () => {
    const r = new MbapReader();
    expect(r.push(Buffer.from([0, 1, 0, 7, 0, 6, 1, 3, 0, 0, 0, 1]))).toEqual([]);
    expect(r.desyncs).toBe(1);
    expect(r.push(encodeMbap(3, 1, Buffer.from([0x06, 0, 1, 0, 1]))).map((f) => f.transactionId)).toEqual([3]);
  });
});
