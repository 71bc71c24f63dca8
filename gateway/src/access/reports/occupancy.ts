/**
 * 人房一致 per building ("查房知人、查人知住"): who is registered in each building, who of them
 * actually comes and goes, and what does not fit — registered tenants not seen for N days,
 * strangers (unregistered credentials) and credentials used after they were lost, returned,
 * cancelled or their lease ended. SQL over the store (migration 5 tables); docs/reports.md.
 *
 * "Registered" = holds an active credential whose lease covers `now`. "Active" = a granted pass
 * in the last `activeDays` days. "Not seen" = no granted pass for `activeDays` days or more, counted
 * from the lease start for a tenant never seen (the same rule as the daily tenant_not_seen check).
 * A tenant whose lease began less than `activeDays` ago and who has not passed yet is `new`.
 */
import type { SqliteDatabase } from '../../store/sqlite.js';
import { ANOMALY_WHERE, anomalySource } from './scan.js';

const DAY_MS = 86_400_000;
const MISUSE = ['expired', 'lost', 'returned', 'cancelled'] as const;
type Misuse = (typeof MISUSE)[number];

export interface OccupancyOptions {
  now: number;
  /** Active = a granted pass within this many days; not seen = none for this long (default 7). */
  activeDays?: number;
  /** Strangers and misused credentials are counted over the last periodDays days (default 30). */
  periodDays?: number;
  /** Only this building. */
  building?: string;
  /** At most this many not-seen tenants listed per building (the counts are always complete). Default 1000. */
  listLimit?: number;
}

export interface NotSeenTenant {
  tenant: string;
  room: string;
  roomNumber: string;
  /** Last granted pass, or null when never seen. */
  lastSeen: number | null;
  /** Lease start (earliest active credential). */
  since: number;
  absentDays: number;
}

export interface BuildingOccupancy {
  building: string;
  name: string;
  rooms: number;
  /** Rooms with at least one registered tenant. */
  occupiedRooms: number;
  registeredTenants: number;
  activeTenants: number;
  notSeenTenants: number;
  newTenants: number;
  /** activeTenants / registeredTenants, or null without registered tenants. */
  activeRate: number | null;
  strangers: { passes: number; doors: number; cards: number };
  misuse: Record<Misuse, number> & { credentials: number };
  notSeen: NotSeenTenant[];
}

export interface OccupancyReport {
  kind: 'occupancy';
  generatedAt: number;
  activeDays: number;
  periodDays: number;
  /** The anomaly period [from, to). */
  from: number;
  to: number;
  buildings: BuildingOccupancy[];
  totals: Omit<BuildingOccupancy, 'building' | 'name' | 'notSeen'>;
  /** Anomalies at doors that belong to no building in the registry. */
  unassigned: { strangers: number; misuse: number };
}

interface TenantRow {
  tenant: string;
  room: string;
  building: string;
  number: string;
  since: number;
}

export class OccupancyReportQuery {
  private readonly s;

  constructor(private readonly db: SqliteDatabase) {
    this.s = {
      buildings: db.prepare(`SELECT b.id, b.name, (SELECT COUNT(*) FROM rooms r WHERE r.building = b.id) AS rooms
        FROM buildings b WHERE (@building IS NULL OR b.id = @building) ORDER BY b.id`),
      registered: db.prepare(`SELECT c.tenant, c.room, r.building, r.number, MIN(c.valid_from) AS since
        FROM credentials c JOIN rooms r ON r.id = c.room
        WHERE c.state = 'active' AND c.valid_from <= @now AND c.valid_to > @now AND (@building IS NULL OR r.building = @building)
        GROUP BY c.tenant, c.room`),
      // Granted passes in the activity window: one range scan of the ts index.
      recent: db.prepare(`SELECT tenant, MAX(ts) AS last FROM access_log INDEXED BY access_log_ts
        WHERE ts >= @since AND ts <= @now AND result = 'granted' AND tenant IS NOT NULL GROUP BY tenant`),
      // Only for tenants not seen recently: walks the (tenant, ts) index backwards to the first granted pass.
      lastEver: db.prepare(`SELECT ts FROM access_log WHERE tenant = ? AND result = 'granted' AND ts <= ? ORDER BY ts DESC LIMIT 1`),
    };
  }

  /** Strangers and misused credentials per building and resolution (resolution NOT IN (registered, no_credential) = the anomalies). */
  private anomalies(from: number, to: number, building: string | null) {
    return this.db
      .prepare(
        `SELECT building, resolution, COUNT(*) AS n, COUNT(DISTINCT door) AS doors, COUNT(DISTINCT card_hash) AS cards, COUNT(DISTINCT credential) AS credentials
         FROM ${anomalySource(this.db, from, to)}
         WHERE ts >= @from AND ts < @to AND ${ANOMALY_WHERE} AND (@building IS NULL OR building = @building)
         GROUP BY building, resolution`,
      )
      .all({ from, to, building }) as Array<{ building: string | null; resolution: string; n: number; doors: number; cards: number; credentials: number }>;
  }

