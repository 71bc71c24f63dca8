/**
 * The shareable export — "一张表登记、一次性采集、多部门共享": one registration sheet that the
 * housing office, the police station and the street office can all take, so a tenant is asked
 * once. Three tables with documented columns (docs/reports.md):
 *
 *   rooms      one row per room: building, number, floor, linkage group, doors, registered tenants
 *   residents  one row per registered tenant per room (the "一张表": room columns + resident columns)
 *   passes     entry/exit records in a period
 *
 * Personal data is masked in every row (`4401**********1234`, `张*`, `138****5678`): the export
 * takes the tenant as the registry shows it to an ordinary role, and masks again whatever still
 * looks like a clear ID number, name or phone, so a registry that was asked to unmask cannot leak
 * through here. Tenants are otherwise named by their pseudonymous id.
 */
import type { SqliteDatabase } from '../../store/sqlite.js';
import { maskIdNumber, maskName, maskPhone } from '../pii-crypto.js';
import type { TenantView } from '../types.js';
import { isoLocal, toCsv, type CsvColumn, type CsvOptions } from './csv.js';
import { LocalTime } from '../rules/local-time.js';

export interface ShareableOptions {
  now: number;
  /** Entry/exit records from `from` to `to` (default: the last 7 days before now). */
  from?: number;
  to?: number;
  building?: string;
  timeZone: string;
  /** The registry's masked view of a tenant (Registry.getTenant without unmask). */
  tenantView: (tenant: string) => TenantView | undefined;
  /** At most this many passes (default 100 000); `passesTruncated` says when more were left out. */
  maxPasses?: number;
}

export interface RoomRow {
  building: string;
  buildingName: string;
  address: string | null;
  room: string;
  number: string;
  floor: string | null;
  linkageGroup: string | null;
  doors: string;
  registeredTenants: number;
}

export interface ResidentRow {
  building: string;
  buildingName: string;
  room: string;
  number: string;
  floor: string | null;
  tenant: string;
  name: string | null;
  idNumber: string | null;
  phone: string | null;
  leaseFrom: string;
  leaseTo: string;
  credentials: number;
  credentialKinds: string;
}

export interface PassRow {
  id: string;
  time: string;
  building: string | null;
  room: string | null;
  number: string | null;
  door: string;
  method: string;
  result: string;
  resolution: string;
  tenant: string | null;
  credential: string | null;
}

export interface ShareableExport {
  kind: 'shareable';
  generatedAt: number;
  timeZone: string;
  from: number;
  to: number;
  rooms: RoomRow[];
  residents: ResidentRow[];
  passes: PassRow[];
  passesTruncated: boolean;
}

const ID_NUMBER = /^\d{17}[\dXx]$/;
const PHONE = /^\+?\d{6,15}$/;
/** What the registry shows for a field it cannot decrypt. */
const UNREADABLE = '[unreadable]';

/** Mask whatever is still in clear (already-masked values contain `*`). */
export function maskedTenant(t: TenantView | undefined): { name: string | null; idNumber: string | null; phone: string | null } {
  if (!t || t.erasedAt !== undefined) return { name: null, idNumber: null, phone: null };
  const clear = (v: string, pattern?: RegExp) => v !== UNREADABLE && ((pattern !== undefined && pattern.test(v)) || !v.includes('*'));
  const name = t.name === undefined ? null : clear(t.name) ? maskName(t.name) : t.name;
  const idNumber = t.idNumber === undefined ? null : clear(t.idNumber, ID_NUMBER) ? maskIdNumber(t.idNumber) : t.idNumber;
  const phone = t.phone === undefined ? null : clear(t.phone, PHONE) ? maskPhone(t.phone) : t.phone;
  return { name, idNumber, phone };
}

export class ShareableExportQuery {
  private readonly s;

  constructor(db: SqliteDatabase) {
    this.s = {
      rooms: db.prepare(`SELECT r.building, b.name AS buildingName, b.address, r.id AS room, r.number, r.floor, r.linkage_group AS linkageGroup,
          COALESCE((SELECT group_concat(d.door, ' ') FROM room_doors d WHERE d.room = r.id), '') AS doors,
          (SELECT COUNT(DISTINCT c.tenant) FROM credentials c
             WHERE c.room = r.id AND c.state = 'active' AND c.valid_from <= @now AND c.valid_to > @now) AS registeredTenants
        FROM rooms r JOIN buildings b ON b.id = r.building
        WHERE (@building IS NULL OR r.building = @building)
        ORDER BY r.building, r.number`),
      residents: db.prepare(`SELECT r.building, b.name AS buildingName, r.id AS room, r.number, r.floor, c.tenant,
          MIN(c.valid_from) AS leaseFrom, MAX(c.valid_to) AS leaseTo, COUNT(*) AS credentials, group_concat(DISTINCT c.kind) AS kinds
        FROM credentials c JOIN rooms r ON r.id = c.room JOIN buildings b ON b.id = r.building
        WHERE c.state = 'active' AND c.valid_from <= @now AND c.valid_to > @now AND (@building IS NULL OR r.building = @building)
        GROUP BY c.tenant, c.room
        ORDER BY r.building, r.number, c.tenant`),
      passes: db.prepare(`SELECT a.id, a.ts, a.building, a.room, r.number, a.door, a.method, a.result, a.resolution, a.tenant, a.credential
        FROM access_log a LEFT JOIN rooms r ON r.id = a.room
        WHERE a.ts >= @from AND a.ts < @to AND (@building IS NULL OR a.building = @building)
        ORDER BY a.ts, a.seq LIMIT @limit`),
    };
  }

