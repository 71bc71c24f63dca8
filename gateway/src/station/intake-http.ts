/**
 * HTTP intake: `POST /api/intake/alarm`, the JSON the gateway's webhook forwarder sends,
 * signed with auth/hmac.ts (`x-shouwang-timestamp`, `x-shouwang-signature` over
 * `<ts>.<exact body bytes>`). Answers, which the forwarder maps to delivered / rejected / retry:
 *
 * - 200 `{ ok: true, id, duplicate }` once the alarm is committed to the board (a resend of a
 *   stored alarm is a 200 with duplicate: true, so the gateway stops resending);
 * - 200 `{ ok: true, heartbeat: true }` for the forwarder's signed `{ type: 'heartbeat', site, at }`
 *   (its path supervision); the last one per site is kept for /api/station;
 * - 401 SW_ERR_SIGNATURE_INVALID: missing, stale or wrong signature (checked before parsing);
 * - 400 SW_ERR_BAD_REQUEST (not JSON) or SW_ERR_PAYLOAD_INVALID with `issues` naming each field;
 * - 413 / 415 for an oversized body or a non-JSON content type;
 * - 5xx only when the board cannot store it (the gateway retries).
 *
 * An alarm from an account missing from receiver.yaml is still taken (the signature proves it
 * came from our gateway, and an alarm must reach an officer); it just has no zone table.
 */
import type { FastifyInstance } from 'fastify';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature } from '../auth/hmac.js';
import type { Logger } from '../log.js';
import { HttpError, HttpErrorCodes, parseOr400 } from '../web/http-errors.js';
import type { AlarmBoard } from './alarm-board.js';
import { alarmMessageSchema, heartbeatMessageSchema, jsonToBoardInput } from './intake-json.js';
import type { ReceiverAccount } from './receiver-config.js';

export const HTTP_INTAKE_PATH = '/api/intake/alarm';

export interface HttpIntakeOptions {
  secret: string;
  board: AlarmBoard;
  accounts: ReadonlyMap<string, ReceiverAccount>;
  log: Logger;
  now?: () => number;
}

export interface HttpIntake {
  /** Last heartbeat per site: gateway clock `at`, our clock `receivedAt`. */
  heartbeats(): Record<string, { at: number; receivedAt: number }>;
}

export async function registerHttpIntake(app: FastifyInstance, opts: HttpIntakeOptions): Promise<HttpIntake> {
  const log = opts.log.child({ module: 'intake-http' });
  const now = opts.now ?? Date.now;
  const heartbeats = new Map<string, { at: number; receivedAt: number }>();
  await app.register(async (scope) => {
    // The signature covers the exact bytes, so this route keeps the raw body and parses it itself.
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    scope.post(HTTP_INTAKE_PATH, async (request) => {
      const raw = request.body;
      if (!Buffer.isBuffer(raw)) throw new HttpError(415, HttpErrorCodes.UNSUPPORTED_MEDIA_TYPE, 'send the alarm as application/json');
      const header = (name: string) => {
        const v = request.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      const check = verifySignature(opts.secret, raw, { signature: header(SIGNATURE_HEADER), timestamp: header(TIMESTAMP_HEADER) }, now());
      if (!check.ok) {
        log.warn({ ip: request.ip, reason: check.reason }, 'HTTP intake: signature refused');
        throw new HttpError(401, HttpErrorCodes.SIGNATURE_INVALID, check.reason);
      }
      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        throw new HttpError(400, HttpErrorCodes.BAD_REQUEST, `body is not JSON: ${(err as Error).message}`);
      }
      if ((json as { type?: unknown } | null)?.type === 'heartbeat') {
        const hb = parseOr400(heartbeatMessageSchema, json, 'heartbeat');
        heartbeats.set(hb.site, { at: hb.at, receivedAt: now() });
        return { ok: true, heartbeat: true };
      }
      const msg = parseOr400(alarmMessageSchema, json, 'alarm');
      const account = opts.accounts.get(msg.account.toUpperCase());
      if (!account) log.warn({ account: msg.account, alarmId: msg.alarmId }, 'HTTP intake: alarm from an account not in receiver.yaml (taken, no zone table)');
      const { alarm, created } = opts.board.record(jsonToBoardInput(msg, 'http', account, now()));
      log.info({ id: alarm.id, alarmId: msg.alarmId, account: alarm.account, seq: msg.seq, duplicate: !created }, 'HTTP intake: alarm stored');
      return { ok: true, id: alarm.id, duplicate: !created };
    });
  });
  return { heartbeats: () => Object.fromEntries(heartbeats) };
}
