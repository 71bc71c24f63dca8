/**
 * Time-sortable unique ids (ULID layout: 48-bit ms timestamp + 80 random bits, Crockford
 * base32, 26 characters). Sorting alarm ids sorts them by raise time, which receivers and the
 * outbox rely on; ids made in the same millisecond stay ordered because the random part is
 * incremented instead of redrawn (ULID "monotonic" mode).
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_BYTES = 10;
const MAX_TIME = 2 ** 48 - 1;

export const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/** 80 bits -> 16 base32 characters. */
function encodeRandom(bytes: Uint8Array): string {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < 16; i++) {
    out = ALPHABET[Number(value & 31n)]! + out;
    value >>= 5n;
  }
  return out;
}

/** Add one to a big-endian byte string; false when it wrapped around (2^80 ids in one ms). */
function increment(bytes: Uint8Array): boolean {
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      bytes[i]! += 1;
      return true;
    }
    bytes[i] = 0;
  }
  return false;
}

export type IdFactory = () => string;

/**
 * A monotonic id factory. If the clock steps backwards (NTP correction), ids keep using the
 * last time seen so that ids made by this process never sort before earlier ones.
 */
export function ulidFactory(clock: () => number = Date.now): IdFactory {
  let lastTime = -1;
  let lastRandom = new Uint8Array(RANDOM_BYTES);
  return () => {
    const now = Math.min(Math.max(0, Math.floor(clock())), MAX_TIME);
    if (now > lastTime) {
      lastTime = now;
      lastRandom = new Uint8Array(randomBytes(RANDOM_BYTES));
    } else if (!increment(lastRandom)) {
      // Random part exhausted within one millisecond: borrow the next millisecond.
      lastTime += 1;
      lastRandom = new Uint8Array(randomBytes(RANDOM_BYTES));
    }
    return encodeTime(lastTime) + encodeRandom(lastRandom);
  };
}

/** The millisecond timestamp encoded in a ULID. */
export function ulidTime(id: string): number {
  if (!ULID_PATTERN.test(id)) throw new Error(`not a ULID: ${id}`);
  let t = 0;
  for (let i = 0; i < TIME_CHARS; i++) t = t * 32 + ALPHABET.indexOf(id[i]!);
  return t;
}
