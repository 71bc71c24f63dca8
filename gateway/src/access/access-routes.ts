/**
 * REST API of the rental-housing domain (issue #5 part 7), documented in docs/openapi.yaml:
 * buildings, rooms, tenants, credentials (CRUD and state changes), bulk import, access-log
 * search, and door commands (remote unlock, temporary codes, lock enrolment).
 *
 * Every route: a session and a role (WebAuth.requireRole; the roles are also kept in the route's
 * `config.roles`, which the OpenAPI test compares with the document), input parsed by zod
 * (registry schemas, or parseOr400 for queries), errors in the shared `{ error: { code,
 * message, issues } }` shape. Every change is audited (who, when, what, which fields — never
 * the values of personal fields). Personal fields are masked in every answer; an admin (or a
 * role in `unmaskRoles`) may ask for `?unmask=1`, and that is audited too.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Actor } from '../commands/command-service.js';
import { ErrorCodes, isShouwangError } from '../errors.js';
import type { AuditRecord } from '../store/store.js';
import type { AuthUser, WebAuth, WebRole } from '../web/auth.js';
import { HttpError, HttpErrorCodes, parseOr400 } from '../web/http-errors.js';
import type { AccessLog } from './access-log.js';
import { MAX_REASON, type DoorCommands } from './door-commands.js';
import { AccessError } from './errors.js';
import { batchFromCsv, batchFromJson, importBatch, importKindSchema, parseTime } from './registry-import.js';
import { credentialStateChangeSchema, type Registry } from './registry.js';
import { accessMethodSchema, credentialStateSchema, type TenantView } from './types.js';

export interface AccessRouteDeps {
  auth: WebAuth;
  registry: Registry;
  accessLog: AccessLog;
  doors: DoorCommands;
  /** Where audit records go (store.appendAudit). */
  audit: (record: AuditRecord) => void;
  /** Roles that may use ?unmask=1 (config access.unmaskRoles; default admin only). */
  unmaskRoles?: readonly WebRole[];
  clock?: () => number;
}

/** Who may do what. Technicians onboard devices: they see buildings and rooms, not people. */
export const ACCESS_ROLES = {
  all: ['admin', 'manager', 'technician', 'police'],
  people: ['admin', 'manager', 'police'],
  manage: ['admin', 'manager'],
  unlock: ['admin', 'manager', 'police'],
} as const satisfies Record<string, readonly WebRole[]>;

/** Imports can be large (a whole village); every other body stays under the server's default. */
export const IMPORT_BODY_LIMIT = 16 * 1024 * 1024;

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

const idParam = z.object({ id: z.string().min(1).max(64) }).strict();
const deviceParam = z.object({ device: z.string().min(1).max(64) }).strict();
const flag = z.enum(['1', 'true', '0', 'false']).transform((v) => v === '1' || v === 'true');
const time = z.preprocess(parseTime, z.number().int().nonnegative('expected epoch ms or an ISO 8601 time'));
const limit = z.coerce.number().int().min(1).max(1000).optional();
const offset = z.coerce.number().int().min(0).optional();
const ref = z.string().min(1).max(64);

const unmaskQuery = z.object({ unmask: flag.optional() }).strict();
const buildingsQuery = z.object({ site: z.string().min(1).optional() }).strict();
const roomsQuery = z.object({ building: ref.optional(), linkageGroup: ref.optional(), door: ref.optional() }).strict();
const occupantsQuery = z.object({ at: time.optional(), unmask: flag.optional() }).strict();
const tenantsQuery = z.object({ room: ref.optional(), at: time.optional(), limit, offset, unmask: flag.optional() }).strict();
const credentialsQuery = z
  .object({ tenant: ref.optional(), room: ref.optional(), door: ref.optional(), state: credentialStateSchema.optional(), at: time.optional(), limit, offset })
  .strict();
const importQuery = z.object({ type: importKindSchema.optional() }).strict();
const accessLogQuery = z
  .object({
    room: ref.optional(),
    tenant: ref.optional(),
    building: ref.optional(),
    door: ref.optional(),
    credential: ref.optional(),
    method: accessMethodSchema.optional(),
    result: z.enum(['granted', 'denied']).optional(),
    resolution: z.enum(['registered', 'expired', 'lost', 'returned', 'cancelled', 'unregistered', 'no_credential']).optional(),
    from: time.optional(),
    to: time.optional(),
    limit,
    cursor: z.string().min(1).max(64).optional(),
  })
  .strict();
const lookupBody = z.object({ idNumber: z.string().min(1).max(32) }).strict();
const reasonBody = z.object({ reason: z.string().trim().min(1, 'a reason is required').max(MAX_REASON) }).strict();
const tempCodeBody = z.object({ minutes: z.number().int().min(1).max(65535), reason: z.string().trim().min(1, 'a reason is required').max(MAX_REASON) }).strict();

