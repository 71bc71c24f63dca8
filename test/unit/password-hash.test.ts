import { describe, expect, it } from 'vitest';
import { hashPassword, parsePasswordHash, verifyPassword, verifyPasswordAsync } from '../../gateway/src/auth/password.js';
import { isShouwangError } from '../../gateway/src/errors.js';

const FAST = { N: 1024, r: 8, p: 1 };

describe('password hashing', () => {
  it('produces scrypt$N$r$p$salt$hash with the default cost', () => {
    const h = hashPassword('correct horse');
    const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(h);
    expect(m).not.toBeNull();
    expect(m!.slice(1, 4)).toEqual(['16384', '8', '1']);
    expect(Buffer.from(m![4]!, 'base64')).toHaveLength(16);
    expect(Buffer.from(m![5]!, 'base64')).toHaveLength(32);
  });

  it('verifies the right password and rejects a wrong one', () => {
    const h = hashPassword('s3cret-门锁', FAST);
    expect(verifyPassword('s3cret-门锁', h)).toBe(true);
    expect(verifyPassword('s3cret-门', h)).toBe(false);
    expect(verifyPassword('', h)).toBe(false);
  });

  it('salts: the same password hashes differently each time, and both verify', () => {
    const a = hashPassword('same', FAST);
    const b = hashPassword('same', FAST);
    expect(a).not.toBe(b);
    expect(verifyPassword('same', a) && verifyPassword('same', b)).toBe(true);
  });

  it('async verification agrees with sync verification', async () => {
    const h = hashPassword('pw', FAST);
    await expect(verifyPasswordAsync('pw', h)).resolves.toBe(true);
    await expect(verifyPasswordAsync('px', h)).resolves.toBe(false);
  });

  it('refuses an empty password', () => {
    expect(() => hashPassword('')).toThrow(/empty password/);
  });

  it.each([
    ['plain text', 'hunter2', /unknown scheme/],
    ['bcrypt', '$2b$10$abcdefghijklmnopqrstuv', /unknown scheme/],
    ['too few fields', 'scrypt$16384$8$1$c2FsdHNhbHQ=', /expected 6/],
    ['N not a power of two', 'scrypt$1000$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g=', /power of two/],
    ['N too large', `scrypt$${2 ** 24}$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g=`, /out of range/],
    ['r not a number', 'scrypt$1024$x$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g=', /r "x"/],
    ['salt not base64', 'scrypt$1024$8$1$!!!$aGFzaGhhc2hoYXNoaGFzaGhhc2g=', /salt is not base64/],
    ['hash too short', 'scrypt$1024$8$1$c2FsdHNhbHRzYWx0$aGFzaA==', /hash too short/],
  ])('rejects a malformed hash clearly: %s', (_name, stored, message) => {
    let err: unknown;
    try {
      verifyPassword('x', stored);
    } catch (e) {
      err = e;
    }
    expect(isShouwangError(err, 'SW_ERR_CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toMatch(/malformed password hash/);
  });

  it('parses what it produces', () => {
    const parsed = parsePasswordHash(hashPassword('x', FAST));
    expect(parsed).toMatchObject({ N: 1024, r: 8, p: 1 });
    expect(parsed.salt).toHaveLength(16);
  });
});
