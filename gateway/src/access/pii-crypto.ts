/**
 * Personal fields at rest, and the salted hashes that stand in for card and ID numbers.
 *
 * - One 32-byte random master key per installation, in a file (default `<storage.dir>/pii.key`)
 *   created with mode 0600 on first run. Three keys are derived from it with HKDF-SHA256, so one
 *   file is the whole secret: AES-256-GCM for names / ID numbers / phones, HMAC-SHA256 for card
 *   numbers, HMAC-SHA256 for ID numbers (to find a person by ID number without decrypting every
 *   row: 查人知住).
 * - Each ciphertext is bound (GCM additional data) to the row and field it belongs to, so a
 *   ciphertext copied into another tenant's row, or from `name` into `idNumber`, does not decrypt.
 * - Card numbers are never stored: only HMAC(card key, normalised number). A per-install key
 *   means a leaked database cannot be matched against a list of card numbers without the key file.
 *
 * What this protects: a copy of the database (a backup, a stolen disk image without the key file)
 * reveals no names, ID numbers, phones or card numbers. It does not protect against someone who
 * has both files: keep `keyFile` outside the data directory where that matters, and back it up
 * separately (lose it and the personal fields are gone and cards no longer match).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCodes, ShouwangError, errorMessage } from '../errors.js';

export const PII_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const BLOB_VERSION = 'v1';

export interface PiiKeyFile {
  key: Buffer;
  file: string;
  /** True when this call created the file (first run). */
  created: boolean;
  /** Set when the file is readable by group or others (the caller logs it). */
  permissionWarning?: string;
}

/**
 * Read the master key, or create it (32 random bytes, mode 0600) when the file does not exist.
 * Creation is exclusive (write a temp file, then hard-link it into place, which fails if another
 * process got there first), so two processes never end up with different keys.
 */
