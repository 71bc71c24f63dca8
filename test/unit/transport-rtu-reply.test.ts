import { describe, expect, it } from 'vitest';
import { appendCrc } from '../../gateway/src/protocol/crc16.js';
import { readRequestPdu, writeRequestPdu } from '../../gateway/src/protocol/modbus-pdu.js';
import { rtuReplyLength, scanRtuReply } from '../../gateway/src/transport/rtu-reply.js';

const read2 = readRequestPdu('holding', 0x10, 2); // 03 00 10 00 02
const reply = appendCrc(Buffer.from([0x01, 0x03, 0x04, 0x12, 0x34, 0x56, 0x78]));

describe('scanRtuReply', () => {
  it('knows the reply length from the request', () => {
    expect(rtuReplyLength(read2)).toBe(9);
    expect(rtuReplyLength(readRequestPdu('coil', 0, 9))).toBe(1 + 2 + 2 + 2);
    expect(rtuReplyLength(writeRequestPdu('holding', 0, [1, 2, 3]))).toBe(8);
  });

  it('waits for the whole frame', () => {
    for (let n = 0; n < reply.length; n++) expect(scanRtuReply(reply.subarray(0, n), 1, read2).kind).toBe('incomplete');
    const s = scanRtuReply(reply, 1, read2);
    expect(s).toMatchObject({ kind: 'reply', start: 0 });
    if (s.kind === 'reply') expect(s.frame).toEqual(reply);
  });

  it('finds the reply behind garbage', () => {
    const rx = Buffer.concat([Buffer.from([0x00, 0x01, 0x03, 0xff]), reply]);
    expect(scanRtuReply(rx, 1, read2)).toMatchObject({ kind: 'reply', start: 4 });
  });

  it('reports a CRC error on a complete frame with a bad CRC', () => {
    const bad = Buffer.from(reply);
    bad[bad.length - 1]! ^= 0x01;
    const s = scanRtuReply(bad, 1, read2);
    expect(s).toMatchObject({ kind: 'crc', start: 0 });
  });

  it('prefers a valid reply that follows a frame-shaped false start', () => {
    // Garbage "01 03 04" looks like the start of the reply; the real one follows.
    const rx = Buffer.concat([Buffer.from([0x01, 0x03, 0x04]), reply]);
    expect(scanRtuReply(rx, 1, read2)).toMatchObject({ kind: 'reply', start: 3 });
  });

  it('ignores replies from another unit and replies of another size', () => {
    const otherUnit = appendCrc(Buffer.from([0x02, 0x03, 0x04, 0, 0, 0, 0]));
    const otherSize = appendCrc(Buffer.from([0x01, 0x03, 0x02, 0, 0]));
    expect(scanRtuReply(Buffer.concat([otherUnit, otherSize]), 1, read2).kind).toBe('incomplete');
  });

  it('decodes an exception frame', () => {
    const ex = appendCrc(Buffer.from([0x01, 0x83, 0x02]));
    expect(scanRtuReply(ex, 1, read2)).toMatchObject({ kind: 'exception', exceptionCode: 2 });
    const badEx = Buffer.from(ex);
    badEx[4]! ^= 0xff;
    expect(scanRtuReply(badEx, 1, read2).kind).toBe('crc');
  });

  it('accepts a write reply only if it echoes this request', () => {
    const pdu = writeRequestPdu('holding', 5, [0x1234]);
    const echo = appendCrc(Buffer.concat([Buffer.from([7]), pdu]));
    expect(scanRtuReply(echo, 7, pdu).kind).toBe('reply');
    // A (late) echo of a different write is not ours, although its CRC is fine.
    const other = appendCrc(Buffer.concat([Buffer.from([7]), writeRequestPdu('holding', 5, [0x9999])]));
    expect(scanRtuReply(other, 7, pdu).kind).toBe('incomplete');
  });
});