  run(opts: OccupancyOptions): OccupancyReport {
    const now = opts.now;
    const activeDays = opts.activeDays ?? 7;
    const periodDays = opts.periodDays ?? 30;
    const listLimit = opts.listLimit ?? 1000;
    const building = opts.building ?? null;
    const activeSince = now - activeDays * DAY_MS;
    const from = now - periodDays * DAY_MS;

    const buildings = new Map<string, BuildingOccupancy>();
    for (const b of this.s.buildings.all({ building }) as Array<{ id: string; name: string; rooms: number }>) {
      buildings.set(b.id, { building: b.id, name: b.name, ...zeroCounts(b.rooms), notSeen: [] });
    }

    const recent = new Map<string, number>();
    for (const r of this.s.recent.all({ since: activeSince, now }) as Array<{ tenant: string; last: number }>) recent.set(r.tenant, r.last);

    const occupied = new Map<string, Set<string>>();
    const counted = new Map<string, Set<string>>();
    for (const t of this.s.registered.all({ now, building }) as TenantRow[]) {
      const b = buildings.get(t.building);
      if (!b) continue;
      let rooms = occupied.get(t.building);
      if (!rooms) occupied.set(t.building, (rooms = new Set()));
      rooms.add(t.room);
      // A tenant with two rooms in one building counts once there.
      let tenants = counted.get(t.building);
      if (!tenants) counted.set(t.building, (tenants = new Set()));
      if (tenants.has(t.tenant)) continue;
      tenants.add(t.tenant);
      b.registeredTenants++;
      if (recent.has(t.tenant)) {
        b.activeTenants++;
        continue;
      }
      const ever = (this.s.lastEver.get(t.tenant, now) as { ts: number } | undefined)?.ts;
      const reference = Math.max(ever ?? t.since, t.since);
      if (now - reference >= activeDays * DAY_MS) {
        b.notSeenTenants++;
        if (b.notSeen.length < listLimit)
          b.notSeen.push({ tenant: t.tenant, room: t.room, roomNumber: t.number, lastSeen: ever ?? null, since: t.since, absentDays: Math.floor((now - reference) / DAY_MS) });
      } else b.newTenants++;
    }

    const unassigned = { strangers: 0, misuse: 0 };
    for (const a of this.anomalies(from, now, building)) {
      const b = a.building === null ? undefined : buildings.get(a.building);
      if (!b) {
        if (a.resolution === 'unregistered') unassigned.strangers += a.n;
        else unassigned.misuse += a.n;
        continue;
      }
      if (a.resolution === 'unregistered') b.strangers = { passes: a.n, doors: a.doors, cards: a.cards };
      else {
        b.misuse[a.resolution as Misuse] = a.n;
        b.misuse.credentials += a.credentials;
      }
    }

    const list = [...buildings.values()];
    for (const b of list) {
      b.occupiedRooms = occupied.get(b.building)?.size ?? 0;
      b.activeRate = b.registeredTenants === 0 ? null : round(b.activeTenants / b.registeredTenants);
      b.notSeen.sort((x, y) => y.absentDays - x.absentDays || x.tenant.localeCompare(y.tenant));
    }
    return { kind: 'occupancy', generatedAt: now, activeDays, periodDays, from, to: now, buildings: list, totals: totalsOf(list), unassigned };
  }
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

/** The counts of a building or of the totals, all at zero (fresh objects: they are added to in place). */
function zeroCounts(rooms: number): OccupancyReport['totals'] {
  return {
    rooms,
    occupiedRooms: 0,
    registeredTenants: 0,
    activeTenants: 0,
    notSeenTenants: 0,
    newTenants: 0,
    activeRate: null,
    strangers: { passes: 0, doors: 0, cards: 0 },
    misuse: { expired: 0, lost: 0, returned: 0, cancelled: 0, credentials: 0 },
  };
}

function totalsOf(list: readonly BuildingOccupancy[]): OccupancyReport['totals'] {
  const t = zeroCounts(0);
  for (const b of list) {
    t.rooms += b.rooms;
    t.occupiedRooms += b.occupiedRooms;
    t.registeredTenants += b.registeredTenants;
    t.activeTenants += b.activeTenants;
    t.notSeenTenants += b.notSeenTenants;
    t.newTenants += b.newTenants;
    t.strangers.passes += b.strangers.passes;
    t.strangers.doors += b.strangers.doors;
    t.strangers.cards += b.strangers.cards;
    for (const k of [...MISUSE, 'credentials'] as const) t.misuse[k] += b.misuse[k];
  }
  t.activeRate = t.registeredTenants === 0 ? null : round(t.activeTenants / t.registeredTenants);
  return t;
}