  run(opts: ShareableOptions): ShareableExport {
    const local = new LocalTime(opts.timeZone);
    const at = (ts: number) => isoLocal(ts, local.offsetMs(ts));
    const building = opts.building ?? null;
    const to = opts.to ?? opts.now;
    const from = opts.from ?? to - 7 * 86_400_000;
    const max = opts.maxPasses ?? 100_000;
    const rooms = this.s.rooms.all({ now: opts.now, building }) as RoomRow[];
    type Res = Omit<ResidentRow, 'name' | 'idNumber' | 'phone' | 'leaseFrom' | 'leaseTo' | 'credentialKinds'> & { leaseFrom: number; leaseTo: number; kinds: string };
    const residents = (this.s.residents.all({ now: opts.now, building }) as Res[]).map(
      (r): ResidentRow => ({
        building: r.building,
        buildingName: r.buildingName,
        room: r.room,
        number: r.number,
        floor: r.floor,
        tenant: r.tenant,
        ...maskedTenant(opts.tenantView(r.tenant)),
        leaseFrom: at(r.leaseFrom),
        leaseTo: at(r.leaseTo),
        credentials: r.credentials,
        credentialKinds: r.kinds.split(',').sort().join(' '),
      }),
    );
    type P = Omit<PassRow, 'time'> & { ts: number };
    const raw = this.s.passes.all({ from, to, building, limit: max + 1 }) as P[];
    const passes = raw.slice(0, max).map(({ ts, ...p }): PassRow => ({ ...p, time: at(ts) }));
    return { kind: 'shareable', generatedAt: opts.now, timeZone: opts.timeZone, from, to, rooms, residents, passes, passesTruncated: raw.length > max };
  }
}

export const roomColumns: ReadonlyArray<CsvColumn<RoomRow>> = [
  { id: 'building', zh: '楼栋编号', value: (r) => r.building },
  { id: 'building_name', zh: '楼栋名称', value: (r) => r.buildingName },
  { id: 'address', zh: '地址', value: (r) => r.address },
  { id: 'room', zh: '房间编号', value: (r) => r.room },
  { id: 'room_number', zh: '房号', value: (r) => r.number },
  { id: 'floor', zh: '楼层', value: (r) => r.floor },
  { id: 'linkage_group', zh: '联防组', value: (r) => r.linkageGroup },
  { id: 'doors', zh: '门锁设备', value: (r) => r.doors },
  { id: 'registered_tenants', zh: '登记住户数', value: (r) => r.registeredTenants },
];

export const residentColumns: ReadonlyArray<CsvColumn<ResidentRow>> = [
  { id: 'building', zh: '楼栋编号', value: (r) => r.building },
  { id: 'building_name', zh: '楼栋名称', value: (r) => r.buildingName },
  { id: 'room', zh: '房间编号', value: (r) => r.room },
  { id: 'room_number', zh: '房号', value: (r) => r.number },
  { id: 'floor', zh: '楼层', value: (r) => r.floor },
  { id: 'tenant', zh: '住户编号', value: (r) => r.tenant },
  { id: 'name', zh: '姓名（脱敏）', value: (r) => r.name },
  { id: 'id_number', zh: '身份证号（脱敏）', value: (r) => r.idNumber },
  { id: 'phone', zh: '电话（脱敏）', value: (r) => r.phone },
  { id: 'lease_from', zh: '租期开始', value: (r) => r.leaseFrom },
  { id: 'lease_to', zh: '租期结束', value: (r) => r.leaseTo },
  { id: 'credentials', zh: '凭证数', value: (r) => r.credentials },
  { id: 'credential_kinds', zh: '凭证类型', value: (r) => r.credentialKinds },
];

export const passColumns: ReadonlyArray<CsvColumn<PassRow>> = [
  { id: 'time', zh: '时间', value: (r) => r.time },
  { id: 'building', zh: '楼栋编号', value: (r) => r.building },
  { id: 'room', zh: '房间编号', value: (r) => r.room },
  { id: 'room_number', zh: '房号', value: (r) => r.number },
  { id: 'door', zh: '门', value: (r) => r.door },
  { id: 'method', zh: '开门方式', value: (r) => r.method },
  { id: 'result', zh: '结果', value: (r) => r.result },
  { id: 'resolution', zh: '核验结果', value: (r) => r.resolution },
  { id: 'tenant', zh: '住户编号', value: (r) => r.tenant },
  { id: 'credential', zh: '凭证编号', value: (r) => r.credential },
  { id: 'id', zh: '记录编号', value: (r) => r.id },
];

export function shareableCsv(e: ShareableExport, table: 'rooms' | 'residents' | 'passes', opts: CsvOptions = {}): string {
  if (table === 'rooms') return toCsv(roomColumns, e.rooms, opts);
  if (table === 'residents') return toCsv(residentColumns, e.residents, opts);
  return toCsv(passColumns, e.passes, opts);
}
