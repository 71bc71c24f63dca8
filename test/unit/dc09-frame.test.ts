/**
 * Frame parsing and building. The frames here are written by hand from the spec: the fully
 * literal ones had their CRC computed by a separate Python CRC-16/ARC, the rest are laid out by
 * handFrame() with a bit-by-bit CRC - never by the encoder under test.
 */
import { describe, expect, it } from 'vitest';
import {
  buildFrame,
  parseFrame,
  type Dc09ErrorCode,
  type Dc09ParseResult,
} from '../../gateway/src/alarms/dc09/index.js';
import { ErrorCodes, isShouwangError } from '../../gateway/src/errors.js';
import { handEncrypt, handFrame, KEY128, PUBLIC_VECTOR } from './dc09-hand-frames.js';

const ADM_LITERAL =
  '\n53B10070"ADM-CID"0042L0#ABC123[#ABC123|1120 01 015][XE113.93][YN22.54][Vhttp://cam.local/snap/1.jpg]_08:15:00,03-02-2025\r';
const NULL_LITERAL = '\nBA900028"NULL"0003R1L1#789[]_23:59:59,12-31-2024\r';
const SIA_LITERAL =
  '\n88CF0076"SIA-DCS"9999R12345L0#1A2B3C[#1A2B3C|Nti10:30/ri2/id7/BA012/BR012|Aback door][XW0.1278][YS33.8688]_00:00:00,02-29-2024\r';

function ok(r: Dc09ParseResult) {
  if (!r.ok) throw new Error(`expected ok, got ${r.error.code}: ${r.error.message}`);
  return r.frame;
}

function expectError(r: Dc09ParseResult, code: Dc09ErrorCode, message?: RegExp): void {
  expect(r.ok, r.ok ? 'parsed although it should not' : r.error.message).toBe(false);
  if (r.ok) return;
  expect(r.error.code, r.error.message).toBe(code);
  expect(typeof r.error.message).toBe('string');
  if (message) expect(r.error.message).toMatch(message);
}

function expectBuildError(fn: () => unknown, message: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isShouwangError(err, ErrorCodes.PAYLOAD_INVALID), String(err)).toBe(true);
  expect((err as Error).message).toMatch(message);
}

describe('parseFrame: frames built by hand', () => {
  it('parses and validates the public test vector (CRC F4D2, length 0029)', () => {
    const f = ok(parseFrame(Buffer.from(PUBLIC_VECTOR, 'latin1')));
    expect(f).toMatchObject({
      id: 'SIA-DCS',
      encrypted: false,
      seq: 1,
      receiver: 'F3',
      line: '77',
      account: '1234',
      data: '#1234|NRR|Atest',
      extended: [],
      timestamp: undefined,
      crc: 0xf4d2,
      length: 0x29,
    });
  });

  it('parses an ADM-CID frame with location, verification URL and timestamp', () => {
    const f = ok(parseFrame(Buffer.from(ADM_LITERAL, 'latin1')));
    expect(f.id).toBe('ADM-CID');
    expect(f.seq).toBe(42);
    expect(f.receiver).toBeUndefined();
    expect(f.line).toBe('0');
    expect(f.account).toBe('ABC123');
    expect(f.data).toBe('#ABC123|1120 01 015');
    expect(f.extended).toEqual([
      { tag: 'X', value: 'E113.93' },
      { tag: 'Y', value: 'N22.54' },
      { tag: 'V', value: 'http://cam.local/snap/1.jpg' },
    ]);
    expect(f.location).toEqual({ lat: 22.54, lon: 113.93 });
    expect(f.verificationUrl).toBe('http://cam.local/snap/1.jpg');
    // MM-DD-YYYY: the 2nd of March.
    expect(f.timestamp?.toISOString()).toBe('2025-03-02T08:15:00.000Z');
    expect(f.length).toBe(0x70);
  });

  it('parses a NULL supervision frame', () => {
    const f = ok(parseFrame(Buffer.from(NULL_LITERAL, 'latin1')));
    expect(f).toMatchObject({ id: 'NULL', seq: 3, receiver: '1', line: '1', account: '789', data: '' });
    expect(f.timestamp?.toISOString()).toBe('2024-12-31T23:59:59.000Z');
  });

  it('parses SIA-DCS with a six-digit receiver, seq 9999, west/south location and a leap day', () => {
    const f = ok(parseFrame(Buffer.from(SIA_LITERAL, 'latin1')));
    expect(f.seq).toBe(9999);
    expect(f.receiver).toBe('12345');
    expect(f.account).toBe('1A2B3C');
    expect(f.location).toEqual({ lat: -33.8688, lon: -0.1278 });
    expect(f.timestamp?.toISOString()).toBe('2024-02-29T00:00:00.000Z');
  });

  it('accepts lower-case hex in the CRC field', () => {
    const body = '"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]';
    expect(ok(parseFrame(handFrame(body, { crc: 'f4d2' }))).crc).toBe(0xf4d2);
  });

  it('parses a hand-encrypted *ADM-CID frame (pad|data]ext_ts, AES-128-CBC, zero IV)', () => {
    // 9 pad characters + '|' + 38 characters of content = 48 bytes, three AES blocks.
    const padded = 'abcdZq7xy|#1234|1120 01 015]_10:00:00,01-15-2025';
    expect(padded.length).toBe(48);
    const frame = handFrame(`"*ADM-CID"0005L0#1234[${handEncrypt(padded, KEY128)}`);
    const f = ok(parseFrame(frame, { keys: (a) => (a === '1234' ? KEY128 : undefined) }));
    expect(f.encrypted).toBe(true);
    expect(f.id).toBe('ADM-CID');
    // The pad runs up to the first '|': "abcdZq7xy".
    expect(f.data).toBe('#1234|1120 01 015');
    expect(f.timestamp?.toISOString()).toBe('2025-01-15T10:00:00.000Z');
  });
});

