/**
 * The rental-housing registry (人房一致): buildings, rooms, tenants and their credentials, with
 * the rules that keep it trustworthy:
 *
 * - every input is validated here (strict zod schemas from access/types.ts; biometric, photo
 *   and PIN fields are refused with a reason), so the API, the import and any other caller get
 *   the same answers;
 * - personal fields are encrypted before they reach the store and masked on the way out
 *   (unmasked only when the caller asks and is allowed: the API decides who, and audits it);
 * - two active credentials never share a lock slot (door + slot) or a card with overlapping
 *   leases, so that a pass resolves to exactly one tenant;
 * - credential state changes (active -> lost / returned / cancelled, lost -> active) are
 *   recorded with who, when and why.
 *
 * resolve() answers "whose credential was this, at that time?" for the access log.
 * Synchronous, like the store underneath.
 */
import { z } from 'zod';
import { AccessError, conflict, invalid, issuesOf, notFound, type AccessIssue } from './errors.js';
import { forbiddenFields } from './forbidden-fields.js';
import { maskIdNumber, maskName, maskPhone, normaliseIdNumber, type PiiCrypto } from './pii-crypto.js';
import type { CredentialFilter, CredentialHistoryEntry, RegistryTable, StoredBuilding, StoredCredential, StoredRoom, StoredTenant } from './registry-table.js';
import {
  buildingSchema,
  credentialInputSchema,
  credentialStateSchema,
  roomSchema,
  tenantInputSchema,
  type AccessMethodName,
  type CredentialState,
  type Resolution,
  type TenantView,
} from './types.js';

export type { CredentialHistoryEntry, StoredBuilding, StoredCredential, StoredRoom } from './registry-table.js';
/** A credential as the API shows it: no card number (only its salted hash), ever. */
export type CredentialView = StoredCredential;

const idField = buildingSchema.shape.id;
const clearable = <T extends z.ZodType>(s: T) => s.nullable().optional();

export const buildingPatchSchema = z
  .object({ site: z.string().min(1).optional(), name: z.string().min(1).max(128).optional(), address: clearable(z.string().max(256)) })
  .strict();
export const roomPatchSchema = z
  .object({
    building: idField.optional(),
    number: z.string().min(1).max(32).optional(),
    floor: clearable(z.string().max(16)),
    doors: z.array(z.string().min(1)).optional(),
    linkageGroup: clearable(idField),
  })
  .strict();
export const tenantPatchSchema = z
  .object({
    name: clearable(tenantInputSchema.shape.name.unwrap()),
    idNumber: clearable(tenantInputSchema.shape.idNumber.unwrap()),
    phone: clearable(tenantInputSchema.shape.phone.unwrap()),
    note: clearable(tenantInputSchema.shape.note.unwrap()),
  })
  .strict();
/** A lease can be moved or extended and the duress flag changed; the key (door+slot, card) never changes. */
export const credentialPatchSchema = z
  .object({ validFrom: z.number().int().nonnegative().optional(), validTo: z.number().int().nonnegative().optional(), duress: z.boolean().optional() })
  .strict();
export const credentialStateChangeSchema = z.object({ state: credentialStateSchema, note: z.string().max(500).optional() }).strict();

export type BuildingPatch = z.infer<typeof buildingPatchSchema>;
export type RoomPatch = z.infer<typeof roomPatchSchema>;
export type TenantPatch = z.infer<typeof tenantPatchSchema>;
export type CredentialPatch = z.infer<typeof credentialPatchSchema>;

/**
 * Allowed state changes. Shenzhen's spec: a lost card can be found again (挂失 -> 解挂);
 * returned (退租) and cancelled (注销) are final — a new lease is a new credential.
 */
export const CREDENTIAL_TRANSITIONS: Readonly<Record<CredentialState, readonly CredentialState[]>> = {
  active: ['lost', 'returned', 'cancelled'],
  lost: ['active', 'returned', 'cancelled'],
  returned: [],
  cancelled: [],
};

/** Passes made without a credential the registry could know (remote unlock, mechanical key, one-off code). */
export const CREDENTIAL_LESS_METHODS: ReadonlySet<AccessMethodName> = new Set(['remote', 'key', 'temp_code']);

export interface ResolveQuery {
  door: string;
  /** Lock user slot the device reported (0 and absent mean "no user"). */
  slot?: number;
  cardHash?: string;
  method: AccessMethodName;
  ts: number;
}