export function loadOrCreateKeyFile(file: string, opts: { create?: boolean } = {}): PiiKeyFile {
  if (!existsSync(file)) {
    if (opts.create === false) {
      throw new ShouwangError(ErrorCodes.CONFIG_INVALID, `${file}: the personal-data key file is missing`, { details: { file } });
    }
    try {
      mkdirSync(dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        writeSync(fd, randomBytes(PII_KEY_BYTES));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      let linked = false;
      try {
        linkSync(tmp, file);
        linked = true;
      } catch (err) {
        // Another process created it first: use theirs.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        unlinkSync(tmp);
      }
      return { ...readKey(file), created: linked };
    } catch (err) {
      if (err instanceof ShouwangError) throw err;
      throw new ShouwangError(ErrorCodes.CONFIG_INVALID, `${file}: cannot create the personal-data key file: ${errorMessage(err)}`, {
        cause: err,
        details: { file },
      });
    }
  }
  return { ...readKey(file), created: false };
}

function readKey(file: string): Omit<PiiKeyFile, 'created'> {
  let key: Buffer;
  let mode: number;
  try {
    key = readFileSync(file);
    mode = statSync(file).mode;
  } catch (err) {
    throw new ShouwangError(ErrorCodes.CONFIG_INVALID, `${file}: cannot read the personal-data key file: ${errorMessage(err)}`, { cause: err, details: { file } });
  }
  if (key.length !== PII_KEY_BYTES) {
    throw new ShouwangError(
      ErrorCodes.CONFIG_INVALID,
      `${file}: the personal-data key file holds ${key.length} bytes, expected ${PII_KEY_BYTES} (is it the right file? restore it from backup)`,
      { details: { file, bytes: key.length } },
    );
  }
  const loose = mode & 0o077;
  return {
    key,
    file,
    ...(loose ? { permissionWarning: `${file} is readable by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it` } : {}),
  };
}

/**
 * `4401**********1234`: the first four characters (province + city: where the card was issued)
 * and the last four, the rest starred. Short values keep less (never more than half visible).
 */
export function maskIdNumber(idNumber: string): string {
  const s = idNumber.trim();
  if (s.length >= 12) return `${s.slice(0, 4)}${'*'.repeat(s.length - 8)}${s.slice(-4)}`;
  const keep = Math.floor(s.length / 4);
  return `${s.slice(0, keep)}${'*'.repeat(s.length - 2 * keep)}${keep > 0 ? s.slice(-keep) : ''}`;
}

/** The task's name for it: `mask(idNumber)`. */
export const mask = maskIdNumber;

/** `张*` / `张**`: the family name (first character) and a star for each other character. */
export function maskName(name: string): string {
  const chars = [...name.trim()];
  if (chars.length <= 1) return '*';
  return `${chars[0]}${'*'.repeat(chars.length - 1)}`;
}

/** `138****5678`: the first three and last four digits. */
export function maskPhone(phone: string): string {
  const s = phone.trim();
  if (s.length <= 7) return '*'.repeat(s.length);
  return `${s.slice(0, 3)}${'*'.repeat(s.length - 7)}${s.slice(-4)}`;
}

/**
 * One form per card whatever the reader or the person typing it produced: trimmed, spaces and
 * dashes removed, upper case, and for all-digit numbers leading zeros dropped (readers report
 * `00123456` and `123456` for the same card; the controller's u32 register has no zeros at all).
 */
export function normaliseCardNumber(card: string | number): string {
  const s = String(card).trim().replace(/[\s-]/g, '').toUpperCase();
  if (/^\d+$/.test(s)) return s.replace(/^0+(?=\d)/, '');
  return s;
}

export function normaliseIdNumber(idNumber: string): string {
  return idNumber.trim().toUpperCase();
}

export class PiiCrypto {
  private readonly encKey: Buffer;
  private readonly cardKey: Buffer;
  private readonly idKey: Buffer;
  /** A public, non-secret fingerprint of the key: stored in the database to catch a swapped key file. */
  readonly keyId: string;

  constructor(masterKey: Buffer) {
    if (masterKey.length !== PII_KEY_BYTES) throw new Error(`PII master key must be ${PII_KEY_BYTES} bytes`);
    const derive = (info: string) => Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), info, 32));
    this.encKey = derive('shouwang/pii/aes-256-gcm/v1');
    this.cardKey = derive('shouwang/card-hash/v1');
    this.idKey = derive('shouwang/id-number-hash/v1');
    this.keyId = derive('shouwang/key-id/v1').subarray(0, 8).toString('hex');
  }

  /** Open (or create) the key file and build the crypto from it. */
  static fromKeyFile(file: string, opts: { create?: boolean } = {}): { crypto: PiiCrypto; keyFile: PiiKeyFile } {
    const keyFile = loadOrCreateKeyFile(file, opts);
    return { crypto: new PiiCrypto(keyFile.key), keyFile };
  }

  /** `v1.<iv>.<ciphertext>.<tag>` (base64url), bound to `context` (e.g. `tenant:T-0001:idNumber`). */
  encrypt(plain: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [BLOB_VERSION, iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** Throws when the blob was altered, moved to another row/field, or made with another key. */
  decrypt(blob: string, context: string): string {
    const parts = blob.split('.');
    if (parts.length !== 4 || parts[0] !== BLOB_VERSION) throw new Error('not an encrypted personal field (unknown format)');
    const iv = Buffer.from(parts[1]!, 'base64url');
    const ct = Buffer.from(parts[2]!, 'base64url');
    const tag = Buffer.from(parts[3]!, 'base64url');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('not an encrypted personal field (bad lengths)');
    const decipher = createDecipheriv('aes-256-gcm', this.encKey, iv);
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
    } catch {
      // Never echo the blob or the context's value: just say it does not belong here.
      throw new Error('personal field does not decrypt with this key for this row (altered, moved, or another key file)');
    }
  }

  /** Salted hash of a card number (hex, 64 characters); the number itself is never stored. */
  hashCard(card: string | number): string {
    return createHmac('sha256', this.cardKey).update(normaliseCardNumber(card), 'utf8').digest('hex');
  }

  /** Salted hash of an ID-card number, for lookups by ID number. */
  hashIdNumber(idNumber: string): string {
    return createHmac('sha256', this.idKey).update(normaliseIdNumber(idNumber), 'utf8').digest('hex');
  }
}
