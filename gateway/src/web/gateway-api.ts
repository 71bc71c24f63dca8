/**
 * The gateway's own HTTP API (on the shared web server factory). For now: the police
 * receiver's acknowledgement callback and a health view of the alarm path. Issue #5's REST API
 * grows here.
 *
 * `POST /api/alarm-acks`: body = alarms/operator-ack.ts, signed with auth/hmac.ts over the raw
 * body bytes (so the route reads the body as text and parses it itself).
 */
import type { FastifyInstance } from 'fastify';
import type { AlarmForwarding } from '../alarms/alarm-forwarding.js';
import { registerHealthRoutes } from '../health/health-routes.js';
import type { HealthService } from '../health/health-service.js';
import { OPERATOR_ACK_PATH, operatorAckSchema } from '../alarms/operator-ack.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature } from '../auth/hmac.js';
import type { Logger } from '../log.js';
import { HttpError, HttpErrorCodes, parseOr400 } from './http-errors.js';
import { createWebServer, type WebServer } from './server.js';

export interface GatewayApiOptions {
  host: string;
  port: number;
  log: Logger;
  site: string;
  forwarding: AlarmForwarding;
  /** Secret the receivers sign acknowledgements with; without it the callback answers 503. */
  ackSecret: string | undefined;
  /** Serves GET /metrics, /api/health (with `alarmPath`) and /api/health/devices; without it /api/health is `{ site, alarmPath }`. */
  health?: HealthService;
  now?: () => number;
  /** More routes (login, the rental-housing API...), registered before the server listens. */
  routes?: (app: FastifyInstance) => Promise<void>;
}

export async function startGatewayApi(opts: GatewayApiOptions): Promise<WebServer> {
  const server = createWebServer({ host: opts.host, port: opts.port, log: opts.log });
  await server.app.register(async (scope) => ackRoutes(scope, opts));
  if (opts.routes) await opts.routes(server.app);
  if (opts.health) registerHealthRoutes(server.app, opts.health);
  else server.app.get('/api/health', async () => ({ site: opts.site, alarmPath: opts.forwarding.stats() }));
  await server.listen();
  return server;
}

async function ackRoutes(app: FastifyInstance, opts: GatewayApiOptions): Promise<void> {
  const now = opts.now ?? Date.now;
  // Raw text: the signature covers the exact bytes the receiver sent.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.post(OPERATOR_ACK_PATH, async (request) => {
    if (!opts.ackSecret) throw new HttpError(503, HttpErrorCodes.FORBIDDEN, 'acknowledgement callback is off: set forwarding.ackSecret in the gateway config');
    const raw = typeof request.body === 'string' ? request.body : '';
    const header = (name: string) => {
      const v = request.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const check = verifySignature(opts.ackSecret, raw, { signature: header(SIGNATURE_HEADER), timestamp: header(TIMESTAMP_HEADER) }, now());
    if (!check.ok) throw new HttpError(401, HttpErrorCodes.SIGNATURE_INVALID, check.reason);
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new HttpError(400, HttpErrorCodes.PAYLOAD_INVALID, 'body is not JSON');
    }
    const ack = parseOr400(operatorAckSchema, json, 'acknowledgement');
    const alarm = opts.forwarding.operatorAck(ack, 'http');
    if (!alarm) throw new HttpError(404, HttpErrorCodes.NOT_FOUND, ack.alarmId ? `no alarm ${ack.alarmId}` : `no alarm sent as #${ack.account} seq ${ack.seq}`);
    return { alarmId: alarm.id, state: alarm.state };
  });
}
