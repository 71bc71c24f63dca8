/**
 * REST routes of the reports (issue #5 part 6), JSON or CSV (`?format=csv`, `&lang=zh` for
 * Chinese headers). Behind a session with role admin, manager or police; ID numbers are masked
 * in every report whatever the role (the export is for sharing between departments).
 * Documented in docs/openapi.yaml.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { WebAuth } from '../../web/auth.js';
import { parseOr400 } from '../../web/http-errors.js';
import type { Registry } from '../registry.js';
import { AccessReports, notSeenCsv, occupancyCsv, shareableCsv, threeHighsCsv } from './index.js';

export const REPORT_ROLES = ['admin', 'manager', 'police'] as const;

const DAY = 86_400_000;
const num = z.coerce.number().int();
const format = { format: z.enum(['json', 'csv']).default('json'), lang: z.enum(['en', 'zh']).default('en') };
const occupancyQuery = z
  .object({ building: z.string().min(1).optional(), activeDays: num.min(1).max(365).optional(), periodDays: num.min(1).max(365).optional(), table: z.enum(['buildings', 'not_seen']).default('buildings'), ...format })
  .strict();
const threeHighsQuery = z
  .object({ from: num.nonnegative().optional(), to: num.nonnegative().optional(), building: z.string().min(1).optional(), top: num.min(1).max(500).optional(), ...format })
  .strict();
const exportQuery = z
  .object({ from: num.nonnegative().optional(), to: num.nonnegative().optional(), building: z.string().min(1).optional(), table: z.enum(['rooms', 'residents', 'passes']).default('passes'), ...format })
  .strict();

export interface ReportRouteDeps {
  auth: WebAuth;
  reports: AccessReports;
  registry: Registry;
  timeZone: string;
  now?: () => number;
}

export async function registerReportRoutes(app: FastifyInstance, deps: ReportRouteDeps): Promise<void> {
  const now = deps.now ?? Date.now;
  // `config.roles` as in access-routes.ts: the OpenAPI test compares them with x-roles.
  const guard = { preHandler: deps.auth.requireRole(...REPORT_ROLES), config: { roles: [...REPORT_ROLES] } };
  const csv = (reply: { type(t: string): unknown; header(k: string, v: string): unknown }, name: string, body: string) => {
    reply.type('text/csv; charset=utf-8');
    reply.header('content-disposition', `attachment; filename="${name}.csv"`);
    return body;
  };

  app.get('/api/reports/occupancy', guard, async (req, reply) => {
    const q = parseOr400(occupancyQuery, req.query, 'query');
    const r = deps.reports.occupancy({
      now: now(),
      ...(q.building ? { building: q.building } : {}),
      ...(q.activeDays ? { activeDays: q.activeDays } : {}),
      ...(q.periodDays ? { periodDays: q.periodDays } : {}),
    });
    if (q.format === 'json') return r;
    return csv(reply, `occupancy-${q.table}`, q.table === 'not_seen' ? notSeenCsv(r, { header: q.lang }) : occupancyCsv(r, { header: q.lang }));
  });

  app.get('/api/reports/three-highs', guard, async (req, reply) => {
    const q = parseOr400(threeHighsQuery, req.query, 'query');
    const to = q.to ?? now();
    const r = deps.reports.threeHighs({ from: q.from ?? to - 90 * DAY, to, timeZone: deps.timeZone, ...(q.building ? { building: q.building } : {}), ...(q.top ? { top: q.top } : {}) });
    return q.format === 'json' ? r : csv(reply, 'three-highs', threeHighsCsv(r, { header: q.lang }));
  });

  app.get('/api/reports/export', guard, async (req, reply) => {
    const q = parseOr400(exportQuery, req.query, 'query');
    const e = deps.reports.shareable({
      now: now(),
      timeZone: deps.timeZone,
      tenantView: (id) => deps.registry.getTenant(id),
      ...(q.from !== undefined ? { from: q.from } : {}),
      ...(q.to !== undefined ? { to: q.to } : {}),
      ...(q.building ? { building: q.building } : {}),
    });
    return q.format === 'json' ? e : csv(reply, `export-${q.table}`, shareableCsv(e, q.table, { header: q.lang }));
  });
}
