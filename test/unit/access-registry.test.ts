/**
 * The registry on a real SQLite file: CRUD, masking, overlapping leases, state transitions
 * with history, unknown references, bulk import all-or-nothing (JSON and CSV), and resolve().
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAccessError, type AccessError } from '../../gateway/src/access/errors.js';
import { PiiCrypto } from '../../gateway/src/access/pii-crypto.js';
import { batchFromCsv, batchFromJson, importBatch, parseTime } from '../../gateway/src/access/registry-import.js';
import { Registry } from '../../gateway/src/access/registry.js';
import { accessFixture, DAY, ID_NUMBERS, seedBuilding, T0, type AccessFixture } from './access-fixtures.js';

let f: AccessFixture;
let r: Registry;
beforeEach(() => {
  f = accessFixture();
  r = f.registry;
  seedBuilding(r);
});
afterEach(() => f.close());

function refusal(fn: () => unknown): AccessError {
  try {
    fn();
  } catch (e) {
    if (isAccessError(e)) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

const slot = (id: string, over: Record<string, unknown> = {}) => ({
  id,
  tenant: 'T-1',
  room: 'R-101',
  kind: 'lock_slot' as const,
  door: 'lock-101',
  slot: 7,
  validFrom: T0,
  validTo: T0 + 180 * DAY,
  ...over,
});

describe('buildings and rooms', () => {
  it('creates, reads, updates and deletes, refusing what would break references', () => {
    expect(r.listBuildings().map((b) => b.id)).toEqual(['A']);
    expect(r.listRooms({ building: 'A' }).map((x) => x.id)).toEqual(['R-101', 'R-102', 'R-103']);
    expect(r.getRoom('R-101')).toMatchObject({ building: 'A', number: '101', floor: '1', doors: ['lock-101'] });
    expect(r.roomOfDoor('lock-102')?.id).toBe('R-102');
    expect(r.listRooms({ door: 'lock-103' }).map((x) => x.id)).toEqual(['R-103']);

    const upd = r.updateRoom('R-101', { linkageGroup: 'G1', doors: ['lock-101', 'lock-101b'] });
    expect(upd).toMatchObject({ linkageGroup: 'G1', doors: ['lock-101', 'lock-101b'] });
    expect(r.updateRoom('R-101', { linkageGroup: null }).linkageGroup).toBeUndefined();
    expect(r.updateBuilding('A', { address: '新安村七巷 7 号' }).address).toBe('新安村七巷 7 号');

    expect(refusal(() => r.deleteBuilding('A'))).toMatchObject({ kind: 'conflict', message: expect.stringMatching(/still has 3 room/) });
    r.deleteRoom('R-103');
    expect(r.getRoom('R-103')).toBeUndefined();
    expect(refusal(() => r.deleteRoom('R-103')).kind).toBe('not_found');
  });

  it('refuses an unknown building, a duplicate number, a door that belongs to another room', () => {
    const e = refusal(() => r.createRoom({ id: 'R-9', building: 'B9', number: '9' }));
    expect(e).toMatchObject({ kind: 'invalid', issues: [{ path: 'building', message: 'no building B9 in the registry' }] });
    expect(refusal(() => r.createRoom({ id: 'R-9', building: 'A', number: '101' })).message).toMatch(/already has a room numbered 101 \(R-101\)/);
    expect(refusal(() => r.createRoom({ id: 'R-9', building: 'A', number: '9', doors: ['lock-102'] })).message).toMatch(/door lock-102 already belongs to room R-102/);
    expect(refusal(() => r.createRoom({ id: 'R-9', building: 'A' } as never))).toMatchObject({ kind: 'invalid', issues: [{ path: 'number' }] });
    expect(r.getRoom('R-9')).toBeUndefined();
  });
});

describe('tenants', () => {
  it('stores personal fields encrypted and shows them masked unless unmasked', () => {
    const view = r.createTenant({ id: 'T-1', name: '张三丰', idNumber: ID_NUMBERS[0], phone: '13812345678', note: '302 租客' });
    expect(view).toEqual({ id: 'T-1', name: '张**', idNumber: '4401**********1234', phone: '138****5678', note: '302 租客', createdAt: T0 });
    expect(r.getTenant('T-1', { unmask: true })).toMatchObject({ name: '张三丰', idNumber: ID_NUMBERS[0], phone: '13812345678' });
    const row = f.store.database.prepare('SELECT * FROM tenants WHERE id = ?').get('T-1') as Record<string, unknown>;
    expect(JSON.stringify(row)).not.toMatch(/张三丰|440106199001011234|13812345678/);
    expect(row.name_enc).toMatch(/^v1\./);
  });

  it('updates fields, clears them with null, and finds a person by ID number (查人知住)', () => {
    r.createTenant({ id: 'T-1', name: '张三丰', idNumber: ID_NUMBERS[0] });
    r.updateTenant('T-1', { phone: '13812345678', name: null });
    expect(r.getTenant('T-1', { unmask: true })).toMatchObject({ idNumber: ID_NUMBERS[0], phone: '13812345678' });
    expect(r.getTenant('T-1')?.name).toBeUndefined();
    expect(r.findTenantByIdNumber(ID_NUMBERS[0])?.id).toBe('T-1');
    expect(r.findTenantByIdNumber(ID_NUMBERS[1])).toBeUndefined();
    expect(refusal(() => r.findTenantByIdNumber('12345')).kind).toBe('invalid');
  });

  it('refuses a second tenant with the same ID number, and a bad ID number, without echoing it', () => {
    r.createTenant({ id: 'T-1', idNumber: ID_NUMBERS[1] });
    const dup = refusal(() => r.createTenant({ id: 'T-2', idNumber: ID_NUMBERS[1].toLowerCase() }));
    expect(dup).toMatchObject({ kind: 'conflict', message: 'another tenant (T-1) is registered with this ID number' });
    const bad = refusal(() => r.createTenant({ id: 'T-3', idNumber: '44010619900101123' }));
    expect(bad.issues).toEqual([{ path: 'idNumber', message: expect.stringMatching(/17 digits and a check digit/) }]);
    expect(bad.message).not.toContain('44010619900101123');
  });

  it('erases personal data on request, but not while a credential is active', () => {
    r.createTenant({ id: 'T-1', name: '张三丰', idNumber: ID_NUMBERS[0] });
    r.createCredential(slot('C-1'));
    expect(refusal(() => r.eraseTenant('T-1')).message).toMatch(/still holds active credential C-1/);
    r.setCredentialState('C-1', 'returned', 'mgr', 'moved out');
    f.clock.now += 1000;
    r.eraseTenant('T-1');
    expect(r.getTenant('T-1', { unmask: true })).toEqual({ id: 'T-1', createdAt: T0, erasedAt: T0 + 1000 });
    expect(r.findTenantByIdNumber(ID_NUMBERS[0])).toBeUndefined();
    expect(refusal(() => r.createCredential(slot('C-2', { slot: 8 }))).message).toMatch(/T-1 was erased/);
  });
});

describe('credentials: leases, overlaps, states', () => {
  beforeEach(() => {
    r.createTenant({ id: 'T-1' });
    r.createTenant({ id: 'T-2' });
  });

  it('refuses a second active credential on the same lock slot with an overlapping lease, naming the first', () => {
    r.createCredential(slot('C-1'));
    const e = refusal(() => r.createCredential(slot('C-2', { tenant: 'T-2', validFrom: T0 + 90 * DAY, validTo: T0 + 365 * DAY })));
    expect(e.kind).toBe('conflict');
    expect(e.message).toMatch(/C-2 .* overlaps active credential C-1 of tenant T-1, room R-101 on door lock-101 slot 7/);
    // Back to back is fine ([from, to) leases), and so is another slot or another door.
    r.createCredential(slot('C-2', { tenant: 'T-2', validFrom: T0 + 180 * DAY, validTo: T0 + 365 * DAY }));
    r.createCredential(slot('C-3', { slot: 8 }));
    r.createCredential(slot('C-4', { tenant: 'T-2', room: 'R-102', door: 'lock-102' }));
    expect(r.listCredentials({ door: 'lock-101' }).map((c) => c.id)).toEqual(['C-1', 'C-2', 'C-3']);
  });

  it('refuses the same card twice however it is written, and frees a slot once the first is returned', () => {
    r.createCredential({ id: 'K-1', tenant: 'T-1', room: 'R-101', kind: 'card', cardNumber: '00012345', validFrom: T0, validTo: T0 + 30 * DAY });
    expect(r.getCredential('K-1')).toMatchObject({ cardHash: f.crypto.hashCard('12345') });
    expect(JSON.stringify(r.getCredential('K-1'))).not.toContain('12345');
    expect(refusal(() => r.createCredential({ id: 'K-2', tenant: 'T-2', room: 'R-102', kind: 'card', cardNumber: '12345', validFrom: T0, validTo: T0 + DAY })).message).toMatch(
      /overlaps active credential K-1 .* on the same card/,
    );
    r.setCredentialState('K-1', 'returned', 'mgr');
    r.createCredential({ id: 'K-2', tenant: 'T-2', room: 'R-102', kind: 'card', cardNumber: '12345', validFrom: T0, validTo: T0 + DAY });
  });

  it('re-checks overlaps when a lease is extended or a lost credential is found again', () => {
    r.createCredential(slot('C-1', { validTo: T0 + 30 * DAY }));
    r.createCredential(slot('C-2', { tenant: 'T-2', validFrom: T0 + 30 * DAY, validTo: T0 + 60 * DAY }));
    expect(refusal(() => r.updateCredential('C-1', { validTo: T0 + 31 * DAY })).kind).toBe('conflict');
    expect(refusal(() => r.updateCredential('C-1', { validTo: T0 - 1 })).issues[0]).toMatchObject({ path: 'validTo' });
    r.setCredentialState('C-1', 'lost', 'mgr', 'tenant lost the card');
    r.updateCredential('C-1', { validTo: T0 + 31 * DAY });
    expect(refusal(() => r.setCredentialState('C-1', 'active', 'mgr')).message).toMatch(/overlaps active credential C-2/);
  });

  it('allows active -> lost -> active -> returned, refuses leaving a final state, and records each step', () => {
    r.createCredential(slot('C-1'), 'mgr-wang', 'lease signed');
    f.clock.now = T0 + 1000;
    r.setCredentialState('C-1', 'lost', 'mgr-wang', 'card lost');
    f.clock.now = T0 + 2000;
    r.setCredentialState('C-1', 'active', 'mgr-li', 'found');
    f.clock.now = T0 + 3000;
    r.setCredentialState('C-1', 'returned', 'mgr-li', 'moved out');
    expect(refusal(() => r.setCredentialState('C-1', 'active', 'mgr'))).toMatchObject({ kind: 'conflict', message: expect.stringMatching(/is returned; it can become nothing else/) });
    expect(refusal(() => r.setCredentialState('C-1', 'cancelled', 'mgr')).kind).toBe('conflict');
    expect(r.credentialHistory('C-1').map(({ from, to, at, by, note }) => ({ from, to, at, by, note }))).toEqual([
      { from: null, to: 'active', at: T0, by: 'mgr-wang', note: 'lease signed' },
      { from: 'active', to: 'lost', at: T0 + 1000, by: 'mgr-wang', note: 'card lost' },
      { from: 'lost', to: 'active', at: T0 + 2000, by: 'mgr-li', note: 'found' },
      { from: 'active', to: 'returned', at: T0 + 3000, by: 'mgr-li', note: 'moved out' },
    ]);
    expect(() => f.store.database.prepare('UPDATE credential_history SET by = ?').run('x')).toThrow(/append-only/);
  });

  it('gives clear errors for unknown rooms and tenants, and for keys that do not fit the kind', () => {
    expect(refusal(() => r.createCredential(slot('C-1', { room: 'R-999' })))).toMatchObject({ kind: 'invalid', message: 'room: no room R-999 in the registry', issues: [{ path: 'room' }] });
    expect(refusal(() => r.createCredential(slot('C-1', { tenant: 'T-999' }))).message).toBe('tenant: no tenant T-999 in the registry');
    expect(refusal(() => r.createCredential(slot('C-1', { door: 'lock-102' }))).message).toMatch(/door lock-102 is the door of room R-102, not of room R-101/);
    expect(refusal(() => r.createCredential(slot('C-1', { slot: 0 }))).message).toMatch(/slot 0 means "no user"/);
    expect(refusal(() => r.createCredential(slot('C-1', { slot: undefined }))).message).toMatch(/needs slot and door/);
    expect(refusal(() => r.createCredential({ id: 'K-1', tenant: 'T-1', room: 'R-101', kind: 'card', cardNumber: '1234', door: 'lock-101', validFrom: T0, validTo: T0 + 1 })).issues).toEqual([
      { path: 'door', message: expect.stringMatching(/card credential has no door/) },
    ]);
    // An entrance controller belongs to no room: a slot on it may be bound to any room.
    r.createCredential(slot('C-1', { door: 'gate-A' }));
    expect(r.listCredentials()).toHaveLength(1);
  });
});

describe('resolve()', () => {
  beforeEach(() => {
    r.createTenant({ id: 'T-1' });
    r.createTenant({ id: 'T-2' });
    r.createTenant({ id: 'T-3' });
    r.createCredential(slot('C-1', { validTo: T0 + 30 * DAY }));
    r.createCredential(slot('C-2', { tenant: 'T-2', room: 'R-102', door: 'lock-102', slot: 3, validFrom: T0 + 10 * DAY, validTo: T0 + 40 * DAY }));
    r.createCredential(slot('C-D', { slot: 9, duress: true }));
    r.createCredential({ id: 'K-1', tenant: 'T-3', room: 'R-103', kind: 'card', cardNumber: '5551234', validFrom: T0, validTo: T0 + 30 * DAY });
    r.createCredential(slot('C-L', { tenant: 'T-3', room: 'R-103', door: 'lock-103', slot: 1 }));
    r.setCredentialState('C-L', 'lost', 'mgr');
    r.createCredential(slot('C-R', { tenant: 'T-3', room: 'R-103', door: 'lock-103', slot: 2 }));
    r.setCredentialState('C-R', 'returned', 'mgr');
    r.createCredential(slot('C-C', { tenant: 'T-3', room: 'R-103', door: 'lock-103', slot: 4 }));
    r.setCredentialState('C-C', 'cancelled', 'mgr');
  });

  const at = (door: string, slotNo: number | undefined, ts: number, method = 'fingerprint' as const) => r.resolve({ door, ...(slotNo === undefined ? {} : { slot: slotNo }), method, ts });

  it('registered within the lease, with tenant, room and building', () => {
    expect(at('lock-101', 7, T0 + DAY)).toEqual({ resolution: 'registered', credential: 'C-1', tenant: 'T-1', room: 'R-101', building: 'A', duress: false });
  });
  it('expired before validFrom and at/after validTo ([from, to))', () => {
    expect(at('lock-102', 3, T0 + 10 * DAY - 1)).toMatchObject({ resolution: 'expired', credential: 'C-2', tenant: 'T-2' });
    expect(at('lock-102', 3, T0 + 10 * DAY)).toMatchObject({ resolution: 'registered' });
    expect(at('lock-101', 7, T0 + 30 * DAY)).toMatchObject({ resolution: 'expired', credential: 'C-1' });
  });
  it('lost, returned and cancelled credentials say so', () => {
    expect(at('lock-103', 1, T0 + DAY)).toMatchObject({ resolution: 'lost', credential: 'C-L', tenant: 'T-3' });
    expect(at('lock-103', 2, T0 + DAY)).toMatchObject({ resolution: 'returned', credential: 'C-R' });
    expect(at('lock-103', 4, T0 + DAY)).toMatchObject({ resolution: 'cancelled', credential: 'C-C' });
  });
  it('a stranger is unregistered, placed in the room of the door; slot 0 means no user', () => {
    expect(at('lock-101', 42, T0 + DAY)).toEqual({ resolution: 'unregistered', room: 'R-101', building: 'A', duress: false });
    expect(at('lock-101', 0, T0 + DAY)).toMatchObject({ resolution: 'unregistered' });
    expect(at('gate-X', 7, T0 + DAY)).toEqual({ resolution: 'unregistered', duress: false });
  });
  it('a slot is per door: slot 7 on another lock is not C-1', () => {
    expect(at('lock-102', 7, T0 + DAY)).toMatchObject({ resolution: 'unregistered', room: 'R-102' });
  });
  it('remote, key and temporary codes carry no credential', () => {
    for (const method of ['remote', 'key', 'temp_code'] as const) expect(at('lock-101', 7, T0 + DAY, method as never)).toMatchObject({ resolution: 'no_credential', room: 'R-101' });
  });
  it('a duress credential resolves with duress', () => {
    expect(at('lock-101', 9, T0 + DAY)).toMatchObject({ resolution: 'registered', credential: 'C-D', duress: true });
  });
  it('a card resolves at any door by its hash', () => {
    const cardHash = r.hashCard('05551234');
    expect(r.resolve({ door: 'gate-A', cardHash, method: 'card', ts: T0 + DAY })).toEqual({
      resolution: 'registered',
      credential: 'K-1',
      tenant: 'T-3',
      room: 'R-103',
      building: 'A',
      duress: false,
    });
    expect(r.resolve({ door: 'gate-A', cardHash: r.hashCard('999'), method: 'card', ts: T0 + DAY }).resolution).toBe('unregistered');
  });
  it('after a move-out and a new lease on the same slot, the new tenant is found', () => {
    r.setCredentialState('C-1', 'returned', 'mgr');
    r.createCredential(slot('C-NEW', { tenant: 'T-2', validFrom: T0 + 5 * DAY, validTo: T0 + 100 * DAY }));
    expect(at('lock-101', 7, T0 + 6 * DAY)).toMatchObject({ resolution: 'registered', credential: 'C-NEW', tenant: 'T-2' });
    expect(at('lock-101', 7, T0 + DAY)).toMatchObject({ resolution: 'returned', credential: 'C-1', tenant: 'T-1' });
  });
});

describe('bulk import', () => {
  const count = () => ({
    rooms: r.listRooms().length,
    tenants: r.tenantCount(),
    credentials: r.listCredentials().length,
    buildings: r.listBuildings().length,
  });

  it('creates buildings, rooms, tenants and credentials from one JSON document', () => {
    const res = importBatch(
      r,
      batchFromJson({
        buildings: [{ id: 'B', site: 'testvillage', name: 'B栋' }],
        rooms: [{ id: 'R-201', building: 'B', number: '201', doors: ['lock-201'] }],
        tenants: [{ id: 'T-10', name: '李四', idNumber: ID_NUMBERS[2] }],
        credentials: [{ id: 'C-10', tenant: 'T-10', room: 'R-201', kind: 'lock_slot', door: 'lock-201', slot: 1, validFrom: '2025-03-01', validTo: '2026-03-01' }],
      }),
      'mgr',
    );
    expect(res.created).toEqual({ buildings: 1, rooms: 1, tenants: 1, credentials: 1 });
    expect(r.getCredential('C-10')).toMatchObject({ validFrom: T0, validTo: Date.parse('2026-03-01T00:00:00+08:00') });
    expect(r.credentialHistory('C-10')[0]).toMatchObject({ by: 'mgr', note: 'import' });
  });

  it('writes nothing when any row fails, and names every failing row and field', () => {
    const before = count();
    const e = refusal(() =>
      importBatch(
        r,
        batchFromJson({
          rooms: [
            { id: 'R-201', building: 'A', number: '201' },
            { id: 'R-202', building: 'NOPE', number: '202' },
          ],
          tenants: [{ id: 'T-10' }, { id: 'T-11', idNumber: 'bad' }],
          credentials: [
            { id: 'C-10', tenant: 'T-10', room: 'R-201', kind: 'lock_slot', door: 'lock-201', slot: 1, validFrom: T0, validTo: T0 + DAY },
            { id: 'C-11', tenant: 'T-10', room: 'R-999', kind: 'lock_slot', door: 'lock-999', slot: 1, validFrom: T0, validTo: T0 + DAY },
            { id: 'C-12', tenant: 'T-10', room: 'R-201', kind: 'lock_slot', door: 'lock-201', slot: 1, validFrom: T0, validTo: T0 + DAY },
          ],
        }),
        'mgr',
      ),
    );
    expect(e.kind).toBe('invalid');
    expect(e.message).toMatch(/^invalid import \(nothing was written\)/);
    expect(e.issues).toEqual([
      { path: 'rooms.2.building', message: 'R-202: no building NOPE in the registry' },
      { path: 'tenants.2.idNumber', message: expect.stringMatching(/^T-11: ID-card numbers have 17 digits/) },
      { path: 'credentials.2.room', message: 'C-11: no room R-999 in the registry' },
      { path: 'credentials.3', message: expect.stringMatching(/^C-12: credential C-12 .* overlaps active credential C-10/) },
    ]);
    expect(count()).toEqual(before);
    expect(r.getRoom('R-201')).toBeUndefined();
    expect(r.getTenant('T-10')).toBeUndefined();
  });

  it('reads CSV with documented columns, line numbers in errors, and refuses forbidden columns', () => {
    const rooms = batchFromCsv('\uFEFFid,building,number,floor,doors,linkageGroup\r\nR-201,A,201,2,lock-201;lock-201b,G1\r\n"R-202",A,"202",2,,\r\n', 'rooms');
    const tenants = batchFromCsv('id,name,idNumber,phone,note\nT-10,"王, 五",440106199001011234,13800000000,"说 ""你好"""\n', 'tenants');
    const creds = batchFromCsv(
      'id,tenant,room,kind,door,slot,cardNumber,duress,validFrom,validTo,state\nC-10,T-10,R-201,lock_slot,lock-201,3,,是,2025-03-01T08:00,1767196800000,\nK-10,T-10,R-202,card,,,00778899,no,2025-03-01,2025-09-01T00:00:00Z,\n',
      'credentials',
    );
    importBatch(r, { ...rooms, ...tenants, ...creds }, 'mgr');
    expect(r.getRoom('R-201')).toMatchObject({ floor: '2', doors: ['lock-201', 'lock-201b'], linkageGroup: 'G1' });
    expect(r.getTenant('T-10', { unmask: true })).toMatchObject({ name: '王, 五', note: '说 "你好"' });
    expect(r.getCredential('C-10')).toMatchObject({ slot: 3, duress: true, validFrom: T0 + 8 * 3600_000, validTo: 1767196800000 });
    expect(r.getCredential('K-10')).toMatchObject({ cardHash: r.hashCard('778899'), duress: false, validTo: Date.parse('2025-09-01T00:00:00Z') });

    expect(refusal(() => batchFromCsv('id,name,fingerprint\nT-1,x,AAAA\n', 'tenants')).issues).toEqual([
      { path: 'tenants.header.fingerprint', message: expect.stringMatching(/column "fingerprint" refused: the gateway never stores/) },
    ]);
    expect(refusal(() => batchFromCsv('id,nmae\nT-1,x\n', 'tenants')).message).toMatch(/unknown column "nmae" \(column 2\); tenants columns are: id, name, idNumber, phone, note/);
    expect(refusal(() => batchFromCsv('id,name\nT-1,x,extra\n', 'tenants')).message).toMatch(/line 2 has 3 cells; the header has 2/);
    expect(refusal(() => batchFromCsv('id,name\nT-1,"never closed\n', 'tenants')).message).toMatch(/CSV line 2: a quoted field is never closed/);

    // A bad row in a CSV file is reported by its line.
    const bad = batchFromCsv('id,building,number\nR-301,A,301\n\nR-302,ZZ,302\n', 'rooms');
    const before = count();
    expect(refusal(() => importBatch(r, bad, 'mgr')).issues).toEqual([{ path: 'rooms.4.building', message: 'R-302: no building ZZ in the registry' }]);
    expect(count()).toEqual(before);
  });

  it('refuses forbidden fields in JSON rows, unknown sections, and empty imports', () => {
    expect(refusal(() => importBatch(r, batchFromJson([{ id: 'T-1', photo: 'x' }], 'tenants'), 'mgr')).issues[0]).toMatchObject({ path: 'tenants.1.photo' });
    expect(refusal(() => batchFromJson({ people: [] })).message).toMatch(/people: unknown section/);
    expect(refusal(() => batchFromJson([{ id: 'x' }])).message).toMatch(/JSON array needs \?type=/);
    expect(refusal(() => importBatch(r, {}, 'mgr')).message).toMatch(/nothing to import/);
  });

  it('parses times: epoch ms, dates and date-times in UTC+8 unless a zone is given', () => {
    expect(parseTime('1767196800000')).toBe(1767196800000);
    expect(parseTime('2025-03-01')).toBe(T0);
    expect(parseTime('2025-03-01 08:30')).toBe(T0 + 8.5 * 3600_000);
    expect(parseTime('2025-03-01T00:00:00Z')).toBe(Date.parse('2025-03-01T00:00:00Z'));
    expect(parseTime('next tuesday')).toBe('next tuesday');
  });
});

describe('the key file must match the database', () => {
  it('refuses to open the registry with another key', () => {
    const other = PiiCrypto.fromKeyFile(join(f.dir, 'other.key')).crypto;
    expect(() => new Registry({ table: f.store.registry, crypto: other })).toThrow(/key file does not match this database/);
    // The right key opens it again.
    expect(() => new Registry({ table: f.store.registry, crypto: f.crypto })).not.toThrow();
  });
});
