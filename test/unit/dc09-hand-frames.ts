/**
 * Test-side DC-09 helpers written straight from the spec, independent of the code under test:
 * a bit-by-bit CRC-16/ARC (the src uses a table) and a frame assembler that lays out
 * LF, CRC, 0LLL, body, CR by hand. Used to make frames the encoder never touched.
 * (Only the fuzz seeds at the end use the encoder, for encrypted frames to mutate.)
 */
import { createCipheriv } from 'node:crypto';
import { buildFrame } from '../../gateway/src/alarms/dc09/index.js';

/** CRC-16/ARC, one bit at a time: reflected poly 0xA001, init 0, no final xor. */
export function arcCrcBitwise(bytes: Uint8Array): number {
  let crc = 0;
  for (let byte of bytes) {
    for (let bit = 0; bit < 8; bit++) {
      const mix = (crc ^ byte) & 1;
      crc >>>= 1;
      if (mix) crc ^= 0xa001;
      byte >>>= 1;
    }
  }
  return crc;
}

export interface HandFrameOverrides {
  crc?: string;
  len?: string;
  lf?: string;
  cr?: string;
}

/** `\n` + CRC (4 upper-case hex) + `0` + LLL (3 hex) + body + `\r`, each part overridable. */
export function handFrame(body: string | Buffer, o: HandFrameOverrides = {}): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  const crc = o.crc ?? arcCrcBitwise(bytes).toString(16).toUpperCase().padStart(4, '0');
  const len = o.len ?? `0${bytes.length.toString(16).toUpperCase().padStart(3, '0')}`;
  return Buffer.concat([Buffer.from((o.lf ?? '\n') + crc + len, 'latin1'), bytes, Buffer.from(o.cr ?? '\r', 'latin1')]);
}

/** AES-CBC with a zero IV and no padding, as DC-09 specifies; returns upper-case hex. */
export function handEncrypt(plaintext: string | Buffer, key: Buffer): string {
  const algo = `aes-${key.length * 8}-cbc`;
  const c = createCipheriv(algo, key, Buffer.alloc(16, 0));
  c.setAutoPadding(false);
  const p = typeof plaintext === 'string' ? Buffer.from(plaintext, 'latin1') : plaintext;
  return Buffer.concat([c.update(p), c.final()]).toString('hex').toUpperCase();
}

/** Deterministic PRNG (mulberry32) so fuzz failures can be replayed from the seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The public DC-09 test vector from the issue: CRC F4D2, length 0x029. */
export const PUBLIC_VECTOR = '\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r';

export const KEY128 = Buffer.from('000102030405060708090A0B0C0D0E0F', 'hex');
export const KEY192 = Buffer.from('000102030405060708090A0B0C0D0E0F1011121314151617', 'hex');
export const KEY256 = Buffer.from('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F', 'hex');

// --- fuzzing: seed frames (plain and encrypted) and byte-level mutations ---

const WHEN = new Date(Date.UTC(2025, 5, 1, 12, 0, 0));
const FUZZ_KEYS = new Map<string, Buffer>([
  ['1234', KEY128],
  ['ABC123', KEY192],
  ['5A5A', KEY256],
]);
export const fuzzKeys = (account: string): Buffer | undefined => FUZZ_KEYS.get(account.toUpperCase());

export const FUZZ_SEEDS: Buffer[] = [
  Buffer.from(PUBLIC_VECTOR, 'latin1'),
  handFrame('"ADM-CID"0042L0#ABC123[#ABC123|1120 01 015][XE113.93][YN22.54][Vhttp://cam.local/snap/1.jpg]_08:15:00,03-02-2025'),
  handFrame('"NULL"0003R1L1#789[]_23:59:59,12-31-2024'),
  handFrame('"NAK"0000R0L0A0[]_13:05:09,01-07-2025'),
  handFrame('"SIA-DCS"9999R12345L0#1A2B3C[#1A2B3C|Nti10:30/ri2/id7/BA012/BR012|Aback door][XW0.1278][YS33.8688]_00:00:00,02-29-2024'),
  buildFrame({ id: 'ADM-CID', seq: 5, line: '0', account: '1234', data: '#1234|1120 01 015', timestamp: WHEN, key: KEY128 }),
  buildFrame({ id: 'SIA-DCS', seq: 6, line: '0', account: 'ABC123', data: '#ABC123|NPA501', timestamp: WHEN, key: KEY192 }),
  buildFrame({ id: 'NULL', seq: 7, line: '0', account: '5A5A', data: '', timestamp: WHEN, key: KEY256 }),
];

const STRUCTURAL = Buffer.from('"[]|#_LR*N0123456789ABCDEF\n\r,:-/ ', 'latin1');

export function mutate(src: Buffer, rnd: () => number): Buffer {
  let b = Buffer.from(src);
  const at = () => Math.floor(rnd() * Math.max(1, b.length));
  const n = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < n; k++) {
    const op = Math.floor(rnd() * 9);
    if (b.length === 0) b = Buffer.from([Math.floor(rnd() * 256)]);
    const i = at();
    switch (op) {
      case 0:
        b[i] = b[i]! ^ (1 << Math.floor(rnd() * 8));
        break;
      case 1:
        b[i] = Math.floor(rnd() * 256);
        break;
      case 2:
        b[i] = STRUCTURAL[Math.floor(rnd() * STRUCTURAL.length)]!;
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, i), Buffer.from([Math.floor(rnd() * 256)]), b.subarray(i)]);
        break;
      case 4:
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
        break;
      case 5:
        b = b.subarray(0, i);
        break;
      case 6: {
        const j = at();
        b = Buffer.concat([b.subarray(0, j), b.subarray(Math.min(i, j), Math.max(i, j)), b.subarray(j)]);
        break;
      }
      case 7: {
        const j = at();
        const t = b[i]!;
        b[i] = b[j]!;
        b[j] = t;
        break;
      }
      default:
        b[i] = STRUCTURAL[Math.floor(rnd() * STRUCTURAL.length)]!;
    }
  }
  return b;
}

/** Give the mutant a correct envelope again: LF, CRC and 0LLL of whatever body it now has. */
export function repair(b: Buffer): Buffer | undefined {
  if (b.length < 10) return undefined;
  const body = b.subarray(9, b.length - 1);
  if (body.length > 0xfff || body.includes(0x0a) || body.includes(0x0d)) return undefined;
  return handFrame(body);
}

