/**
 * What the daily 人房不一致 check asks of the store, as SQL over the migration-5 tables (credentials,
 * rooms, room_doors, access_log). Give it a read-only connection (reports/index.ts
 * openReportDatabase): it only reads, and never holds the writer's connection.
 */
import type { SqliteDatabase } from '../../store/sqlite.js';
import type { RegisteredTenant } from './types.js';

export interface TenantQueries {
  registeredTenants(now: number): RegisteredTenant[];
  lastSeen(tenant: string): number | undefined;
}

export function sqlTenantQueries(db: SqliteDatabase): TenantQueries {
  const registered = db.prepare(`SELECT c.tenant, c.room, r.building, MIN(c.valid_from) AS since,
      (SELECT d.door FROM room_doors d WHERE d.room = c.room ORDER BY d.door LIMIT 1) AS door
    FROM credentials c JOIN rooms r ON r.id = c.room
    WHERE c.state = 'active' AND c.valid_from <= @now AND c.valid_to > @now
    GROUP BY c.tenant, c.room
    ORDER BY c.tenant, c.room`);
  // Walks the (tenant, ts) index backwards to the newest granted pass.
  const last = db.prepare(`SELECT ts FROM access_log WHERE tenant = ? AND result = 'granted' ORDER BY ts DESC LIMIT 1`);
  return {
    registeredTenants: (now) =>
      (registered.all({ now }) as Array<{ tenant: string; room: string; building: string; since: number; door: string | null }>).map((r) => ({
        tenant: r.tenant,
        room: r.room,
        building: r.building,
        since: r.since,
        ...(r.door === null ? {} : { door: r.door }),
      })),
    lastSeen: (tenant) => (last.get(tenant) as { ts: number } | undefined)?.ts,
  };
}