describe('buildFrame matches the hand-built frames byte for byte', () => {
  it('rebuilds the public vector', () => {
    const built = buildFrame({ id: 'SIA-DCS', seq: 1, receiver: 'F3', line: '77', account: '1234', data: '#1234|NRR|Atest', timestamp: null });
    expect(built.toString('latin1')).toBe(PUBLIC_VECTOR);
  });

  it('rebuilds the ADM-CID frame with extended data and timestamp', () => {
    const built = buildFrame({
      id: 'ADM-CID',
      seq: 42,
      line: '0',
      account: 'ABC123',
      data: '#ABC123|1120 01 015',
      extended: [
        { tag: 'X', value: 'E113.93' },
        { tag: 'Y', value: 'N22.54' },
        { tag: 'V', value: 'http://cam.local/snap/1.jpg' },
      ],
      timestamp: new Date(Date.UTC(2025, 2, 2, 8, 15, 0)),
    });
    expect(built.toString('latin1')).toBe(ADM_LITERAL);
  });

  it('rebuilds the NULL frame', () => {
    const built = buildFrame({ id: 'NULL', seq: 3, receiver: '1', line: '1', account: '789', data: '', timestamp: new Date(Date.UTC(2024, 11, 31, 23, 59, 59)) });
    expect(built.toString('latin1')).toBe(NULL_LITERAL);
  });

  it('stamps the current time when no timestamp is given', () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const f = ok(parseFrame(buildFrame({ id: 'NULL', seq: 1, line: '0', account: '123', data: '' })));
    expect(f.timestamp!.getTime()).toBeGreaterThanOrEqual(before);
    expect(f.timestamp!.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('writes the length as 0 + three upper-case hex digits', () => {
    const data = `#1234|N${'BA1/'.repeat(40)}BA1`; // pushes the length past 0x0FF
    const built = buildFrame({ id: 'SIA-DCS', seq: 7, line: '0', account: '1234', data, timestamp: null });
    const len = built.toString('latin1', 5, 9);
    expect(len).toMatch(/^0[0-9A-F]{3}$/);
    expect(parseInt(len, 16)).toBe(built.length - 10);
  });
});

describe('parseFrame error paths (never throws)', () => {
  const body = '"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]';

  it('crc: a wrong CRC field', () => {
    expectError(parseFrame(handFrame(body, { crc: 'F4D3' })), 'crc', /F4D3.*F4D2/);
  });

  it('crc: one body byte changed', () => {
    expectError(parseFrame(Buffer.from(PUBLIC_VECTOR.replace('NRR', 'NRS'), 'latin1')), 'crc');
  });

  it('length: declared length differs from the body', () => {
    expectError(parseFrame(handFrame(body, { len: '0028' })), 'length', /40|41/);
    expectError(parseFrame(Buffer.from(PUBLIC_VECTOR.replace('|Atest', '|Ates'), 'latin1')), 'length');
  });

  it.each<[string, Buffer]>([
    ['no leading LF', handFrame(body, { lf: 'X' })],
    ['no trailing CR', handFrame(body, { cr: '\n' })],
    ['CRC field not hex', handFrame(body, { crc: 'F4G2' })],
    ['length field not 0LLL', handFrame(body, { len: '1029' })],
    ['length field not hex', handFrame(body, { len: '002Z' })],
    ['too short', Buffer.from('\n0000000\r', 'latin1')],
    ['empty', Buffer.alloc(0)],
    ['unprintable byte in the body', handFrame(Buffer.from('"SIA-DCS"0001L0#1234[#1234|N\x01RR]', 'latin1'))],
    ['ID not quoted', handFrame('SIA-DCS0001L0#1234[#1234|NRR]')],
    ['sequence with 3 digits', handFrame('"SIA-DCS"001L0#1234[#1234|NRR]')],
    ['sequence not digits', handFrame('"SIA-DCS"00A1L0#1234[#1234|NRR]')],
    ['missing line prefix', handFrame('"SIA-DCS"0001R1#1234[#1234|NRR]')],
    ['line prefix not hex', handFrame('"SIA-DCS"0001LZ#1234[#1234|NRR]')],
    ['account of 2 digits', handFrame('"SIA-DCS"0001L0#12[#12|NRR]')],
    ['no data block', handFrame('"SIA-DCS"0001L0#1234')],
    ['data block not closed', handFrame('"SIA-DCS"0001L0#1234[#1234|NRR')],
    ['"[" inside the data', handFrame('"SIA-DCS"0001L0#1234[#12[34|NRR]')],
    ['extended block not closed', handFrame('"SIA-DCS"0001L0#1234[#1234|NRR][XE1.0')],
    ['extended block with lower-case tag', handFrame('"SIA-DCS"0001L0#1234[#1234|NRR][xE1.0]')],
    ['text after the data', handFrame('"SIA-DCS"0001L0#1234[#1234|NRR]junk')],
    ['timestamp with month 13', handFrame('"SIA-DCS"0001L0#1234[#1234|NRR]_10:00:00,13-01-2025')],
    ['timestamp truncated', handFrame('"SIA-DCS"0001L0#1234[#1234|NRR]_10:00:00,01-01-202')],
    ['timestamp followed by junk', handFrame('"SIA-DCS"0001L0#1234[#1234|NRR]_10:00:00,01-01-2025x')],
  ])('format: %s', (_name, frame) => {
    expectError(parseFrame(frame), 'format');
  });

  it('format: not a buffer at all', () => {
    expectError(parseFrame('not bytes' as unknown as Uint8Array), 'format');
    expectError(parseFrame(undefined as unknown as Uint8Array), 'format');
  });

  it('returns the header with errors found after the header', () => {
    const r = parseFrame(handFrame('"ADM-CID"0017R5L9#ABCD[#ABCD|1120 01 015]junk'));
    expectError(r, 'format');
    expect(!r.ok && r.header).toEqual({ id: 'ADM-CID', encrypted: false, seq: 17, receiver: '5', line: '9', account: 'ABCD' });
  });

  const encBody = (hex: string, acct = '#1234') => `"*SIA-DCS"0002L0${acct}[${hex}`;
  // A pad of 'p's long enough to fill whole AES blocks, then the separator.
  const plain = (content: string) => {
    const padLen = 16 - ((content.length + 1) % 16 || 16) || 16;
    const text = `${'p'.repeat(padLen)}|${content}`;
    expect(text.length % 16).toBe(0);
    return text;
  };
  const sample = () => handEncrypt(plain('#1234|NRR]_10:00:00,01-15-2025'), KEY128);

  it('unknown-account: encrypted frame for an account without key', () => {
    const hex = sample();
    expectError(parseFrame(handFrame(encBody(hex)), { keys: () => undefined }), 'unknown-account', /1234/);
    expectError(parseFrame(handFrame(encBody(hex))), 'unknown-account');
  });

  it('unknown-account: encrypted frame without an account', () => {
    const hex = sample();
    expectError(parseFrame(handFrame(encBody(hex, '')), { keys: () => KEY128 }), 'unknown-account');
  });

  it('unknown-account: a key lookup that throws is treated as no key', () => {
    const hex = sample();
    const keys = (): Buffer => {
      throw new Error('boom');
    };
    expectError(parseFrame(handFrame(encBody(hex)), { keys }), 'unknown-account');
  });

  it('decrypt: wrong key', () => {
    const hex = sample();
    const other = Buffer.from(KEY128);
    other[0] = 0xff;
    expectError(parseFrame(handFrame(encBody(hex)), { keys: () => other }), 'decrypt', /wrong key/);
  });

  it('decrypt: not hex, or not whole AES blocks, or a key of the wrong size', () => {
    const hex = sample();
    expectError(parseFrame(handFrame(encBody(hex.replace(/^../, 'ZZ'))), { keys: () => KEY128 }), 'decrypt', /not hex/);
    expectError(parseFrame(handFrame(encBody(hex.slice(0, -2))), { keys: () => KEY128 }), 'decrypt', /multiple of 16/);
    expectError(parseFrame(handFrame(encBody('')), { keys: () => KEY128 }), 'decrypt');
    expectError(parseFrame(handFrame(encBody(hex)), { keys: () => Buffer.alloc(10) }), 'decrypt', /10 bytes/);
  });

  it('format: encrypted frame without timestamp (DC-09 requires one)', () => {
    const r = parseFrame(handFrame(encBody(handEncrypt(plain('#1234|NRR]'), KEY128))), { keys: () => KEY128 });
    expectError(r, 'format', /timestamp/);
    expect(!r.ok && r.header?.encrypted).toBe(true);
  });
});

describe('buildFrame rejects what DC-09 cannot carry', () => {
  const base = { id: 'SIA-DCS', seq: 1, line: '0', account: '1234', data: '#1234|NRR', timestamp: null };
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['sequence 10000', { seq: 10000 }, /sequence/],
    ['sequence -1', { seq: -1 }, /sequence/],
    ['fractional sequence', { seq: 1.5 }, /sequence/],
    ['account not hex', { account: 'XYZ1' }, /account/],
    ['account too short', { account: '12' }, /account/],
    ['account too long', { account: '12345678901234567' }, /account/],
    ['receiver too long', { receiver: '1234567' }, /receiver/],
    ['empty line', { line: '' }, /line/],
    ['id with a quote', { id: 'SIA"DCS' }, /id/],
    ['id with a star (use key)', { id: '*SIA-DCS' }, /id/],
    ['data with ]', { data: '#1234|N]RR' }, /data/],
    ['data with a newline', { data: '#1234|N\nRR' }, /data/],
    ['data with non-ASCII', { data: '#1234|N中RR' }, /data/],
    ['extended tag lower case', { extended: [{ tag: 'x', value: 'E1' }] }, /tag/],
    ['extended value with [', { extended: [{ tag: 'V', value: 'http://a/[1]' }] }, /printable/],
    ['longitude value over 12 characters', { extended: [{ tag: 'X', value: 'E113.93000001' }] }, /at most 12/],
    ['too long for 0LLL', { data: `#1234|N${'BA1/'.repeat(1100)}BA1` }, /0LLL/],
    ['encrypted without timestamp', { key: KEY128 }, /timestamp/],
    ['key of 10 bytes', { key: Buffer.alloc(10), timestamp: new Date() }, /16, 24 or 32/],
    ['pad of the wrong length', { key: KEY128, timestamp: new Date(), pad: 'ab' }, /pad/],
  ])('%s', (_name, over, message) => {
    expectBuildError(() => buildFrame({ ...base, ...over } as Parameters<typeof buildFrame>[0]), message);
  });
});
