import { describe, expect, it } from 'vitest';
import { crc16Arc, crcHex, formatTimestamp, parseTimestamp } from '../../gateway/src/alarms/dc09/index.js';
import { crc16Modbus } from '../../gateway/src/protocol/crc16.js';
import { arcCrcBitwise, prng } from './dc09-hand-frames.js';

describe('crc16Arc', () => {
  it('has the CRC-16/ARC check value 0xBB3D for "123456789"', () => {
    expect(crc16Arc(Buffer.from('123456789', 'ascii'))).toBe(0xbb3d);
    expect(crcHex(crc16Arc(Buffer.from('123456789', 'ascii')))).toBe('BB3D');
  });

  it('is 0 for no bytes (init 0, no final xor)', () => {
    expect(crc16Arc(Buffer.alloc(0))).toBe(0);
  });

  it('gives F4D2 for the body of the public test vector', () => {
    expect(crc16Arc(Buffer.from('"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]', 'ascii'))).toBe(0xf4d2);
  });

  it('agrees with an independent bit-by-bit implementation on 2,000 random inputs', () => {
    const rnd = prng(7);
    for (let n = 0; n < 2000; n++) {
      const buf = Buffer.alloc(Math.floor(rnd() * 300));
      for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(rnd() * 256);
      expect(crc16Arc(buf)).toBe(arcCrcBitwise(buf));
    }
  });

  it('honours start/end and differs from CRC-16/MODBUS (init 0xFFFF)', () => {
    const buf = Buffer.from('xx123456789yy', 'ascii');
    expect(crc16Arc(buf, 2, 11)).toBe(0xbb3d);
    expect(crc16Modbus(Buffer.from('123456789'))).not.toBe(0xbb3d);
  });

  it('writes four upper-case hex digits', () => {
    expect(crcHex(0x0a)).toBe('000A');
    expect(crcHex(0xbeef)).toBe('BEEF');
  });
});

describe('DC-09 timestamp _HH:MM:SS,MM-DD-YYYY (UTC)', () => {
  it('formats in UTC, month before day', () => {
    expect(formatTimestamp(new Date(Date.UTC(2025, 2, 2, 8, 5, 9)))).toBe('_08:05:09,03-02-2025');
  });

  it('parses back to the same instant', () => {
    const d = new Date(Date.UTC(2024, 1, 29, 23, 59, 59));
    expect(parseTimestamp(formatTimestamp(d))?.getTime()).toBe(d.getTime());
  });

  it.each([
    '_24:00:00,01-01-2025',
    '_12:60:00,01-01-2025',
    '_12:00:60,01-01-2025',
    '_12:00:00,13-01-2025',
    '_12:00:00,00-01-2025',
    '_12:00:00,02-29-2025',
    '_12:00:00,04-31-2025',
    '_12:00:00,01-00-2025',
    '12:00:00,01-01-2025',
    '_1:00:00,01-01-2025',
    '_12:00:00/01-01-2025',
    '_12:00:00,01-01-25',
  ])('rejects %s', (text) => {
    expect(parseTimestamp(text)).toBeUndefined();
  });
});
