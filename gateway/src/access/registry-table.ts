/**
 * The registry tables of migration 5 (buildings, rooms + room_doors, tenants, credentials,
 * credential_history, access_meta): plain synchronous SQL, no rules. Store exposes it as
 * `store.registry` (like `store.outbox`); access/registry.ts puts the rules on top (validation,
 * encryption, overlapping leases, state transitions, resolve).
 *
 * Tenants are stored as the registry hands them over: personal fields already encrypted.
 */
import type { SqliteDatabase } from '../store/sqlite.js';
import { AccessError } from './errors.js';
import type { Building, CredentialState, Room } from './types.js';

type Run = <T>(action: string, fn: () => T) => T;

export interface Stamped {
  createdAt: number;
  updatedAt: number;
}

export type StoredBuilding = Building & Stamped;
export type StoredRoom = Room & Stamped;

export interface StoredTenant extends Stamped {
  id: string;
  nameEnc?: string;
  idNumberEnc?: string;
  idNumberHash?: string;
  phoneEnc?: string;
  note?: string;
  erasedAt?: number;
}

export interface StoredCredential extends Stamped {
  id: string;
  tenant: string;
  room: string;
  kind: 'lock_slot' | 'card';
  door?: string;
  slot?: number;
  /** Salted hash of the card number (kind card). */
  cardHash?: string;
  duress: boolean;
  validFrom: number;
  validTo: number;
  state: CredentialState;
}

export interface CredentialHistoryEntry {
  seq: number;
  credential: string;
  from: CredentialState | null;
  to: CredentialState;
  at: number;
  by: string;
  note?: string;
}

export interface CredentialFilter {
  tenant?: string;
  room?: string;
  door?: string;
  state?: CredentialState;
  /** Only credentials whose lease covers this instant. */
  at?: number;
}

interface BuildingRow {
  id: string;
  site: string;
  name: string;
  address: string | null;
  created_at: number;
  updated_at: number;
}
interface RoomRow {
  id: string;
  building: string;
  number: string;
  floor: string | null;
  linkage_group: string | null;
  created_at: number;
  updated_at: number;
  doors: string | null;
}
interface TenantRow {
  id: string;
  name_enc: string | null;
  id_number_enc: string | null;
  id_number_hash: string | null;
  phone_enc: string | null;
  note: string | null;
  created_at: number;
  updated_at: number;
  erased_at: number | null;
}
interface CredentialRow {
  id: string;
  tenant: string;
  room: string;
  kind: 'lock_slot' | 'card';
  door: string | null;
  slot: number | null;
  card_hash: string | null;
  duress: 0 | 1;
  valid_from: number;
  valid_to: number;
  state: CredentialState;
  created_at: number;
  updated_at: number;
}
interface HistoryRow {
  seq: number;
  credential: string;
  from_state: CredentialState | null;
  to_state: CredentialState;
  at: number;
  by: string;
  note: string | null;
}

const opt = <K extends string, V>(key: K, v: V | null | undefined): { [P in K]?: V } =>
  (v === null || v === undefined ? {} : { [key]: v }) as { [P in K]?: V };

