/**
 * Privacy building blocks: the key file, field encryption bound to row + field, masking, card
 * and ID-number hashing, and "no biometric / photo / PIN field can be written" — at the
 * schema level (strict zod), at the refusal level (forbidden words with a reason), and at the
 * database level (no such column in any table).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { forbiddenFields, isForbiddenKey } from '../../gateway/src/access/forbidden-fields.js';
import { mask, maskIdNumber, maskName, maskPhone, PiiCrypto, loadOrCreateKeyFile } from '../../gateway/src/access/pii-crypto.js';
import { buildingPatchSchema, credentialPatchSchema, roomPatchSchema, tenantPatchSchema } from '../../gateway/src/access/registry.js';
import { buildingSchema, credentialInputSchema, roomSchema, tenantInputSchema } from '../../gateway/src/access/types.js';
import { AccessModule } from '../../gateway/src/access/access-module.js';
import { silentLogger } from '../../gateway/src/log.js';
import { openStore } from '../../gateway/src/store/store.js';
import { accessFixture, ID_NUMBERS, seedBuilding, T0, DAY, type AccessFixture } from './access-fixtures.js';

const dirs: string[] = [];
const fixtures: AccessFixture[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sw-pii-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const f of fixtures.splice(0)) f.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const FORBIDDEN = ['fingerprint', 'template', 'photo', 'face', 'pin', 'password'] as const;

describe('key file', () => {
  it('is created on first run with 32 random bytes and mode 0600, then reused', () => {
    const file = join(tempDir(), 'nested', 'pii.key');
    const first = loadOrCreateKeyFile(file);
    expect(first.created).toBe(true);
    expect(first.key).toHaveLength(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = loadOrCreateKeyFile(file);
    expect(second.created).toBe(false);
    expect(second.key.equals(first.key)).toBe(true);
    // Two installations get different keys.
    expect(loadOrCreateKeyFile(join(tempDir(), 'pii.key')).key.equals(first.key)).toBe(false);
  });

  it('refuses a key file of the wrong size and warns about loose permissions', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'short.key'), Buffer.alloc(16));
    expect(() => loadOrCreateKeyFile(join(dir, 'short.key'))).toThrow(/holds 16 bytes, expected 32/);
    writeFileSync(join(dir, 'loose.key'), Buffer.alloc(32, 7));
    chmodSync(join(dir, 'loose.key'), 0o644);
    expect(loadOrCreateKeyFile(join(dir, 'loose.key')).permissionWarning).toMatch(/readable by other users.*chmod 600/);
    expect(() => loadOrCreateKeyFile(join(dir, 'missing.key'), { create: false })).toThrow(/key file is missing/);
  });
});

describe('the access module and its key file', () => {
  it('creates the key on first run, reuses it, and refuses to start without it once data exists', () => {
    const dir = tempDir();
    const store = openStore({ dir });
    try {
      const first = new AccessModule({ store, dataDir: dir, log: silentLogger() });
      expect(first.keyFile).toBe(join(dir, 'pii.key'));
      expect(statSync(first.keyFile).mode & 0o777).toBe(0o600);
      first.registry.createTenant({ id: 'T-1', idNumber: ID_NUMBERS[0] });
      const again = new AccessModule({ store, dataDir: dir, log: silentLogger() });
      expect(again.registry.getTenant('T-1', { unmask: true })?.idNumber).toBe(ID_NUMBERS[0]);

      rmSync(first.keyFile);
      expect(() => new AccessModule({ store, dataDir: dir, log: silentLogger() })).toThrow(/key file is missing; the database .* holds personal data encrypted with key id [0-9a-f]{16}: restore that key file/);
      // A fresh key in its place is refused too: it would make the stored fields unusable.
      writeFileSync(first.keyFile, Buffer.alloc(32, 9), { mode: 0o600 });
      expect(() => new AccessModule({ store, dataDir: dir, log: silentLogger() })).toThrow(/does not match this database/);
    } finally {
      store.close();
    }
  });
});

describe('field encryption', () => {
  const a = new PiiCrypto(Buffer.alloc(32, 1));
  const b = new PiiCrypto(Buffer.alloc(32, 2));

  it('round-trips, with a fresh IV every time', () => {
    const c1 = a.encrypt(ID_NUMBERS[0], 'tenant:T-1:idNumber');
    const c2 = a.encrypt(ID_NUMBERS[0], 'tenant:T-1:idNumber');
    expect(c1).not.toBe(c2);
    expect(c1).not.toContain(ID_NUMBERS[0]);
    expect(a.decrypt(c1, 'tenant:T-1:idNumber')).toBe(ID_NUMBERS[0]);
    expect(a.decrypt(a.encrypt('张三丰', 'tenant:T-1:name'), 'tenant:T-1:name')).toBe('张三丰');
  });

  it('does not decrypt in another row, another field, with another key, or when altered', () => {
    const c = a.encrypt(ID_NUMBERS[0], 'tenant:T-1:idNumber');
    expect(() => a.decrypt(c, 'tenant:T-2:idNumber')).toThrow(/does not decrypt/);
    expect(() => a.decrypt(c, 'tenant:T-1:name')).toThrow(/does not decrypt/);
    expect(() => b.decrypt(c, 'tenant:T-1:idNumber')).toThrow(/does not decrypt/);
    const parts = c.split('.');
    const ct = Buffer.from(parts[2]!, 'base64url');
    ct[0]! ^= 1;
    parts[2] = ct.toString('base64url');
    expect(() => a.decrypt(parts.join('.'), 'tenant:T-1:idNumber')).toThrow(/does not decrypt/);
    expect(() => a.decrypt('plain text', 'x')).toThrow(/unknown format/);
  });

  it('hashes card numbers per installation, the same card however it was written', () => {
    const h = a.hashCard(123456);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(a.hashCard('00123456')).toBe(h);
    expect(a.hashCard(' 123 456 ')).toBe(h);
    expect(a.hashCard(123457)).not.toBe(h);
    expect(b.hashCard(123456)).not.toBe(h);
    expect(a.hashIdNumber('44030519850505678x')).toBe(a.hashIdNumber('44030519850505678X'));
    expect(a.keyId).not.toBe(b.keyId);
  });
});

describe('masking', () => {
  it('shows the first four and last four characters of an ID number', () => {
    expect(mask('440106199001011234')).toBe('4401**********1234');
    expect(maskIdNumber('44030519850505678X')).toBe('4403**********678X');
    // Never more than half of a short value.
    expect(maskIdNumber('12345678')).toBe('12****78');
  });
  it('keeps the family name and the phone prefix/suffix', () => {
    expect(maskName('张三丰')).toBe('张**');
    expect(maskName('李四')).toBe('李*');
    expect(maskName('王')).toBe('*');
    expect(maskPhone('13812345678')).toBe('138****5678');
  });
});

describe('no biometric, photo or PIN field can be written', () => {
  const base = {
    building: { id: 'A', site: 's', name: 'A' },
    room: { id: 'R-1', building: 'A', number: '1' },
    tenant: { id: 'T-1' },
    credential: { id: 'C-1', tenant: 'T-1', room: 'R-1', kind: 'lock_slot', door: 'lock-1', slot: 1, validFrom: 0, validTo: 1 },
  };
  const schemas = [
    ['building', buildingSchema, base.building],
    ['room', roomSchema, base.room],
    ['tenant', tenantInputSchema, base.tenant],
    ['credential', credentialInputSchema, base.credential],
    ['building patch', buildingPatchSchema, {}],
    ['room patch', roomPatchSchema, {}],
    ['tenant patch', tenantPatchSchema, {}],
    ['credential patch', credentialPatchSchema, {}],
  ] as const;

  it.each(schemas)('the %s schema is strict: every forbidden key is refused', (_name, schema, valid) => {
    expect(schema.safeParse(valid).success).toBe(true);
    for (const key of [...FORBIDDEN, 'fingerprintTemplate', 'face_image', 'photoUrl', 'pinCode']) {
      expect(schema.safeParse({ ...valid, [key]: 'x' }).success, key).toBe(false);
    }
  });

  it('names the forbidden key and the reason, at any depth; values and innocent words pass', () => {
    for (const key of [...FORBIDDEN, 'PIN', 'faceImage', 'fingerprint_template', 'idPhoto', 'doorPassword']) expect(isForbiddenKey(key), key).toBe(true);
    for (const key of ['mapping', 'opinion', 'surface', 'method', 'name', 'idNumber', 'cardNumber', 'shipping']) expect(isForbiddenKey(key), key).toBe(false);
    const found = forbiddenFields({ id: 'T-1', method: 'fingerprint', extra: [{ photo: 'x' }], nested: { pinCode: '1234' } });
    expect(found.map((f) => f.path)).toEqual(['extra.0.photo', 'nested.pinCode']);
    expect(found[0]!.message).toMatch(/field "photo" refused: the gateway never stores biometrics/);
  });

  it('the registry refuses them with that reason, and writes nothing', () => {
    const f = accessFixture();
    fixtures.push(f);
    seedBuilding(f.registry);
    for (const key of FORBIDDEN) {
      expect(() => f.registry.createTenant({ id: `T-${key}`, [key]: 'x' } as never)).toThrow(new RegExp(`"${key}" refused: the gateway never stores`));
      expect(f.registry.getTenant(`T-${key}`)).toBeUndefined();
    }
    f.registry.createTenant({ id: 'T-1' });
    expect(() => f.registry.updateTenant('T-1', { photo: 'x' } as never)).toThrow(/"photo" refused/);
    expect(() =>
      f.registry.createCredential({ id: 'C-1', tenant: 'T-1', room: 'R-101', kind: 'lock_slot', door: 'lock-101', slot: 1, validFrom: T0, validTo: T0 + DAY, template: 'AAAA' } as never),
    ).toThrow(/"template" refused/);
    expect(f.registry.listCredentials()).toEqual([]);
  });

  it('no table of the store has a column for them', () => {
    const dir = tempDir();
    const store = openStore({ dir });
    try {
      const tables = store.database.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as Array<{ name: string }>;
      const columns = tables.flatMap((t) => (store.database.prepare(`PRAGMA table_info(${t.name})`).all() as Array<{ name: string }>).map((c) => `${t.name}.${c.name}`));
      expect(columns).toEqual(expect.arrayContaining(['tenants.name_enc', 'tenants.id_number_enc', 'credentials.card_hash']));
      expect(columns.filter((c) => isForbiddenKey(c.split('.')[1]!))).toEqual([]);
      // Card numbers are stored as hashes only, names and ID numbers only encrypted.
      expect(columns.filter((c) => /^(tenants|credentials|access_log)\.(name|id_number|card|card_number|phone)$/.test(c))).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('encrypts at rest: the database file holds no name, ID number, phone or card number in clear', () => {
    const f = accessFixture();
    fixtures.push(f);
    seedBuilding(f.registry);
    f.registry.createTenant({ id: 'T-1', name: '张三丰', idNumber: ID_NUMBERS[0], phone: '13812345678' });
    f.registry.createCredential({ id: 'C-1', tenant: 'T-1', room: 'R-101', kind: 'card', cardNumber: '98765432', validFrom: T0, validTo: T0 + DAY });
    f.store.database.pragma('wal_checkpoint(TRUNCATE)');
    const bytes = readFileSync(f.store.file);
    for (const secret of [ID_NUMBERS[0], '13812345678', '98765432', '张三丰']) expect(bytes.includes(Buffer.from(secret, 'utf8')), secret).toBe(false);
  });
});
