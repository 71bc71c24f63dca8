/**
 * DC-09 (2013/2017) AES encryption of the message content. Pure apart from the random pad.
 *
 * For `"*SIA-DCS"`, `"*ADM-CID"`, `"*NULL"`, `"*ACK"` everything after the data block's
 * opening `[` - the data, its closing `]`, the extended data and the timestamp - is encrypted:
 *
 *   plaintext  = <pad> "|" <data> "]" <extended…> <_timestamp>
 *   ciphertext = AES-CBC(key, IV = 16 zero bytes, plaintext), no PKCS#7 (the pad does that job)
 *   on the wire: `[` + upper-case hex of the ciphertext, then CR (no closing `]` outside)
 *
 * The pad makes the plaintext a multiple of 16 bytes. We write 1-16 pseudo-random alphanumeric
 * characters (so a pad is never empty: the separator is always preceded by something random,
 * and a plaintext that is already aligned gets a full block). Key length picks the cipher:
 * 16 bytes AES-128, 24 AES-192, 32 AES-256.
 *
 * Other implementations agree on this layout: the ioBroker `sia` adapter decrypts the hex after
 * `[` with a zero IV and no auto-padding and drops everything up to the first `|`; its own
 * encrypted ACK is `<NUL pad>|]_<timestamp>`. pysiaalarm's responses use `0`-padding without a
 * `|` - the parser accepts that too for responses (see `allowMissingSeparator`).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ErrorCodes, ShouwangError } from '../../errors.js';
import { HEX_RE, isPrintableAscii } from './text.js';

const PAD_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ZERO_IV = Buffer.alloc(16, 0);
const PIPE = 0x7c;
const CLOSE_BRACKET = 0x5d;

export function cipherName(key: Uint8Array): 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc' | undefined {
  switch (key.length) {
    case 16:
      return 'aes-128-cbc';
    case 24:
      return 'aes-192-cbc';
    case 32:
      return 'aes-256-cbc';
    default:
      return undefined;
  }
}

/** How many pad characters make `<pad>|<content>` a multiple of 16 (1..16). */
export function padLengthFor(contentLength: number): number {
  const rem = (contentLength + 1) % 16;
  return rem === 0 ? 16 : 16 - rem;
}

export function randomPad(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += PAD_ALPHABET[b % PAD_ALPHABET.length];
  return out;
}

/**
 * Encrypts `content` (everything that follows `[` in the clear form) and returns upper-case
 * hex. `pad` is for tests that need a fixed ciphertext; it must have the right length and must
 * not contain `|`, `[` or `]`.
 */
export function encryptContent(content: string, key: Uint8Array, pad?: string): string {
  const cipher = cipherName(key);
  if (!cipher) throw new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `DC-09 key must be 16, 24 or 32 bytes, got ${key.length}`);
  const want = padLengthFor(content.length);
  const usePad = pad ?? randomPad(want);
  if (usePad.length !== want || !/^[\x20-\x7e]*$/.test(usePad) || /[|[\]]/.test(usePad)) {
    throw new ShouwangError(
      ErrorCodes.PAYLOAD_INVALID,
      `DC-09 pad must be ${want} printable characters without '|', '[' or ']'`,
    );
  }
  const plain = Buffer.from(`${usePad}|${content}`, 'latin1');
  const c = createCipheriv(cipher, key, ZERO_IV);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(plain), c.final()]).toString('hex').toUpperCase();
}

/**
 * DC-09 uses no PKCS#7, but some senders leave their AES library's default padding on: the
 * ioBroker adapter's encrypted ACK (`<NUL pad>|]_<ts>`, already 32 bytes) arrives as 48 bytes,
 * the last block all 0x10. A DC-09 plaintext ends in printable ASCII (the timestamp or `]`), never
 * in a byte 0x01-0x10, so a valid PKCS#7 tail can be recognised and dropped without ambiguity.
 */
function stripPkcs7(plain: Buffer): Buffer {
  const n = plain[plain.length - 1] ?? 0;
  if (n < 1 || n > 16 || n > plain.length) return plain;
  for (let i = plain.length - n; i < plain.length; i++) if (plain[i] !== n) return plain;
  return plain.subarray(0, plain.length - n);
}

export type DecryptResult = { ok: true; content: string } | { ok: false; message: string };

/**
 * Reverses `encryptContent`. Never throws: a wrong key shows up as a plaintext without the
 * pad separator or with unprintable bytes after it, and is reported as such.
 */
export function decryptContent(hex: string, key: Uint8Array, opts: { allowMissingSeparator?: boolean } = {}): DecryptResult {
  const cipher = cipherName(key);
  if (!cipher) return { ok: false, message: `key for this account is ${key.length} bytes, not 16, 24 or 32` };
  if (hex.length === 0 || !HEX_RE.test(hex)) return { ok: false, message: 'encrypted block is not hex' };
  if (hex.length % 32 !== 0) {
    return { ok: false, message: `encrypted block is ${hex.length / 2} bytes, not a multiple of 16` };
  }
  let plain: Buffer;
  try {
    const d = createDecipheriv(cipher, key, ZERO_IV);
    d.setAutoPadding(false);
    plain = Buffer.concat([d.update(Buffer.from(hex, 'hex')), d.final()]);
  } catch (err) {
    return { ok: false, message: `AES decryption failed: ${err instanceof Error ? err.message : String(err)}` };
  }
  plain = stripPkcs7(plain);
  const pipe = plain.indexOf(PIPE);
  const close = plain.indexOf(CLOSE_BRACKET);
  let start: number;
  if (pipe >= 0 && (close < 0 || pipe < close)) start = pipe + 1;
  else if (opts.allowMissingSeparator && close >= 0) {
    // pysiaalarm-style response: `000…0]_timestamp`, the pad runs up to the (empty) data's `]`.
    start = close;
  } else return { ok: false, message: 'no pad separator after decryption (wrong key?)' };
  if (!isPrintableAscii(plain, start)) return { ok: false, message: 'decrypted content is not printable ASCII (wrong key?)' };
  return { ok: true, content: plain.toString('latin1', start) };
}