/** AccessError and device-command failures as HTTP errors with stable codes. */
export function accessHttpError(err: unknown): unknown {
  if (err instanceof AccessError) {
    if (err.kind === 'invalid') return new HttpError(400, HttpErrorCodes.PAYLOAD_INVALID, err.message, { issues: err.issues });
    if (err.kind === 'not_found') return new HttpError(404, HttpErrorCodes.NOT_FOUND, err.message);
    return new HttpError(409, HttpErrorCodes.CONFLICT, err.message);
  }
  if (isShouwangError(err)) {
    // The device did not do it: say so in words (toHttpError would hide these as a 500).
    const status: Partial<Record<string, number>> = {
      [ErrorCodes.TRANSPORT_TIMEOUT]: 504,
      [ErrorCodes.TRANSPORT_CLOSED]: 503,
      [ErrorCodes.TRANSPORT_CRC]: 502,
      [ErrorCodes.TRANSPORT_FRAME]: 502,
      [ErrorCodes.MODBUS_EXCEPTION]: 502,
      [ErrorCodes.BREAKER_OPEN]: 503,
    };
    const s = status[err.code];
    if (s !== undefined) return new HttpError(s, err.code, `the device did not carry out the command: ${err.message}`);
  }
  return err;
}

/** Register every route of the access API on `app` (inside its own plugin scope). */
export async function registerAccessRoutes(app: FastifyInstance, deps: AccessRouteDeps): Promise<void> {
  await app.register(async (scope) => accessRoutes(scope, deps));
}