export interface ResolveResult {
  resolution: Resolution;
  credential?: string;
  tenant?: string;
  room?: string;
  building?: string;
  /** The credential is a duress credential (the device may also report duress itself). */
  duress: boolean;
}

export interface ViewOptions {
  /** Show name / ID number / phone in clear. The caller checks the role and audits. */
  unmask?: boolean;
}

export interface Page {
  limit?: number;
  offset?: number;
}

export interface RegistryOptions {
  table: RegistryTable;
  crypto: PiiCrypto;
  clock?: () => number;
}

const MAX_PAGE = 1000;
const page = (p: Page) => ({ limit: Math.max(1, Math.min(MAX_PAGE, Math.floor(p.limit ?? 100))), offset: Math.max(0, Math.floor(p.offset ?? 0)) });
const iso = (ms: number) => new Date(ms).toISOString();
const UNREADABLE = '[unreadable]';

/** Parse `input` with `schema`; biometric/photo/PIN keys refused first with the reason. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const forbidden = forbiddenFields(input);
  if (forbidden.length > 0) throw invalid(what, forbidden);
  const r = schema.safeParse(input);
  if (!r.success) throw invalid(what, issuesOf(r.error));
  return r.data;
}

export class Registry {
  private readonly table: RegistryTable;
  private readonly crypto: PiiCrypto;
  private readonly clock: () => number;

  constructor(opts: RegistryOptions) {
    this.table = opts.table;
    this.crypto = opts.crypto;
    this.clock = opts.clock ?? Date.now;
    this.checkKey();
  }

  /** Run several registry writes all-or-nothing (the import does). */
  transaction<T>(fn: () => T): T {
    return this.table.transaction(fn);
  }

  // ---- buildings ------------------------------------------------------------------------------

  createBuilding(input: z.input<typeof buildingSchema>): StoredBuilding {
    const b = validate(buildingSchema, input, 'building');
    return this.table.transaction(() => {
      if (this.table.getBuilding(b.id)) throw conflict(`building ${b.id} already exists`);
      this.table.insertBuilding(b, this.clock());
      return this.table.getBuilding(b.id)!;
    });
  }

  updateBuilding(id: string, patch: z.input<typeof buildingPatchSchema>): StoredBuilding {
    const p = validate(buildingPatchSchema, patch, 'building change');
    return this.table.transaction(() => {
      const cur = this.mustBuilding(id);
      const next = { id, site: p.site ?? cur.site, name: p.name ?? cur.name, ...optional('address', p.address === undefined ? cur.address : p.address) };
      this.table.updateBuilding(next, this.clock());
      return this.table.getBuilding(id)!;
    });
  }

  getBuilding(id: string): StoredBuilding | undefined {
    return this.table.getBuilding(id);
  }

  listBuildings(q: { site?: string } = {}): StoredBuilding[] {
    return this.table.listBuildings(q.site);
  }

  deleteBuilding(id: string): void {
    this.table.transaction(() => {
      this.mustBuilding(id);
      const rooms = this.table.roomCount(id);
      if (rooms > 0) throw conflict(`building ${id} still has ${rooms} room(s); delete or move them first`);
      this.table.deleteBuilding(id);
    });
  }

  // ---- rooms ----------------------------------------------------------------------------------

  createRoom(input: z.input<typeof roomSchema>): StoredRoom {
    const r = validate(roomSchema, input, 'room');
    return this.table.transaction(() => {
      if (this.table.getRoom(r.id)) throw conflict(`room ${r.id} already exists`);
      this.checkRoom(r);
      this.table.insertRoom(r, this.clock());
      return this.table.getRoom(r.id)!;
    });
  }

  updateRoom(id: string, patch: z.input<typeof roomPatchSchema>): StoredRoom {
    const p = validate(roomPatchSchema, patch, 'room change');
    return this.table.transaction(() => {
      const cur = this.mustRoom(id);
      const next = {
        id,
        building: p.building ?? cur.building,
        number: p.number ?? cur.number,
        doors: p.doors ?? cur.doors,
        ...optional('floor', p.floor === undefined ? cur.floor : p.floor),
        ...optional('linkageGroup', p.linkageGroup === undefined ? cur.linkageGroup : p.linkageGroup),
      };
      this.checkRoom(next);
      this.table.updateRoom(next, this.clock());
      return this.table.getRoom(id)!;
    });
  }

  getRoom(id: string): StoredRoom | undefined {
    return this.table.getRoom(id);
  }

  listRooms(q: { building?: string; linkageGroup?: string; door?: string } = {}): StoredRoom[] {
    if (q.door !== undefined) {
      const room = this.table.roomOfDoor(q.door);
      const rooms = room === undefined ? [] : this.table.listRooms({ ids: [room] });
      return rooms.filter((r) => (q.building === undefined || r.building === q.building) && (q.linkageGroup === undefined || r.linkageGroup === q.linkageGroup));
    }
    return this.table.listRooms(q);
  }

  /** The room whose doors list this device (a room's own lock), if any. */
  roomOfDoor(door: string): StoredRoom | undefined {
    const id = this.table.roomOfDoor(door);
    return id === undefined ? undefined : this.table.getRoom(id);
  }

  deleteRoom(id: string): void {
    this.table.transaction(() => {
      this.mustRoom(id);
      const n = this.table.credentialCount(id);
      if (n > 0) throw conflict(`room ${id} has ${n} credential(s) on record; a room with a history cannot be deleted`);
      this.table.deleteRoom(id);
    });
  }

  // ---- tenants --------------------------------------------------------------------------------

  createTenant(input: z.input<typeof tenantInputSchema>, view: ViewOptions = {}): TenantView {
    const t = validate(tenantInputSchema, input, 'tenant');
    return this.table.transaction(() => {
      if (this.table.getTenant(t.id)) throw conflict(`tenant ${t.id} already exists`);
      const at = this.clock();
      const stored: StoredTenant = { id: t.id, createdAt: at, updatedAt: at, ...this.sealed(t.id, t) };
      this.checkIdNumberFree(stored);
      this.table.insertTenant(stored);
      return this.tenantView(this.table.getTenant(t.id)!, view);
    });
  }

  updateTenant(id: string, patch: z.input<typeof tenantPatchSchema>, view: ViewOptions = {}): TenantView {
    const p = validate(tenantPatchSchema, patch, 'tenant change');
    return this.table.transaction(() => {
      const cur = this.mustTenant(id);
      if (cur.erasedAt !== undefined) throw conflict(`tenant ${id} was erased; register the person again under a new id`);
      const plain = this.unsealed(cur);
      const merged = {
        name: p.name === undefined ? plain.name : p.name ?? undefined,
        idNumber: p.idNumber === undefined ? plain.idNumber : p.idNumber ?? undefined,
        phone: p.phone === undefined ? plain.phone : p.phone ?? undefined,
        note: p.note === undefined ? cur.note : p.note ?? undefined,
      };
      const next: StoredTenant = { id, createdAt: cur.createdAt, updatedAt: this.clock(), ...this.sealed(id, merged) };
      this.checkIdNumberFree(next);
      this.table.updateTenant(next);
      return this.tenantView(this.table.getTenant(id)!, view);
    });
  }

  getTenant(id: string, view: ViewOptions = {}): TenantView | undefined {
    const t = this.table.getTenant(id);
    return t ? this.tenantView(t, view) : undefined;
  }

  /** Tenants by id; `room`: those with a credential in the room (`at`: active and in lease then). */
  listTenants(q: { room?: string; at?: number } & Page = {}, view: ViewOptions = {}): TenantView[] {
    return this.table.listTenants({ ...optional('room', q.room), ...optional('at', q.at), ...page(q) }).map((t) => this.tenantView(t, view));
  }

  tenantCount(): number {
    return this.table.tenantCount();
  }

  /** 查人知住: the tenant registered with this ID number, if any (looked up by keyed hash). */
  findTenantByIdNumber(idNumber: string, view: ViewOptions = {}): TenantView | undefined {
    const n = validate(tenantInputSchema.shape.idNumber.unwrap(), idNumber, 'ID number');
    const t = this.table.tenantByIdNumberHash(this.crypto.hashIdNumber(n));
    return t ? this.tenantView(t, view) : undefined;
  }

  /**
   * Erase a tenant's personal data (PIPL deletion). Refused while the tenant holds an active
   * credential. The pseudonymous id stays, so the access log's references remain consistent.
   */
  eraseTenant(id: string): void {
    this.table.transaction(() => {
      const cur = this.mustTenant(id);
      const active = this.table.listCredentials({ tenant: id, state: 'active', limit: 1, offset: 0 });
      if (active.length > 0) throw conflict(`tenant ${id} still holds active credential ${active[0]!.id}; return or cancel it first`);
      const at = this.clock();
      this.table.updateTenant({ id, createdAt: cur.createdAt, updatedAt: at, erasedAt: at });
    });
  }

  /** Show a stored tenant: decrypted, then masked unless `unmask`. */
  tenantView(t: StoredTenant, view: ViewOptions = {}): TenantView {
    const plain = this.unsealed(t);
    const show = (v: string | undefined, maskFn: (s: string) => string) => (v === undefined || v === UNREADABLE || view.unmask ? v : maskFn(v));
    const out: TenantView = { id: t.id, createdAt: t.createdAt };
    const name = show(plain.name, maskName);
    const idNumber = show(plain.idNumber, maskIdNumber);
    const phone = show(plain.phone, maskPhone);
    if (name !== undefined) out.name = name;
    if (idNumber !== undefined) out.idNumber = idNumber;
    if (phone !== undefined) out.phone = phone;
    if (t.note !== undefined) out.note = t.note;
    if (t.erasedAt !== undefined) out.erasedAt = t.erasedAt;
    return out;
  }

  // ---- credentials ----------------------------------------------------------------------------

  createCredential(input: z.input<typeof credentialInputSchema>, by = 'system', note?: string): CredentialView {
    const c = validate(credentialInputSchema, input, 'credential');
    return this.table.transaction(() => {
      if (this.table.getCredential(c.id)) throw conflict(`credential ${c.id} already exists`);
      const tenant = this.table.getTenant(c.tenant);
      if (!tenant) throw unknownRef('tenant', c.tenant);
      if (tenant.erasedAt !== undefined) throw conflict(`tenant ${c.tenant} was erased; register the person again under a new id`);
      if (!this.table.getRoom(c.room)) throw unknownRef('room', c.room);
      const issues: AccessIssue[] = [];
      if (c.kind === 'lock_slot') {
        if (c.cardNumber !== undefined) issues.push({ path: 'cardNumber', message: 'a lock_slot credential has no cardNumber (the card is enrolled in the lock under the slot)' });
        if (c.slot === 0) issues.push({ path: 'slot', message: 'slot 0 means "no user" on these locks; user slots start at 1' });
      } else {
        if (c.door !== undefined) issues.push({ path: 'door', message: 'a card credential has no door: the card is recognised at any door that reports card numbers' });
        if (c.slot !== undefined) issues.push({ path: 'slot', message: 'a card credential has no slot' });
      }
      if (issues.length > 0) throw invalid('credential', issues);
      const at = this.clock();
      const stored: StoredCredential = {
        id: c.id,
        tenant: c.tenant,
        room: c.room,
        kind: c.kind,
        ...(c.kind === 'lock_slot' ? { door: c.door!, slot: c.slot! } : { cardHash: this.crypto.hashCard(c.cardNumber!) }),
        duress: c.duress,
        validFrom: c.validFrom,
        validTo: c.validTo,
        state: c.state,
        createdAt: at,
        updatedAt: at,
      };
      if (stored.door !== undefined) this.checkDoorOfRoom(stored.door, stored.room, 'door');
      this.checkOverlap(stored);
      this.table.insertCredential(stored);
      this.table.appendHistory({ credential: c.id, from: null, to: c.state, at, by, ...optional('note', note) });
      return this.table.getCredential(c.id)!;
    });
  }

  /** Move or extend a lease, or change the duress flag. Overlaps are checked again. */
  updateCredential(id: string, patch: z.input<typeof credentialPatchSchema>): CredentialView {
    const p = validate(credentialPatchSchema, patch, 'credential change');
    return this.table.transaction(() => {
      const cur = this.mustCredential(id);
      const next: StoredCredential = {
        ...cur,
        validFrom: p.validFrom ?? cur.validFrom,
        validTo: p.validTo ?? cur.validTo,
        duress: p.duress ?? cur.duress,
        updatedAt: this.clock(),
      };
      if (next.validTo <= next.validFrom) throw invalid('credential change', [{ path: 'validTo', message: 'validTo must be after validFrom' }]);
      this.checkOverlap(next);
      this.table.updateCredential(next);
      return this.table.getCredential(id)!;
    });
  }

  /** active -> lost / returned / cancelled; lost -> active / returned / cancelled. Recorded with who and why. */
  setCredentialState(id: string, state: CredentialState, by: string, note?: string): CredentialView {
    return this.table.transaction(() => {
      const cur = this.mustCredential(id);
      if (cur.state === state) return cur;
      const allowed = CREDENTIAL_TRANSITIONS[cur.state];
      if (!allowed.includes(state)) {
        throw conflict(`credential ${id} is ${cur.state}; it can become ${allowed.join(', ') || 'nothing else (final state)'}, not ${state}`);
      }
      const at = this.clock();
      const next: StoredCredential = { ...cur, state, updatedAt: at };
      if (state === 'active') this.checkOverlap(next);
      this.table.updateCredential(next);
      this.table.appendHistory({ credential: id, from: cur.state, to: state, at, by, ...optional('note', note) });
      return next;
    });
  }

  getCredential(id: string): CredentialView | undefined {
    return this.table.getCredential(id);
  }

  listCredentials(q: CredentialFilter & Page = {}): CredentialView[] {
    const { limit, offset, ...filter } = q;
    return this.table.listCredentials({ ...filter, ...page({ ...optional('limit', limit), ...optional('offset', offset) }) });
  }

  credentialHistory(id: string): CredentialHistoryEntry[] {
    this.mustCredential(id);
    return this.table.history(id);
  }

  /** Salted hash of a card number, as stored and as the access log records it. */
  hashCard(cardNumber: string | number): string {
    return this.crypto.hashCard(cardNumber);
  }

  // ---- resolve --------------------------------------------------------------------------------

  /**
   * Whose credential was used at `door` at `ts`?
   * - remote / key / temp_code: `no_credential` (nothing the registry issues);
   * - a card hash is looked up first (any door), then the lock slot on this door;
   * - an active credential whose lease covers ts: `registered`;
   * - otherwise the best match explains the refusal: lost / returned / cancelled (its state),
   *   or `expired` for an active credential outside its lease [validFrom, validTo);
   * - nothing known: `unregistered` (a stranger).
   * The room and building come from the credential; for a stranger (or no credential) at a
   * room's own door, from the room that door belongs to.
   */
  resolve(q: ResolveQuery): ResolveResult {
    if (CREDENTIAL_LESS_METHODS.has(q.method)) return this.placeOnly('no_credential', q.door);
    let candidates: StoredCredential[] = [];
    if (q.cardHash !== undefined) candidates = this.table.credentialsForCard(q.cardHash);
    if (candidates.length === 0 && q.slot !== undefined && q.slot > 0) candidates = this.table.credentialsForSlot(q.door, q.slot);
    if (candidates.length === 0) return this.placeOnly('unregistered', q.door);
    const covers = (c: StoredCredential) => c.validFrom <= q.ts && q.ts < c.validTo;
    const hit =
      candidates.find((c) => c.state === 'active' && covers(c)) ??
      candidates.find((c) => c.state !== 'active' && covers(c)) ??
      // Outside every lease: the one closest in time explains it best (latest lease first, and the next one if all are in the future).
      [...candidates].sort((a, b) => distance(a, q.ts) - distance(b, q.ts))[0]!;
    const resolution: Resolution = hit.state === 'active' ? (covers(hit) ? 'registered' : 'expired') : hit.state;
    const building = this.table.getRoom(hit.room)?.building;
    return {
      resolution,
      credential: hit.id,
      tenant: hit.tenant,
      room: hit.room,
      ...optional('building', building),
      duress: hit.duress,
    };
  }

  // ---- internals ------------------------------------------------------------------------------

  private placeOnly(resolution: Resolution, door: string): ResolveResult {
    const room = this.roomOfDoor(door);
    return room ? { resolution, room: room.id, building: room.building, duress: false } : { resolution, duress: false };
  }

  /** The key the personal fields are encrypted with must be the key we hold. */
  private checkKey(): void {
    const stored = this.table.getMeta('pii_key_id');
    if (stored === undefined) {
      this.table.setMeta('pii_key_id', this.crypto.keyId);
      return;
    }
    if (stored !== this.crypto.keyId) {
      throw new AccessError(
        'conflict',
        `the personal-data key file does not match this database (database key id ${stored}, key file id ${this.crypto.keyId}): ` +
          'restore the original key file from backup; with another key the stored names, ID numbers and card hashes are unusable',
      );
    }
  }

  private sealed(id: string, t: { name?: string | undefined; idNumber?: string | undefined; phone?: string | undefined; note?: string | undefined }) {
    const idNumber = t.idNumber === undefined ? undefined : normaliseIdNumber(t.idNumber);
    return {
      ...optional('nameEnc', t.name === undefined ? undefined : this.crypto.encrypt(t.name, `tenant:${id}:name`)),
      ...optional('idNumberEnc', idNumber === undefined ? undefined : this.crypto.encrypt(idNumber, `tenant:${id}:idNumber`)),
      ...optional('idNumberHash', idNumber === undefined ? undefined : this.crypto.hashIdNumber(idNumber)),
      ...optional('phoneEnc', t.phone === undefined ? undefined : this.crypto.encrypt(t.phone, `tenant:${id}:phone`)),
      ...optional('note', t.note),
    };
  }

  private unsealed(t: StoredTenant): { name?: string; idNumber?: string; phone?: string } {
    const open = (blob: string | undefined, field: string) => {
      if (blob === undefined) return undefined;
      try {
        return this.crypto.decrypt(blob, `tenant:${t.id}:${field}`);
      } catch {
        return UNREADABLE;
      }
    };
    return { ...optional('name', open(t.nameEnc, 'name')), ...optional('idNumber', open(t.idNumberEnc, 'idNumber')), ...optional('phone', open(t.phoneEnc, 'phone')) };
  }

  private checkIdNumberFree(t: StoredTenant): void {
    if (t.idNumberHash === undefined) return;
    const other = this.table.tenantByIdNumberHash(t.idNumberHash);
    if (other && other.id !== t.id) throw conflict(`another tenant (${other.id}) is registered with this ID number`);
  }

  private checkRoom(r: { id: string; building: string; number: string; doors: readonly string[] }): void {
    if (!this.table.getBuilding(r.building)) throw unknownRef('building', r.building);
    const same = this.table.roomIdByNumber(r.building, r.number);
    if (same !== undefined && same !== r.id) throw conflict(`building ${r.building} already has a room numbered ${r.number} (${same})`);
    for (const door of r.doors) {
      const owner = this.table.roomOfDoor(door);
      if (owner !== undefined && owner !== r.id) throw conflict(`door ${door} already belongs to room ${owner}`);
    }
  }

  /** A lock slot on a room's own door must belong to that room (entrance controllers belong to no room). */
  private checkDoorOfRoom(door: string, room: string, path: string): void {
    const owner = this.table.roomOfDoor(door);
    if (owner !== undefined && owner !== room) throw invalid('credential', [{ path, message: `door ${door} is the door of room ${owner}, not of room ${room}` }]);
  }

  private checkOverlap(c: StoredCredential): void {
    if (c.state !== 'active') return;
    const others = c.kind === 'lock_slot' ? this.table.credentialsForSlot(c.door!, c.slot!) : this.table.credentialsForCard(c.cardHash!);
    const clash = others.find((o) => o.id !== c.id && o.state === 'active' && o.validFrom < c.validTo && c.validFrom < o.validTo);
    if (!clash) return;
    const what = c.kind === 'lock_slot' ? `door ${c.door} slot ${c.slot}` : 'the same card';
    throw conflict(
      `credential ${c.id} (${iso(c.validFrom)} to ${iso(c.validTo)}) overlaps active credential ${clash.id} of tenant ${clash.tenant}, room ${clash.room} ` +
        `on ${what} (${iso(clash.validFrom)} to ${iso(clash.validTo)}); end or return that lease first`,
    );
  }

  private mustBuilding(id: string): StoredBuilding {
    const b = this.table.getBuilding(id);
    if (!b) throw notFound(`building ${id}`);
    return b;
  }
  private mustRoom(id: string): StoredRoom {
    const r = this.table.getRoom(id);
    if (!r) throw notFound(`room ${id}`);
    return r;
  }
  private mustTenant(id: string): StoredTenant {
    const t = this.table.getTenant(id);
    if (!t) throw notFound(`tenant ${id}`);
    return t;
  }
  private mustCredential(id: string): StoredCredential {
    const c = this.table.getCredential(id);
    if (!c) throw notFound(`credential ${id}`);
    return c;
  }
}

/** A reference to something that does not exist is a mistake in the input (400), naming the field. */
function unknownRef(field: string, id: string): AccessError {
  const message = `no ${field} ${id} in the registry`;
  return new AccessError('invalid', `${field}: ${message}`, [{ path: field, message }]);
}

function distance(c: StoredCredential, ts: number): number {
  if (ts < c.validFrom) return c.validFrom - ts;
  if (ts >= c.validTo) return ts - c.validTo;
  return 0;
}

function optional<K extends string, V>(key: K, v: V | null | undefined): { [P in K]?: V } {
  return (v === null || v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}
