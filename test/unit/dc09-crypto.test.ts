/**
 * AES-128/192/256-CBC encrypted frames: round trips through our own encoder and parser, and
 * the wire layout checked by decrypting with node:crypto directly (not our decoder).
 */
import { createDecipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ackFrame,
  buildFrame,
  contactIdData,
  decryptContent,
  encryptContent,
  locationFields,
  parseFrame,
  siaDcsData,
  verificationField,
} from '../../gateway/src/alarms/dc09/index.js';
import { arcCrcBitwise, handEncrypt, handFrame, KEY128, KEY192, KEY256, prng } from './dc09-hand-frames.js';

const KEYS: Array<[string, Buffer]> = [
  ['AES-128', KEY128],
  ['AES-192', KEY192],
  ['AES-256', KEY256],
];
const WHEN = new Date(Date.UTC(2025, 5, 1, 12, 34, 56));

function handDecrypt(hex: string, key: Buffer): Buffer {
  const d = createDecipheriv(`aes-${key.length * 8}-cbc`, key, Buffer.alloc(16, 0));
  d.setAutoPadding(false);
  return Buffer.concat([d.update(Buffer.from(hex, 'hex')), d.final()]);
}

describe.each(KEYS)('%s', (_name, key) => {
  it('round-trips an ADM-CID frame with location and verification URL', () => {
    const data = contactIdData({ account: '5A5A', qualifier: 1, event: 120, group: 1, zone: 15 });
    const extended = [...locationFields({ lat: 22.54, lon: 113.93 }), verificationField('https://cam.example/a.jpg')];
    const frame = buildFrame({ id: 'ADM-CID', seq: 77, receiver: 'A1', line: '3', account: '5A5A', data, extended, timestamp: WHEN, key });
    const r = parseFrame(frame, { keys: (a) => (a === '5A5A' ? key : undefined) });
    expect(r.ok && r.frame).toMatchObject({
      id: 'ADM-CID',
      encrypted: true,
      seq: 77,
      receiver: 'A1',
      line: '3',
      account: '5A5A',
      data: '#5A5A|1120 01 015',
      location: { lat: 22.54, lon: 113.93 },
      verificationUrl: 'https://cam.example/a.jpg',
    });
    expect(r.ok && r.frame.timestamp?.getTime()).toBe(WHEN.getTime());
  });

  it('round-trips a SIA-DCS frame', () => {
    const data = siaDcsData({ account: '1234', events: [{ code: 'PA', address: '501', area: 1 }] });
    const frame = buildFrame({ id: 'SIA-DCS', seq: 1, line: '0', account: '1234', data, timestamp: WHEN, key });
    const r = parseFrame(frame, { keys: () => key });
    expect(r.ok && r.frame.data).toBe('#1234|Nri1/PA501');
  });

  it('lays the frame out as DC-09 says: "*ID" … [ + hex of <pad>|<data>]<ext><ts>, whole AES blocks', () => {
    const data = '#1234|NBA1';
    const frame = buildFrame({ id: 'SIA-DCS', seq: 9, line: '0', account: '1234', data, extended: [{ tag: 'I', value: 'door' }], timestamp: WHEN, key });
    const text = frame.toString('latin1');
    const m = /^\n([0-9A-F]{4})(0[0-9A-F]{3})("\*SIA-DCS"0009L0#1234\[)([0-9A-F]+)\r$/.exec(text);
    expect(m, text).not.toBeNull();
    const [, crc, len, head, hex] = m!;
    const body = head! + hex!;
    expect(parseInt(len!, 16)).toBe(body.length);
    expect(parseInt(crc!, 16)).toBe(arcCrcBitwise(Buffer.from(body, 'latin1')));
    expect(hex!.length % 32).toBe(0);
    const plain = handDecrypt(hex!, key).toString('latin1');
    const content = `${data}][Idoor]_12:34:56,06-01-2025`;
    expect(plain.endsWith(`|${content}`)).toBe(true);
    const pad = plain.slice(0, plain.length - content.length - 1);
    expect(pad.length).toBeGreaterThanOrEqual(1);
    expect(pad.length).toBeLessThanOrEqual(16);
    expect(pad).toMatch(/^[0-9A-Za-z]+$/);
  });

  it('uses a fresh pseudo-random pad each time (same message, different ciphertext)', () => {
    const opts = { id: 'NULL', seq: 1, line: '0', account: '1234', data: '', timestamp: WHEN, key };
    const a = buildFrame(opts).toString('latin1');
    const b = buildFrame(opts).toString('latin1');
    const c = buildFrame(opts).toString('latin1');
    expect(new Set([a, b, c]).size).toBeGreaterThan(1);
  });

  it('answers an encrypted message with an encrypted ACK carrying the receiver time', () => {
    const to = { encrypted: true, seq: 12, receiver: undefined, line: '0', account: '1234' };
    const ack = ackFrame(to, { key, now: WHEN });
    expect(ack.toString('latin1')).toMatch(/^\n[0-9A-F]{4}0[0-9A-F]{3}"\*ACK"0012L0#1234\[[0-9A-F]+\r$/);
    const r = parseFrame(ack, { keys: () => key });
    expect(r.ok && r.frame).toMatchObject({ id: 'ACK', encrypted: true, seq: 12, account: '1234', data: '' });
    expect(r.ok && r.frame.timestamp?.getTime()).toBe(WHEN.getTime());
  });
});

describe('pad length', () => {
  it('is 1..16 and makes <pad>|<content> whole AES blocks, a full block when already aligned', () => {
    for (let len = 0; len < 70; len++) {
      const content = 'x'.repeat(len);
      const plain = handDecrypt(encryptContent(content, KEY128), KEY128).toString('latin1');
      expect(plain.length % 16).toBe(0);
      const padLen = plain.length - len - 1;
      expect(padLen).toBeGreaterThanOrEqual(1);
      expect(padLen).toBeLessThanOrEqual(16);
      if ((len + 1) % 16 === 0) expect(padLen).toBe(16);
    }
  });

  it('takes a fixed pad for reproducible vectors', () => {
    const content = '#1234|NRR]_12:34:56,06-01-2025'; // 30 chars: pad 1
    expect(encryptContent(content, KEY128, 'Q')).toBe(handEncrypt(`Q|${content}`, KEY128));
  });
});

describe('other implementations’ encrypted responses', () => {
  it('accepts the ioBroker-style ACK: NUL pad, "|]", timestamp', () => {
    const content = ']_12:34:56,06-01-2025'; // 21 chars; pad 10 NULs + '|' = 32
    const plain = Buffer.concat([Buffer.alloc(10, 0), Buffer.from(`|${content}`, 'latin1')]);
    const frame = handFrame(`"*ACK"0003L0#1234[${handEncrypt(plain, KEY256)}`);
    const r = parseFrame(frame, { keys: () => KEY256 });
    expect(r.ok && r.frame).toMatchObject({ id: 'ACK', seq: 3, data: '' });
  });

  it('accepts the ACK ioBroker really sends: its AES library adds a PKCS#7 block, hex in lower case', () => {
    const content = ']_12:34:56,06-01-2025';
    const dc09 = Buffer.concat([Buffer.alloc(10, 0), Buffer.from(`|${content}`, 'latin1')]); // 32 bytes
    const withPkcs7 = Buffer.concat([dc09, Buffer.alloc(16, 0x10)]);
    const frame = handFrame(`"*ACK"0003L0#1234[${handEncrypt(withPkcs7, KEY192).toLowerCase()}`);
    const r = parseFrame(frame, { keys: () => KEY192 });
    expect(r.ok && r.frame).toMatchObject({ id: 'ACK', seq: 3, data: '' });
    expect(r.ok && r.frame.timestamp?.toISOString()).toBe('2025-06-01T12:34:56.000Z');
  });

  it('does not mistake a broken PKCS#7-like tail for padding', () => {
    const content = '#1234|NRR]_12:34:56,06-01-2025'; // pad 1 → 32 bytes
    const bad = Buffer.concat([Buffer.from(`Q|${content}`, 'latin1'), Buffer.from([...Array(15).fill(0x10), 0x0f])]);
    expect(decryptContent(handEncrypt(bad, KEY128), KEY128).ok).toBe(false);
  });

  it('accepts the pysiaalarm-style ACK: "0" pad without separator', () => {
    const content = ']_12:34:56,06-01-2025';
    const frame = handFrame(`"*ACK"0004L0#1234[${handEncrypt(content.padStart(32, '0'), KEY128)}`);
    const r = parseFrame(frame, { keys: () => KEY128 });
    expect(r.ok && r.frame).toMatchObject({ id: 'ACK', seq: 4, data: '' });
  });

  it('does not accept a missing separator in a data message', () => {
    const content = '#1234|NRR]_12:34:56,06-01-2025'.replace('|', ':');
    const r = decryptContent(handEncrypt(content.padStart(32, '0'), KEY128), KEY128);
    expect(r.ok).toBe(false);
  });
});

describe('the encrypted worked example in docs/dc09.md', () => {
  const LITERAL =
    '\n00C50076"*ADM-CID"0042L0#1234[A58F8ED40CA2D37FDC2737A6FC12201352EE4699AC477521C1F491A8AF8F05F17A3B74A1E87F2AEC976A824F4835485E\r';
  const PLAIN = 'k9TqW2xZ7|#1234|1120 01 015]_08:15:00,03-02-2025';

  it('is what node:crypto and the hand framer make of the documented plaintext', () => {
    expect(PLAIN.length).toBe(48);
    expect(handFrame(`"*ADM-CID"0042L0#1234[${handEncrypt(PLAIN, KEY128)}`).toString('latin1')).toBe(LITERAL);
  });

  it('is what buildFrame makes with the same pad, and parses back', () => {
    const data = contactIdData({ account: '1234', qualifier: 1, event: 120, group: 1, zone: 15 });
    const built = buildFrame({ id: 'ADM-CID', seq: 42, line: '0', account: '1234', data, timestamp: new Date(Date.UTC(2025, 2, 2, 8, 15, 0)), key: KEY128, pad: 'k9TqW2xZ7' });
    expect(built.toString('latin1')).toBe(LITERAL);
    const r = parseFrame(Buffer.from(LITERAL, 'latin1'), { keys: () => KEY128 });
    expect(r.ok && r.frame.data).toBe('#1234|1120 01 015');
  });
});

describe('wrong keys', () => {
  it('2,000 frames encrypted with wrong keys are all refused as decrypt errors', () => {
    const rnd = prng(99);
    const data = contactIdData({ account: '1234', qualifier: 1, event: 120, group: 1, zone: 1 });
    for (let i = 0; i < 2000; i++) {
      const wrong = Buffer.alloc([16, 24, 32][i % 3]!);
      for (let j = 0; j < wrong.length; j++) wrong[j] = Math.floor(rnd() * 256);
      const frame = buildFrame({ id: 'ADM-CID', seq: 1, line: '1', account: '1234', data, timestamp: WHEN, key: wrong });
      const r = parseFrame(frame, { keys: () => KEY128 });
      expect(r.ok).toBe(false);
      expect(!r.ok && r.error.code).toBe('decrypt');
    }
  });
});