async function accessRoutes(app: FastifyInstance, deps: AccessRouteDeps): Promise<void> {
  const { auth, registry, accessLog, doors } = deps;
  const clock = deps.clock ?? Date.now;
  const unmaskRoles: readonly WebRole[] = deps.unmaskRoles ?? ['admin'];

  app.addContentTypeParser(['text/csv', 'application/csv'], { parseAs: 'string', bodyLimit: IMPORT_BODY_LIMIT }, (_req, body, done) => done(null, body));

  const route = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, roles: readonly WebRole[], handler: Handler, extra: { bodyLimit?: number } = {}) => {
    app.route({
      method,
      url,
      config: { roles: [...roles] },
      preHandler: auth.requireRole(...roles),
      ...extra,
      handler: async (request, reply) => {
        try {
          return await handler(request, reply);
        } catch (err) {
          throw accessHttpError(err);
        }
      },
    });
  };

  const user = (request: FastifyRequest): AuthUser => request.user!;
  const actor = (request: FastifyRequest): Actor => ({ by: user(request).username, role: user(request).role, via: 'api' });
  const audit = (request: FastifyRequest, action: string, target: string, detail: Record<string, unknown>, result: AuditRecord['result'] = 'ok', error?: string) =>
    deps.audit({ ts: clock(), actor: user(request).username, role: user(request).role, via: 'api', action, target, detail, result, ...(error === undefined ? {} : { error }) });
  /** Field names only: the values of personal fields never go into the audit log. */
  const fieldsOf = (body: unknown) => (body !== null && typeof body === 'object' ? Object.keys(body).sort() : []);

  /** May this request see personal fields in clear? Refused (403) and audited when asked without the role. */
  const unmaskFor = (request: FastifyRequest, asked: boolean | undefined, target: string, ids: readonly string[]): boolean => {
    if (!asked) return false;
    const role = user(request).role;
    if (!unmaskRoles.includes(role)) {
      audit(request, 'pii:unmask', target, { route: request.routeOptions.url }, 'denied', `role ${role} may not unmask`);
      throw new HttpError(403, HttpErrorCodes.FORBIDDEN, `role ${role} may not see unmasked personal data (allowed: ${unmaskRoles.join(', ')})`);
    }
    audit(request, 'pii:unmask', target, { route: request.routeOptions.url, tenants: ids.slice(0, 100), count: ids.length });
    return true;
  };
  const view = (request: FastifyRequest, asked: boolean | undefined, target: string, tenants: readonly TenantView[]): TenantView[] => {
    if (!unmaskFor(request, asked, target, tenants.map((t) => t.id))) return [...tenants];
    return tenants.map((t) => registry.getTenant(t.id, { unmask: true }) ?? t);
  };
  const must = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new HttpError(404, HttpErrorCodes.NOT_FOUND, `no ${what}`);
    return v;
  };

  // ---- buildings ----
  route('GET', '/api/buildings', ACCESS_ROLES.all, async (req) => {
    const q = parseOr400(buildingsQuery, req.query, 'query');
    return { buildings: registry.listBuildings(q) };
  });
  route('POST', '/api/buildings', ACCESS_ROLES.manage, async (req, reply) => {
    const building = registry.createBuilding(req.body as never);
    audit(req, 'registry:building.create', building.id, { fields: fieldsOf(req.body) });
    return reply.code(201).send({ building });
  });
  route('GET', '/api/buildings/:id', ACCESS_ROLES.all, async (req) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    return { building: must(registry.getBuilding(id), `building ${id}`) };
  });
  route('PATCH', '/api/buildings/:id', ACCESS_ROLES.manage, async (req) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    const building = registry.updateBuilding(id, req.body as never);
    audit(req, 'registry:building.update', id, { fields: fieldsOf(req.body) });
    return { building };
  });
  route('DELETE', '/api/buildings/:id', ACCESS_ROLES.manage, async (req, reply) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    registry.deleteBuilding(id);
    audit(req, 'registry:building.delete', id, {});
    return reply.code(204).send();
  });

  // ---- rooms ----
  route('GET', '/api/rooms', ACCESS_ROLES.all, async (req) => {
    const q = parseOr400(roomsQuery, req.query, 'query');
    return { rooms: registry.listRooms(q) };
  });
  route('POST', '/api/rooms', ACCESS_ROLES.manage, async (req, reply) => {
    const room = registry.createRoom(req.body as never);
    audit(req, 'registry:room.create', room.id, { fields: fieldsOf(req.body) });
    return reply.code(201).send({ room });
  });
  route('GET', '/api/rooms/:id', ACCESS_ROLES.all, async (req) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    return { room: must(registry.getRoom(id), `room ${id}`) };
  });
  route('PATCH', '/api/rooms/:id', ACCESS_ROLES.manage, async (req) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    const room = registry.updateRoom(id, req.body as never);
    audit(req, 'registry:room.update', id, { fields: fieldsOf(req.body) });
    return { room };
  });
  route('DELETE', '/api/rooms/:id', ACCESS_ROLES.manage, async (req, reply) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    registry.deleteRoom(id);
    audit(req, 'registry:room.delete', id, {});
    return reply.code(204).send();
  });
  // 查房知人: who lives here now (active credentials whose lease covers `at`, default now).
  route('GET', '/api/rooms/:id/occupants', ACCESS_ROLES.people, async (req) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    const q = parseOr400(occupantsQuery, req.query, 'query');
    const room = must(registry.getRoom(id), `room ${id}`);
    const at = q.at ?? clock();
    const credentials = registry.listCredentials({ room: id, state: 'active', at, limit: 1000 });
    const tenantIds = [...new Set(credentials.map((c) => c.tenant))];
    const tenants = view(req, q.unmask, `room:${id}`, tenantIds.map((t) => registry.getTenant(t)).filter((t): t is TenantView => t !== undefined));
    return { room, at, occupants: tenants.map((tenant) => ({ tenant, credentials: credentials.filter((c) => c.tenant === tenant.id) })) };
  });

  // ---- tenants ----
  route('GET', '/api/tenants', ACCESS_ROLES.people, async (req) => {
    const q = parseOr400(tenantsQuery, req.query, 'query');
    const { unmask, ...filter } = q;
    const tenants = registry.listTenants(filter);
    return { tenants: view(req, unmask, 'tenants', tenants) };
  });
  route('POST', '/api/tenants', ACCESS_ROLES.manage, async (req, reply) => {
    const tenant = registry.createTenant(req.body as never);
    audit(req, 'registry:tenant.create', tenant.id, { fields: fieldsOf(req.body) });
    return reply.code(201).send({ tenant });
  });
  // 查人知住: find a person by ID number. POST, so the number never appears in a URL or an access log line.
  route('POST', '/api/tenants/lookup', ACCESS_ROLES.people, async (req) => {
    const body = parseOr400(lookupBody, req.body);
    const q = parseOr400(unmaskQuery, req.query, 'query');
    const found = must(registry.findTenantByIdNumber(body.idNumber), 'tenant with this ID number');
    audit(req, 'registry:tenant.lookup', found.id, {});
    const [tenant] = view(req, q.unmask, found.id, [found]);
    const credentials = registry.listCredentials({ tenant: found.id, limit: 1000 });
    const rooms = [...new Set(credentials.filter((c) => c.state === 'active').map((c) => c.room))].map((r) => registry.getRoom(r)).filter((r) => r !== undefined);
    return { tenant, credentials, rooms };
  });
  route('GET', '/api/tenants/:id', ACCESS_ROLES.people, async (req) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    const q = parseOr400(unmaskQuery, req.query, 'query');
    const found = must(registry.getTenant(id), `tenant ${id}`);
    const [tenant] = view(req, q.unmask, id, [found]);
    return { tenant, credentials: registry.listCredentials({ tenant: id, limit: 1000 }) };
  });
  route('PATCH', '/api/tenants/:id', ACCESS_ROLES.manage, async (req) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    const tenant = registry.updateTenant(id, req.body as never);
    audit(req, 'registry:tenant.update', id, { fields: fieldsOf(req.body) });
    return { tenant };
  });
  route('DELETE', '/api/tenants/:id', ACCESS_ROLES.manage, async (req, reply) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    registry.eraseTenant(id);
    audit(req, 'registry:tenant.erase', id, {});
    return reply.code(204).send();
  });

  // ---- credentials ----
  route('GET', '/api/credentials', ACCESS_ROLES.people, async (req) => {
    const q = parseOr400(credentialsQuery, req.query, 'query');
    return { credentials: registry.listCredentials(q) };
  });
  route('POST', '/api/credentials', ACCESS_ROLES.manage, async (req, reply) => {
    const credential = registry.createCredential(req.body as never, user(req).username);
    audit(req, 'registry:credential.create', credential.id, { fields: fieldsOf(req.body), tenant: credential.tenant, room: credential.room, kind: credential.kind });
    return reply.code(201).send({ credential });
  });
  route('GET', '/api/credentials/:id', ACCESS_ROLES.people, async (req) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    const credential = must(registry.getCredential(id), `credential ${id}`);
    return { credential, history: registry.credentialHistory(id) };
  });
  route('PATCH', '/api/credentials/:id', ACCESS_ROLES.manage, async (req) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    const credential = registry.updateCredential(id, req.body as never);
    audit(req, 'registry:credential.update', id, { fields: fieldsOf(req.body), validFrom: credential.validFrom, validTo: credential.validTo, duress: credential.duress });
    return { credential };
  });
  route('POST', '/api/credentials/:id/state', ACCESS_ROLES.manage, async (req) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    const body = parseOr400(credentialStateChangeSchema, req.body);
    const before = must(registry.getCredential(id), `credential ${id}`).state;
    const credential = registry.setCredentialState(id, body.state, user(req).username, body.note);
    audit(req, 'registry:credential.state', id, { from: before, to: body.state, ...(body.note === undefined ? {} : { note: body.note }) });
    return { credential };
  });
  route('POST', '/api/credentials/:id/register-on-lock', ACCESS_ROLES.manage, async (req) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    const body = parseOr400(reasonBody, req.body);
    await doors.registerOnLock(id, body.reason, actor(req));
    return { ok: true, credential: id };
  });
  route('POST', '/api/credentials/:id/cancel-on-lock', ACCESS_ROLES.manage, async (req) => {
    const { id } = parseOr400(idParam, req.params, 'path');
    const body = parseOr400(reasonBody, req.body);
    await doors.cancelOnLock(id, body.reason, actor(req));
    return { ok: true, credential: id };
  });

  // ---- import ----
  route(
    'POST',
    '/api/registry/import',
    ACCESS_ROLES.manage,
    async (req, reply) => {
      const q = parseOr400(importQuery, req.query, 'query');
      let batch;
      if (typeof req.body === 'string') {
        if (!q.type) throw new HttpError(400, HttpErrorCodes.PAYLOAD_INVALID, `a CSV import needs ?type=${importKindSchema.options.join('|')}`, { issues: [{ path: 'type', message: 'required for CSV' }] });
        batch = batchFromCsv(req.body, q.type);
      } else {
        batch = batchFromJson(req.body, q.type);
      }
      const result = importBatch(registry, batch, user(req).username);
      audit(req, 'registry:import', q.type ?? 'registry', { created: result.created, format: typeof req.body === 'string' ? 'csv' : 'json' });
      return reply.code(201).send(result);
    },
    { bodyLimit: IMPORT_BODY_LIMIT },
  );

  // ---- access log ----
  route('GET', '/api/access-log', ACCESS_ROLES.people, async (req) => {
    const q = parseOr400(accessLogQuery, req.query, 'query');
    return accessLog.search(q);
  });

  // ---- doors ----
  route('GET', '/api/doors/:device/commands', ACCESS_ROLES.all, async (req) => {
    const { device } = parseOr400(deviceParam, req.params, 'path');
    return { device, commands: doors.capabilities(device) };
  });
  route('POST', '/api/doors/:device/unlock', ACCESS_ROLES.unlock, async (req) => {
    const { device } = parseOr400(deviceParam, req.params, 'path');
    const body = parseOr400(reasonBody, req.body);
    await doors.unlock(device, body.reason, actor(req));
    return { ok: true, device, command: 'unlock', at: clock() };
  });
  route('POST', '/api/doors/:device/temp-codes', ACCESS_ROLES.manage, async (req) => {
    const { device } = parseOr400(deviceParam, req.params, 'path');
    const body = parseOr400(tempCodeBody, req.body);
    await doors.issueTempCode(device, body.minutes, body.reason, actor(req));
    return { ok: true, device, command: 'issue_temp_code', minutes: body.minutes };
  });
}
