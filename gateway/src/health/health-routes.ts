/**
 * HTTP faces of the health service, on the shared web server:
 *   GET /metrics             Prometheus text format 0.0.4 (prom-client registry of metrics.ts)
 *   GET /api/health          JSON summary: site, uptime, online rates per window with roll-ups,
 *                            buses, outbox (+ alarmPath as before), spool, broker, process
 *   GET /api/health/devices  JSON: one entry per device (availability, online rates, poll health)
 */
import type { FastifyInstance } from 'fastify';
import type { HealthService } from './health-service.js';

export function registerHealthRoutes(app: FastifyInstance, health: HealthService): void {
  app.get('/metrics', async (_request, reply) => {
    const text = await health.metrics.scrape();
    // Scrapers must always see fresh numbers.
    return reply.header('cache-control', 'no-store').type(health.metrics.contentType).send(text);
  });
  app.get('/api/health', async () => health.summary());
  app.get('/api/health/devices', async () => {
    const s = health.snapshot();
    return { site: s.site, ts: s.ts, windows: s.online.map((w) => w.window), devices: s.devices };
  });
}