function toBuilding(r: BuildingRow): StoredBuilding {
  return { id: r.id, site: r.site, name: r.name, ...opt('address', r.address), createdAt: r.created_at, updatedAt: r.updated_at };
}
function toRoom(r: RoomRow): StoredRoom {
  return {
    id: r.id,
    building: r.building,
    number: r.number,
    ...opt('floor', r.floor),
    // group_concat order is unspecified: sort so that a room reads back the same every time.
    doors: r.doors ? r.doors.split('\u001f').sort() : [],
    ...opt('linkageGroup', r.linkage_group),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
function toTenant(r: TenantRow): StoredTenant {
  return {
    id: r.id,
    ...opt('nameEnc', r.name_enc),
    ...opt('idNumberEnc', r.id_number_enc),
    ...opt('idNumberHash', r.id_number_hash),
    ...opt('phoneEnc', r.phone_enc),
    ...opt('note', r.note),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    ...opt('erasedAt', r.erased_at),
  };
}
function toCredential(r: CredentialRow): StoredCredential {
  return {
    id: r.id,
    tenant: r.tenant,
    room: r.room,
    kind: r.kind,
    ...opt('door', r.door),
    ...opt('slot', r.slot),
    ...opt('cardHash', r.card_hash),
    duress: r.duress === 1,
    validFrom: r.valid_from,
    validTo: r.valid_to,
    state: r.state,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
function toHistory(r: HistoryRow): CredentialHistoryEntry {
  return { seq: r.seq, credential: r.credential, from: r.from_state, to: r.to_state, at: r.at, by: r.by, ...opt('note', r.note) };
}

const ROOM_SELECT = `SELECT r.*, (SELECT group_concat(d.door, char(31)) FROM room_doors d WHERE d.room = r.id) AS doors FROM rooms r`;

function prepare(db: SqliteDatabase) {
  return {
    insertBuilding: db.prepare('INSERT INTO buildings (id, site, name, address, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)'),
    updateBuilding: db.prepare('UPDATE buildings SET site = ?, name = ?, address = ?, updated_at = ? WHERE id = ?'),
    getBuilding: db.prepare('SELECT * FROM buildings WHERE id = ?'),
    deleteBuilding: db.prepare('DELETE FROM buildings WHERE id = ?'),
    roomsIn: db.prepare('SELECT COUNT(*) AS n FROM rooms WHERE building = ?'),

    insertRoom: db.prepare('INSERT INTO rooms (id, building, number, floor, linkage_group, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    updateRoom: db.prepare('UPDATE rooms SET building = ?, number = ?, floor = ?, linkage_group = ?, updated_at = ? WHERE id = ?'),
    getRoom: db.prepare(`${ROOM_SELECT} WHERE r.id = ?`),
    roomByNumber: db.prepare('SELECT id FROM rooms WHERE building = ? AND number = ?'),
    deleteRoom: db.prepare('DELETE FROM rooms WHERE id = ?'),
    insertDoor: db.prepare('INSERT INTO room_doors (room, door) VALUES (?, ?)'),
    deleteDoors: db.prepare('DELETE FROM room_doors WHERE room = ?'),
    roomOfDoor: db.prepare('SELECT room FROM room_doors WHERE door = ?'),
    credentialsIn: db.prepare('SELECT COUNT(*) AS n FROM credentials WHERE room = ?'),

    insertTenant: db.prepare(`INSERT INTO tenants (id, name_enc, id_number_enc, id_number_hash, phone_enc, note, created_at, updated_at, erased_at)
      VALUES (@id, @name_enc, @id_number_enc, @id_number_hash, @phone_enc, @note, @created_at, @updated_at, @erased_at)`),
    updateTenant: db.prepare(`UPDATE tenants SET name_enc = @name_enc, id_number_enc = @id_number_enc, id_number_hash = @id_number_hash,
      phone_enc = @phone_enc, note = @note, updated_at = @updated_at, erased_at = @erased_at WHERE id = @id`),
    getTenant: db.prepare('SELECT * FROM tenants WHERE id = ?'),
    tenantByIdHash: db.prepare('SELECT * FROM tenants WHERE id_number_hash = ?'),
    countTenants: db.prepare('SELECT COUNT(*) AS n FROM tenants'),

    insertCredential: db.prepare(`INSERT INTO credentials (id, tenant, room, kind, door, slot, card_hash, duress, valid_from, valid_to, state, created_at, updated_at)
      VALUES (@id, @tenant, @room, @kind, @door, @slot, @card_hash, @duress, @valid_from, @valid_to, @state, @created_at, @updated_at)`),
    updateCredential: db.prepare(`UPDATE credentials SET tenant = @tenant, room = @room, duress = @duress, valid_from = @valid_from,
      valid_to = @valid_to, state = @state, updated_at = @updated_at WHERE id = @id`),
    getCredential: db.prepare('SELECT * FROM credentials WHERE id = ?'),
    bySlot: db.prepare(`SELECT * FROM credentials WHERE kind = 'lock_slot' AND door = ? AND slot = ? ORDER BY valid_to DESC, updated_at DESC`),
    byCard: db.prepare(`SELECT * FROM credentials WHERE kind = 'card' AND card_hash = ? ORDER BY valid_to DESC, updated_at DESC`),
    insertHistory: db.prepare('INSERT INTO credential_history (credential, from_state, to_state, at, by, note) VALUES (?, ?, ?, ?, ?, ?)'),
    history: db.prepare('SELECT * FROM credential_history WHERE credential = ? ORDER BY seq'),

    getMeta: db.prepare('SELECT value FROM access_meta WHERE key = ?'),
    setMeta: db.prepare('INSERT INTO access_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
  };
}

export class RegistryTable {
  private readonly s: ReturnType<typeof prepare>;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly run: Run,
  ) {
    this.s = prepare(db);
  }

  /**
   * All or nothing; nested calls join the outer transaction. A registry refusal (AccessError)
   * thrown inside rolls back and comes out as itself, not wrapped as a store failure.
   */
  transaction<T>(fn: () => T): T {
    let refusal: AccessError | undefined;
    try {
      return this.run('write the registry', () =>
        this.db.transaction(() => {
          try {
            return fn();
          } catch (err) {
            if (err instanceof AccessError) refusal = err;
            throw err;
          }
        })(),
      );
    } catch (err) {
      throw refusal ?? err;
    }
  }

  // --- buildings ---

  insertBuilding(b: Building, at: number): void {
    this.run(`insert building ${b.id}`, () => this.s.insertBuilding.run(b.id, b.site, b.name, b.address ?? null, at, at));
  }
  updateBuilding(b: Building, at: number): void {
    this.run(`update building ${b.id}`, () => this.s.updateBuilding.run(b.site, b.name, b.address ?? null, at, b.id));
  }
  getBuilding(id: string): StoredBuilding | undefined {
    const r = this.run(`read building ${id}`, () => this.s.getBuilding.get(id) as BuildingRow | undefined);
    return r ? toBuilding(r) : undefined;
  }
  listBuildings(site?: string): StoredBuilding[] {
    const sql = `SELECT * FROM buildings ${site === undefined ? '' : 'WHERE site = ?'} ORDER BY id`;
    return this.run('list buildings', () => (this.db.prepare(sql).all(...(site === undefined ? [] : [site])) as BuildingRow[]).map(toBuilding));
  }
  deleteBuilding(id: string): boolean {
    return this.run(`delete building ${id}`, () => this.s.deleteBuilding.run(id).changes === 1);
  }
  roomCount(building: string): number {
    return this.run(`count the rooms of ${building}`, () => (this.s.roomsIn.get(building) as { n: number }).n);
  }

  // --- rooms ---

  insertRoom(r: Room, at: number): void {
    this.run(`insert room ${r.id}`, () =>
      this.db.transaction(() => {
        this.s.insertRoom.run(r.id, r.building, r.number, r.floor ?? null, r.linkageGroup ?? null, at, at);
        for (const d of new Set(r.doors)) this.s.insertDoor.run(r.id, d);
      })(),
    );
  }
  updateRoom(r: Room, at: number): void {
    this.run(`update room ${r.id}`, () =>
      this.db.transaction(() => {
        this.s.updateRoom.run(r.building, r.number, r.floor ?? null, r.linkageGroup ?? null, at, r.id);
        this.s.deleteDoors.run(r.id);
        for (const d of new Set(r.doors)) this.s.insertDoor.run(r.id, d);
      })(),
    );
  }
  getRoom(id: string): StoredRoom | undefined {
    const r = this.run(`read room ${id}`, () => this.s.getRoom.get(id) as RoomRow | undefined);
    return r ? toRoom(r) : undefined;
  }
  /** The room with this number in this building, if any. */
  roomIdByNumber(building: string, number: string): string | undefined {
    return this.run(`find room ${building}/${number}`, () => (this.s.roomByNumber.get(building, number) as { id: string } | undefined)?.id);
  }
  listRooms(q: { building?: string; linkageGroup?: string; ids?: readonly string[] } = {}): StoredRoom[] {
    const where: string[] = [];
    const args: string[] = [];
    if (q.building !== undefined) (where.push('r.building = ?'), args.push(q.building));
    if (q.linkageGroup !== undefined) (where.push('r.linkage_group = ?'), args.push(q.linkageGroup));
    if (q.ids !== undefined) {
      if (q.ids.length === 0) return [];
      where.push(`r.id IN (SELECT value FROM json_each(?))`);
      args.push(JSON.stringify(q.ids));
    }
    const sql = `${ROOM_SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY r.building, r.id`;
    return this.run('list rooms', () => (this.db.prepare(sql).all(...args) as RoomRow[]).map(toRoom));
  }
  /** The room whose doors list this device, if any. */
  roomOfDoor(door: string): string | undefined {
    return this.run(`find the room of door ${door}`, () => (this.s.roomOfDoor.get(door) as { room: string } | undefined)?.room);
  }
  deleteRoom(id: string): boolean {
    return this.run(`delete room ${id}`, () => this.s.deleteRoom.run(id).changes === 1);
  }
  credentialCount(room: string): number {
    return this.run(`count the credentials of room ${room}`, () => (this.s.credentialsIn.get(room) as { n: number }).n);
  }

  // --- tenants ---

  private tenantParams(t: StoredTenant): Record<string, string | number | null> {
    return {
      id: t.id,
      name_enc: t.nameEnc ?? null,
      id_number_enc: t.idNumberEnc ?? null,
      id_number_hash: t.idNumberHash ?? null,
      phone_enc: t.phoneEnc ?? null,
      note: t.note ?? null,
      created_at: t.createdAt,
      updated_at: t.updatedAt,
      erased_at: t.erasedAt ?? null,
    };
  }
  insertTenant(t: StoredTenant): void {
    this.run(`insert tenant ${t.id}`, () => this.s.insertTenant.run(this.tenantParams(t)));
  }
  updateTenant(t: StoredTenant): void {
    this.run(`update tenant ${t.id}`, () => this.s.updateTenant.run(this.tenantParams(t)));
  }
  getTenant(id: string): StoredTenant | undefined {
    const r = this.run(`read tenant ${id}`, () => this.s.getTenant.get(id) as TenantRow | undefined);
    return r ? toTenant(r) : undefined;
  }
  tenantByIdNumberHash(hash: string): StoredTenant | undefined {
    const r = this.run('find a tenant by ID number', () => this.s.tenantByIdHash.get(hash) as TenantRow | undefined);
    return r ? toTenant(r) : undefined;
  }
  /** Tenants by id order; `room` = tenants holding any credential in that room (`at`: whose lease covers it, active only). */
  listTenants(q: { room?: string; at?: number; limit: number; offset: number }): StoredTenant[] {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (q.room !== undefined) {
      const lease = q.at === undefined ? '' : ` AND c.state = 'active' AND c.valid_from <= ? AND c.valid_to > ?`;
      where.push(`t.id IN (SELECT c.tenant FROM credentials c WHERE c.room = ?${lease})`);
      args.push(q.room, ...(q.at === undefined ? [] : [q.at, q.at]));
    }
    const sql = `SELECT t.* FROM tenants t ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY t.id LIMIT ? OFFSET ?`;
    return this.run('list tenants', () => (this.db.prepare(sql).all(...args, q.limit, q.offset) as TenantRow[]).map(toTenant));
  }
  tenantCount(): number {
    return this.run('count tenants', () => (this.s.countTenants.get() as { n: number }).n);
  }

  // --- credentials ---

  private credentialParams(c: StoredCredential): Record<string, string | number | null> {
    return {
      id: c.id,
      tenant: c.tenant,
      room: c.room,
      kind: c.kind,
      door: c.door ?? null,
      slot: c.slot ?? null,
      card_hash: c.cardHash ?? null,
      duress: c.duress ? 1 : 0,
      valid_from: c.validFrom,
      valid_to: c.validTo,
      state: c.state,
      created_at: c.createdAt,
      updated_at: c.updatedAt,
    };
  }
  insertCredential(c: StoredCredential): void {
    this.run(`insert credential ${c.id}`, () => this.s.insertCredential.run(this.credentialParams(c)));
  }
  /** Lease, duress, state, tenant/room (the key — door+slot or card — never changes). */
  updateCredential(c: StoredCredential): void {
    this.run(`update credential ${c.id}`, () => this.s.updateCredential.run(this.credentialParams(c)));
  }
  getCredential(id: string): StoredCredential | undefined {
    const r = this.run(`read credential ${id}`, () => this.s.getCredential.get(id) as CredentialRow | undefined);
    return r ? toCredential(r) : undefined;
  }
  /** Every credential ever issued for this lock slot, latest lease first. */
  credentialsForSlot(door: string, slot: number): StoredCredential[] {
    return this.run(`find the credentials of ${door} slot ${slot}`, () => (this.s.bySlot.all(door, slot) as CredentialRow[]).map(toCredential));
  }
  /** Every credential ever issued for this card hash, latest lease first. */
  credentialsForCard(cardHash: string): StoredCredential[] {
    return this.run('find the credentials of a card', () => (this.s.byCard.all(cardHash) as CredentialRow[]).map(toCredential));
  }
  listCredentials(q: CredentialFilter & { limit: number; offset: number }): StoredCredential[] {
    const where: string[] = [];
    const args: Array<string | number> = [];
    const eq = (col: string, v: string | undefined) => {
      if (v !== undefined) (where.push(`${col} = ?`), args.push(v));
    };
    eq('tenant', q.tenant);
    eq('room', q.room);
    eq('door', q.door);
    eq('state', q.state);
    if (q.at !== undefined) (where.push('valid_from <= ? AND valid_to > ?'), args.push(q.at, q.at));
    const sql = `SELECT * FROM credentials ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ? OFFSET ?`;
    return this.run('list credentials', () => (this.db.prepare(sql).all(...args, q.limit, q.offset) as CredentialRow[]).map(toCredential));
  }
  appendHistory(e: Omit<CredentialHistoryEntry, 'seq'>): void {
    this.run(`record a state change of credential ${e.credential}`, () => this.s.insertHistory.run(e.credential, e.from, e.to, e.at, e.by, e.note ?? null));
  }
  history(credential: string): CredentialHistoryEntry[] {
    return this.run(`read the history of credential ${credential}`, () => (this.s.history.all(credential) as HistoryRow[]).map(toHistory));
  }

  // --- meta ---

  getMeta(key: string): string | undefined {
    return this.run(`read registry meta ${key}`, () => (this.s.getMeta.get(key) as { value: string } | undefined)?.value);
  }
  setMeta(key: string, value: string): void {
    this.run(`write registry meta ${key}`, () => this.s.setMeta.run(key, value));
  }
}
