/**
 * Password hashing for MQTT clients and (later) console users: scrypt from node:crypto, stored
 * as `scrypt$N$r$p$<salt base64>$<hash base64>` so the cost can be raised later without
 * breaking old hashes. Verification compares in constant time.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { ErrorCodes, ShouwangError } from '../errors.js';

/** Cost used for new hashes: about 50 ms and 16 MiB on a small PC; interactive logins only. */
export const DEFAULT_SCRYPT = { N: 16384, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/**
 * Upper bounds when reading a hash: a hash is config input, and an absurd N would let a bad
 * config line (or a hostile users file) stall the gateway for minutes or exhaust memory.
 */
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;

export interface ParsedPasswordHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

function malformed(reason: string): ShouwangError {
  return new ShouwangError(
    ErrorCodes.CONFIG_INVALID,
    `malformed password hash: ${reason} (expected scrypt$N$r$p$<salt base64>$<hash base64>, made by \`shouwang passwd\`)`,
  );
}

function positiveInt(text: string, name: string, max: number): number {
  if (!/^\d+$/.test(text)) throw malformed(`${name} "${text}" is not a positive integer`);
  const n = Number(text);
  if (n < 1 || n > max) throw malformed(`${name} ${n} out of range 1-${max}`);
  return n;
}

/** Parse and sanity-check a stored hash. Throws ShouwangError CONFIG_INVALID naming the problem. */
export function parsePasswordHash(stored: string): ParsedPasswordHash {
  if (typeof stored !== 'string') throw malformed('not a string');
  const parts = stored.split('$');
  if (parts[0] !== 'scrypt') throw malformed(`unknown scheme "${parts[0] ?? ''}"`);
  if (parts.length !== 6) throw malformed(`expected 6 $-separated fields, got ${parts.length}`);
  const [, nText, rText, pText, saltText, hashText] = parts as [string, string, string, string, string, string];
  const N = positiveInt(nText, 'N', MAX_N);
  if ((N & (N - 1)) !== 0 || N < 2) throw malformed(`N ${N} is not a power of two`);
  const r = positiveInt(rText, 'r', MAX_R);
  const p = positiveInt(pText, 'p', MAX_P);
  if (!B64.test(saltText)) throw malformed('salt is not base64');
  if (!B64.test(hashText)) throw malformed('hash is not base64');
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  if (salt.length < 8) throw malformed(`salt too short (${salt.length} bytes, need at least 8)`);
  if (hash.length < 16) throw malformed(`hash too short (${hash.length} bytes, need at least 16)`);
  return { N, r, p, salt, hash };
}

function scryptOptions(parsed: Pick<ParsedPasswordHash, 'N' | 'r' | 'p'>): ScryptOptions {
  // Node refuses scrypt above 32 MiB by default; allow what the parameters need (128*N*r) plus slack.
  return { N: parsed.N, r: parsed.r, p: parsed.p, maxmem: 128 * parsed.N * parsed.r * 2 + 1024 * 1024 };
}

function format(params: { N: number; r: number; p: number }, salt: Buffer, hash: Buffer): string {
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Hash a password with a fresh random salt. An empty password is refused. */
export function hashPassword(plain: string, params: { N: number; r: number; p: number } = DEFAULT_SCRYPT): string {
  if (typeof plain !== 'string' || plain.length === 0) {
    throw new ShouwangError(ErrorCodes.CONFIG_INVALID, 'refusing to hash an empty password');
  }
  const salt = randomBytes(SALT_BYTES);
  const hash = scryptSync(plain.normalize('NFC'), salt, KEY_BYTES, scryptOptions(params));
  return format(params, salt, hash);
}

function equal(derived: Buffer, expected: Buffer): boolean {
  return derived.length === expected.length && timingSafeEqual(derived, expected);
}

/**
 * True when `plain` matches `stored`. A malformed `stored` throws (CONFIG_INVALID): it is a
 * configuration mistake, not a wrong password, and must not look like one.
 */
export function verifyPassword(plain: string, stored: string): boolean {
  const parsed = parsePasswordHash(stored);
  const derived = scryptSync(String(plain).normalize('NFC'), parsed.salt, parsed.hash.length, scryptOptions(parsed));
  return equal(derived, parsed.hash);
}

/** Same as verifyPassword, off the event loop (scrypt runs in libuv's thread pool). Use it in servers. */
export async function verifyPasswordAsync(plain: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  const derived = await new Promise<Buffer>((resolve, reject) => {
    scrypt(String(plain).normalize('NFC'), parsed.salt, parsed.hash.length, scryptOptions(parsed), (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
  return equal(derived, parsed.hash);
}
