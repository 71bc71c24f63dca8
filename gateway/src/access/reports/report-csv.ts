/**
 * CSV of the 人房一致 and 三高 reports (PURE; columns documented in docs/reports.md).
 */
import { toCsv, type CsvColumn, type CsvOptions } from './csv.js';
import type { BuildingOccupancy, NotSeenTenant, OccupancyReport } from './occupancy.js';
import type { ThreeHighsCell, ThreeHighsReport } from './three-highs.js';

export const occupancyColumns: ReadonlyArray<CsvColumn<BuildingOccupancy>> = [
  { id: 'building', zh: '楼栋编号', value: (b) => b.building },
  { id: 'building_name', zh: '楼栋名称', value: (b) => b.name },
  { id: 'rooms', zh: '房间数', value: (b) => b.rooms },
  { id: 'occupied_rooms', zh: '有登记住户的房间数', value: (b) => b.occupiedRooms },
  { id: 'registered_tenants', zh: '登记住户数', value: (b) => b.registeredTenants },
  { id: 'active_tenants', zh: '近期出入住户数', value: (b) => b.activeTenants },
  { id: 'active_rate', zh: '人房一致率', value: (b) => b.activeRate },
  { id: 'not_seen_tenants', zh: '长期未出现住户数', value: (b) => b.notSeenTenants },
  { id: 'new_tenants', zh: '新登记住户数', value: (b) => b.newTenants },
  { id: 'stranger_passes', zh: '陌生凭证次数', value: (b) => b.strangers.passes },
  { id: 'stranger_doors', zh: '陌生凭证涉及门数', value: (b) => b.strangers.doors },
  { id: 'stranger_cards', zh: '陌生卡数', value: (b) => b.strangers.cards },
  { id: 'expired_passes', zh: '过期凭证使用次数', value: (b) => b.misuse.expired },
  { id: 'lost_passes', zh: '挂失凭证使用次数', value: (b) => b.misuse.lost },
  { id: 'returned_passes', zh: '已退还凭证使用次数', value: (b) => b.misuse.returned },
  { id: 'cancelled_passes', zh: '已注销凭证使用次数', value: (b) => b.misuse.cancelled },
  { id: 'misused_credentials', zh: '异常凭证数', value: (b) => b.misuse.credentials },
];

export function occupancyCsv(r: OccupancyReport, opts: CsvOptions = {}): string {
  return toCsv(occupancyColumns, r.buildings, opts);
}

export const notSeenColumns: ReadonlyArray<CsvColumn<NotSeenTenant & { building: string }>> = [
  { id: 'building', zh: '楼栋编号', value: (t) => t.building },
  { id: 'room', zh: '房间编号', value: (t) => t.room },
  { id: 'room_number', zh: '房号', value: (t) => t.roomNumber },
  { id: 'tenant', zh: '住户编号', value: (t) => t.tenant },
  { id: 'last_seen', zh: '最后出入时间(ms)', value: (t) => t.lastSeen },
  { id: 'since', zh: '租期开始(ms)', value: (t) => t.since },
  { id: 'absent_days', zh: '未出现天数', value: (t) => t.absentDays },
];

/** The not-seen tenants of every building, one row each (the anomaly list behind the counts). */
export function notSeenCsv(r: OccupancyReport, opts: CsvOptions = {}): string {
  return toCsv(notSeenColumns, r.buildings.flatMap((b) => b.notSeen.map((t) => ({ ...t, building: b.building }))), opts);
}

export const threeHighsColumns: ReadonlyArray<CsvColumn<ThreeHighsCell>> = [
  { id: 'source', zh: '来源', value: (c) => c.source },
  { id: 'type', zh: '类型', value: (c) => c.type },
  { id: 'category', zh: '类别', value: (c) => c.category },
  { id: 'building', zh: '楼栋编号', value: (c) => c.building },
  { id: 'weekday', zh: '星期(1=周一)', value: (c) => c.weekday },
  { id: 'hour', zh: '时段(时)', value: (c) => c.hour },
  { id: 'count', zh: '次数', value: (c) => c.count },
];

export function threeHighsCsv(r: ThreeHighsReport, opts: CsvOptions = {}): string {
  return toCsv(threeHighsColumns, r.cells, opts);
}
