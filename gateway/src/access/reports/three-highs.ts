/**
 * "三高" analysis — 高发时段、高发区域、高发类型: alarms and access anomalies counted by local hour
 * of day × weekday × location (building) × type, so that a chart shows where and when trouble
 * concentrates. SQL over the store; docs/reports.md describes every field.
 *
 * Two sources, kept apart (`source`), because they count different things:
 *  - `alarm`: alarms and warnings raised (table alarms, kind alarm: profile alarms and access-rule
 *    warnings; `type` is the rule id without its `:<tenant/credential>` suffix);
 *  - `access`: anomalous passes in the access log (`stranger` for an unregistered credential,
 *    `credential_<state>` for a lost / returned / cancelled / expired one). One stranger trying
 *    five times is five passes here but one held `stranger` warning there.
 */
import type { SqliteDatabase } from '../../store/sqlite.js';
import { ACCESS_RULES, accessRuleOf } from '../rules/catalog.js';
import { maintenanceIssue } from '../rules/maintenance.js';
import { hourSql, localMsSql, offsetSegments, weekdaySql } from './local-time-sql.js';
import { ANOMALY_WHERE, anomalySource } from './scan.js';

export interface ThreeHighsOptions {
  from: number;
  to: number;
  timeZone: string;
  building?: string;
  /** How many doors / cells to list as hot spots (default 20). */
  top?: number;
}

export interface ThreeHighsCell {
  source: 'alarm' | 'access';
  type: string;
  /** intrusion, duress, credential, stranger, occupancy, pattern, maintenance, or `other` for profile alarms outside those. */
  category: string;
  building: string | null;
  /** Local hour 0-23. */
  hour: number;
  /** ISO weekday 1 = Monday … 7 = Sunday. */
  weekday: number;
  count: number;
}

export interface ThreeHighsReport {
  kind: 'three-highs';
  from: number;
  to: number;
  timeZone: string;
  totals: { alarms: number; anomalies: number };
  /** Index = local hour; alarms + anomalies. */
  byHour: number[];
  /** Index 0 = Monday … 6 = Sunday. */
  byWeekday: number[];
  byBuilding: Array<{ building: string | null; alarms: number; anomalies: number; count: number }>;
  byType: Array<{ source: 'alarm' | 'access'; type: string; category: string; count: number }>;
  /** Doors with the most alarms + anomalies. */
  hotDoors: Array<{ door: string; building: string | null; count: number }>;
  /** The busiest cells of the cube. */
  hotCells: ThreeHighsCell[];
  /** Every non-empty cell: source × type × building × hour × weekday. */
  cells: ThreeHighsCell[];
}

const ANOMALY_TYPE: Record<string, string> = {
  unregistered: 'stranger',
  expired: 'credential_expired',
  lost: 'credential_lost',
  returned: 'credential_returned',
  cancelled: 'credential_cancelled',
};

/** The category of an alarm rule for the report (access rules by catalog, profile maintenance alarms, duress). */
export function categoryOf(type: string, code: { cid?: number; sia?: string } = {}): string {
  const rule = accessRuleOf(type);
  if (rule) return ACCESS_RULES[rule].category;
  if (maintenanceIssue({ rule: type, code })) return 'maintenance';
  if (type === 'door_forced' || type === 'forced_open' || code.sia === 'DF' || code.sia === 'DN') return 'intrusion';
  return 'other';
}

export class ThreeHighsQuery {
  constructor(private readonly db: SqliteDatabase) {}

  run(opts: ThreeHighsOptions): ThreeHighsReport {
    const segments = offsetSegments(opts.timeZone, opts.from, opts.to);
    const top = opts.top ?? 20;
    const building = opts.building ?? null;
    const aLocal = localMsSql('raised_at', segments);
    const pLocal = localMsSql('ts', segments);
    // SQL text is built from constants and integers computed above; values go in as parameters.
    const alarmRows = this.db
      .prepare(
        `SELECT type, building, door, hour, weekday, cid, sia, COUNT(*) AS n FROM (
           SELECT CASE WHEN instr(rule, ':') > 0 THEN substr(rule, 1, instr(rule, ':') - 1) ELSE rule END AS type,
                  json_extract(location, '$.building') AS building, device AS door,
                  ${hourSql(aLocal)} AS hour, ${weekdaySql(aLocal)} AS weekday, cid, sia
           FROM alarms WHERE kind = 'alarm' AND raised_at >= @from AND raised_at < @to)
         WHERE (@building IS NULL OR building = @building)
         GROUP BY type, building, door, hour, weekday`,
      )
      .all({ from: opts.from, to: opts.to, building }) as Array<{ type: string; building: string | null; door: string; hour: number; weekday: number; cid: number | null; sia: string | null; n: number }>;
    // One read of the access log for the period: cube cells and hot doors both come from it.
    // resolution NOT IN (registered, no_credential) = the anomalies (the column's CHECK lists the rest).
    const accessRows = this.db
      .prepare(
        `SELECT resolution, building, door, ${hourSql(pLocal)} AS hour, ${weekdaySql(pLocal)} AS weekday, COUNT(*) AS n
         FROM ${anomalySource(this.db, opts.from, opts.to)}
         WHERE ts >= @from AND ts < @to AND ${ANOMALY_WHERE}
           AND (@building IS NULL OR building = @building)
         GROUP BY resolution, building, door, hour, weekday`,
      )
      .all({ from: opts.from, to: opts.to, building }) as Array<{ resolution: string; building: string | null; door: string; hour: number; weekday: number; n: number }>;

    const cells = new Map<string, ThreeHighsCell>();
    const doors = new Map<string, { door: string; building: string | null; count: number }>();
    const add = (c: Omit<ThreeHighsCell, 'count'>, door: string, n: number) => {
      const k = `${c.source}\u0000${c.type}\u0000${c.building ?? ''}\u0000${c.hour}\u0000${c.weekday}`;
      const cell = cells.get(k);
      if (cell) cell.count += n;
      else cells.set(k, { ...c, count: n });
      const d = doors.get(door);
      if (d) {
        d.count += n;
        d.building ??= c.building;
      } else doors.set(door, { door, building: c.building, count: n });
    };
    for (const r of alarmRows) {
      // Several codes can share a type (grouped by type only): the row's code names the category.
      const code = { ...(r.cid === null ? {} : { cid: r.cid }), ...(r.sia === null ? {} : { sia: r.sia }) };
      add({ source: 'alarm', type: r.type, category: categoryOf(r.type, code), building: r.building, hour: r.hour, weekday: r.weekday }, r.door, r.n);
    }
    for (const r of accessRows) {
      const type = ANOMALY_TYPE[r.resolution]!;
      add({ source: 'access', type, category: categoryOf(type), building: r.building, hour: r.hour, weekday: r.weekday }, r.door, r.n);
    }
    const hotDoors = [...doors.values()].sort((a, b) => b.count - a.count || a.door.localeCompare(b.door)).slice(0, top);
    return summarise(opts, [...cells.values()], hotDoors, top);
  }
}

function summarise(opts: ThreeHighsOptions, cells: ThreeHighsCell[], hotDoors: ThreeHighsReport['hotDoors'], top: number): ThreeHighsReport {
  const byHour = new Array<number>(24).fill(0);
  const byWeekday = new Array<number>(7).fill(0);
  const buildings = new Map<string | null, { building: string | null; alarms: number; anomalies: number; count: number }>();
  const types = new Map<string, { source: 'alarm' | 'access'; type: string; category: string; count: number }>();
  const totals = { alarms: 0, anomalies: 0 };
  for (const c of cells) {
    byHour[c.hour]! += c.count;
    byWeekday[c.weekday - 1]! += c.count;
    let b = buildings.get(c.building);
    if (!b) buildings.set(c.building, (b = { building: c.building, alarms: 0, anomalies: 0, count: 0 }));
    b.count += c.count;
    if (c.source === 'alarm') {
      b.alarms += c.count;
      totals.alarms += c.count;
    } else {
      b.anomalies += c.count;
      totals.anomalies += c.count;
    }
    const k = `${c.source}\u0000${c.type}`;
    const t = types.get(k);
    if (t) t.count += c.count;
    else types.set(k, { source: c.source, type: c.type, category: c.category, count: c.count });
  }
  const byCount = <T extends { count: number }>(a: T, b: T) => b.count - a.count;
  cells.sort((a, b) => byCount(a, b) || a.type.localeCompare(b.type) || (a.building ?? '').localeCompare(b.building ?? '') || a.weekday - b.weekday || a.hour - b.hour || a.source.localeCompare(b.source));
  return {
    kind: 'three-highs',
    from: opts.from,
    to: opts.to,
    timeZone: opts.timeZone,
    totals,
    byHour,
    byWeekday,
    byBuilding: [...buildings.values()].sort((a, b) => byCount(a, b) || (a.building ?? '').localeCompare(b.building ?? '')),
    byType: [...types.values()].sort((a, b) => byCount(a, b) || a.type.localeCompare(b.type)),
    hotDoors,
    hotCells: cells.slice(0, top),
    cells,
  };
}
