/**
 * The one auth module for every web face: users with roles, scrypt-hashed passwords
 * (auth/password.ts), server-side sessions behind an HttpOnly SameSite=Strict cookie, a role
 * check for routes, a login rate limit and an audit trail. The gateway API, its console and
 * the police console all use it the same way:
 *
 *   const auth = new WebAuth({ db, log, firstAdminDir: dataDir });
 *   const first = auth.ensureFirstAdmin();           // no default password, ever
 *   await auth.register(server.app);                  // cookie plugin + /api/auth/* + /api/users
 *   app.get('/api/x', { preHandler: auth.requireRole('admin', 'police') }, handler);
 *
 * Why these choices:
 * - The session id is 32 random bytes; only its SHA-256 is stored, so a copy of the database
 *   does not hand out live sessions. Sessions live in SQLite, so a restart does not log out the
 *   duty officer in the middle of an incident.
 * - SameSite=Strict plus an Origin check on state-changing requests stops cross-site forgery
 *   without tokens in forms; JSON-only bodies add a preflight for any cross-site script.
 * - Unknown users cost the same scrypt as known ones, so response time does not reveal names.
 * - The rate limit counts failures per (username, client address): 5 per minute by default.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { DEFAULT_SCRYPT, hashPassword, verifyPasswordAsync } from '../auth/password.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { SqliteDatabase } from '../store/sqlite.js';
import { HttpError, HttpErrorCodes, parseOr400 } from './http-errors.js';

export const WEB_ROLES = ['admin', 'manager', 'technician', 'police'] as const;
export const webRoleSchema = z.enum(WEB_ROLES);
export type WebRole = z.infer<typeof webRoleSchema>;

export interface AuthUser {
  username: string;
  role: WebRole;
}

export interface UserRecord extends AuthUser {
  createdAt: number;
  updatedAt: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The logged-in user, or null (set by WebAuth's onRequest hook). */
    user: AuthUser | null;
  }
}

/** Letters (any script: officers have Chinese names), digits, `.`, `_`, `-`; 1-64 characters. */
export const usernameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[\p{L}\p{N}._-]+$/u, 'letters, digits, ".", "_" or "-" only');
export const MIN_WEB_PASSWORD_LENGTH = 8;
export const newPasswordSchema = z
  .string()
  .min(MIN_WEB_PASSWORD_LENGTH, `at least ${MIN_WEB_PASSWORD_LENGTH} characters`)
  .max(256);

const loginBodySchema = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) }).strict();
const passwordBodySchema = z.object({ current: z.string().min(1).max(256), next: newPasswordSchema }).strict();
const createUserBodySchema = z.object({ username: usernameSchema, password: newPasswordSchema, role: webRoleSchema }).strict();

export interface WebAuthOptions {
  db: SqliteDatabase;
  log: Logger;
  /** Where ensureFirstAdmin() writes the generated admin password (mode 0600). */
  firstAdminDir?: string;
  /** Absolute session lifetime (default 12 h: one duty shift). */
  sessionTtlMs?: number;
  cookieName?: string;
  /** Add the Secure flag (set it when the server is reached over HTTPS, e.g. behind a TLS proxy). */
  secureCookie?: boolean;
  /** Failed logins allowed per (username, address) in the window (default 5 per 60 s). */
  loginLimit?: { failures: number; windowMs: number };
  /** scrypt cost for new hashes (tests may lower it). */
  hashParams?: { N: number; r: number; p: number };
  now?: () => number;
}

export interface FirstAdmin {
  /** True when this call created the admin (first run). */
  created: boolean;
  username: string;
  /** The file holding the generated password, while it exists (deleted when the admin changes it). */
  passwordFile: string | undefined;
  /** The generated password, only on the run that created it (print it once). */
  password?: string;
}

export const FIRST_ADMIN_USERNAME = 'admin';
export const FIRST_ADMIN_PASSWORD_FILE = 'admin-password';
const SESSION_ID_BYTES = 32;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function ensureSchema(db: SqliteDatabase): void {
  // IF NOT EXISTS: the auth tables can live in any service's database (the receiver's board,
  // the gateway's store) without taking part in that service's numbered migrations.
  db.exec(`
    CREATE TABLE IF NOT EXISTS web_users (
      username      TEXT    PRIMARY KEY COLLATE NOCASE,
      password_hash TEXT    NOT NULL,
      role          TEXT    NOT NULL CHECK (role IN ('admin','manager','technician','police')),
      created_at    INTEGER NOT NULL,
      updated_at    INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS web_sessions (
      id_hash    TEXT    PRIMARY KEY,
      username   TEXT    NOT NULL COLLATE NOCASE REFERENCES web_users(username) ON DELETE CASCADE,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      ip         TEXT
    );
    CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions(username);
    CREATE TABLE IF NOT EXISTS web_audit (
      seq    INTEGER PRIMARY KEY AUTOINCREMENT,
      at     INTEGER NOT NULL,
      actor  TEXT,
      action TEXT    NOT NULL,
      target TEXT,
      ip     TEXT,
      detail TEXT
    );
  `);
}

export interface AuditRecord {
  seq: number;
  at: number;
  actor: string | null;
  action: string;
  target: string | null;
  ip: string | null;
  detail: string | null;
}

/** Sliding-window failure counter per key; bounded so a flood of names cannot grow it forever. */
class FailureWindow {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxKeys = 10_000,
  ) {}

  /** ms until the key may try again, or 0. */
  blockedFor(key: string, now: number): number {
    const list = this.prune(key, now);
    if (list.length < this.limit) return 0;
    return list[0]! + this.windowMs - now;
  }

  fail(key: string, now: number): void {
    const list = this.prune(key, now);
    list.push(now);
    this.failures.set(key, list);
    if (this.failures.size > this.maxKeys) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
  }

  clear(key: string): void {
    this.failures.delete(key);
  }

  private prune(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length === 0) this.failures.delete(key);
    return list;
  }
}

export class WebAuth {
  readonly cookieName: string;
  private readonly db: SqliteDatabase;
  private readonly log: Logger;
  private readonly ttlMs: number;
  private readonly secure: boolean;
  private readonly now: () => number;
  private readonly hashParams: { N: number; r: number; p: number };
  private readonly limiter: FailureWindow;
  /** Verified against when the user does not exist, so both paths cost one scrypt. */
  private readonly dummyHash: string;
  private readonly firstAdminFile: string | undefined;

  constructor(opts: WebAuthOptions) {
    this.db = opts.db;
    this.log = opts.log.child({ module: 'web-auth' });
    this.ttlMs = opts.sessionTtlMs ?? 12 * 3600_000;
    this.cookieName = opts.cookieName ?? 'sw_session';
    this.secure = opts.secureCookie ?? false;
    this.now = opts.now ?? Date.now;
    this.hashParams = opts.hashParams ?? DEFAULT_SCRYPT;
    const limit = opts.loginLimit ?? { failures: 5, windowMs: 60_000 };
    this.limiter = new FailureWindow(limit.failures, limit.windowMs);
    this.firstAdminFile = opts.firstAdminDir === undefined ? undefined : join(opts.firstAdminDir, FIRST_ADMIN_PASSWORD_FILE);
    ensureSchema(this.db);
    this.dummyHash = hashPassword(randomBytes(16).toString('hex'), this.hashParams);
  }

  // ---- users ----

  listUsers(): UserRecord[] {
    const rows = this.db.prepare('SELECT username, role, created_at, updated_at FROM web_users ORDER BY username').all() as Array<{
      username: string;
      role: WebRole;
      created_at: number;
      updated_at: number;
    }>;
    return rows.map((r) => ({ username: r.username, role: r.role, createdAt: r.created_at, updatedAt: r.updated_at }));
  }

  getUser(username: string): AuthUser | undefined {
    const row = this.db.prepare('SELECT username, role FROM web_users WHERE username = ?').get(username) as AuthUser | undefined;
    return row ? { username: row.username, role: row.role } : undefined;
  }

  /** Create a user. Throws HttpError 400 (bad name/password/role) or 409 (exists). */
  createUser(input: { username: string; password: string; role: WebRole }, actor: string | null = null): AuthUser {
    const body = parseOr400(createUserBodySchema, input, 'user');
    if (this.getUser(body.username)) throw new HttpError(409, HttpErrorCodes.CONFLICT, `user "${body.username}" already exists`);
    const at = this.now();
    this.db
      .prepare('INSERT INTO web_users (username, password_hash, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?)')
      .run(body.username, hashPassword(body.password, this.hashParams), body.role, at, at);
    this.audit(actor, 'user.create', body.username, null, body.role);
    return { username: body.username, role: body.role };
  }

  /** Delete a user and their sessions. The last admin cannot be deleted. */
  deleteUser(username: string, actor: string | null = null): void {
    const user = this.getUser(username);
    if (!user) throw new HttpError(404, HttpErrorCodes.NOT_FOUND, `no user "${username}"`);
    if (user.role === 'admin' && this.countAdmins() <= 1) throw new HttpError(409, HttpErrorCodes.CONFLICT, 'the last admin cannot be deleted');
    this.db.prepare('DELETE FROM web_users WHERE username = ?').run(user.username);
    this.audit(actor, 'user.delete', user.username, null, null);
  }

  /** Set a new password and end the user's other sessions (keepSession: the one making the change). */
  setPassword(username: string, password: string, opts: { actor?: string | null; keepSessionId?: string } = {}): void {
    const next = parseOr400(newPasswordSchema, password, 'password');
    const user = this.getUser(username);
    if (!user) throw new HttpError(404, HttpErrorCodes.NOT_FOUND, `no user "${username}"`);
    this.db.transaction(() => {
      this.db.prepare('UPDATE web_users SET password_hash = ?, updated_at = ? WHERE username = ?').run(hashPassword(next, this.hashParams), this.now(), user.username);
      const keep = opts.keepSessionId === undefined ? '' : sha256(opts.keepSessionId);
      this.db.prepare('DELETE FROM web_sessions WHERE username = ? AND id_hash <> ?').run(user.username, keep);
    })();
    this.audit(opts.actor ?? user.username, 'user.password', user.username, null, null);
    // The generated first password is stale now; leaving it on disk would only mislead.
    if (user.username === FIRST_ADMIN_USERNAME && this.firstAdminFile && existsSync(this.firstAdminFile)) {
      try {
        unlinkSync(this.firstAdminFile);
      } catch (err) {
        this.log.warn({ file: this.firstAdminFile, err: errorMessage(err) }, 'could not delete the first admin password file');
      }
    }
  }

  private countAdmins(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM web_users WHERE role = 'admin'").get() as { n: number }).n;
  }

  /**
   * No default password: when no admin exists, create `admin` with a random password, write it
   * to `<firstAdminDir>/admin-password` (mode 0600) and return it so the caller can print it once.
   */
  ensureFirstAdmin(): FirstAdmin {
    const file = this.firstAdminFile;
    if (this.countAdmins() > 0) {
      return { created: false, username: FIRST_ADMIN_USERNAME, passwordFile: file !== undefined && existsSync(file) ? file : undefined };
    }
    if (this.getUser(FIRST_ADMIN_USERNAME)) {
      // Someone demoted "admin" and there is no admin left: do not silently reset its password.
      throw new HttpError(409, HttpErrorCodes.CONFLICT, 'no admin user exists but user "admin" does (with another role); fix the users table');
    }
    // 18 random bytes = 24 base64url characters: typeable, and far beyond guessing.
    const password = randomBytes(18).toString('base64url');
    if (file !== undefined) writePrivateFile(file, `${password}\n`);
    this.createUser({ username: FIRST_ADMIN_USERNAME, password, role: 'admin' }, null);
    this.log.warn({ username: FIRST_ADMIN_USERNAME, passwordFile: file }, 'first run: created the admin user with a random password');
    return { created: true, username: FIRST_ADMIN_USERNAME, passwordFile: file, password };
  }

  // ---- sessions ----

  /**
   * Check a login. Throws HttpError 429 while (username, ip) is over the failure limit, 401
   * for a wrong name or password (the same answer for both). Returns a new session id.
   */
  async login(username: string, password: string, ip: string): Promise<{ sessionId: string; user: AuthUser; expiresAt: number }> {
    const key = `${username.toLowerCase()}\u0000${ip}`;
    const wait = this.limiter.blockedFor(key, this.now());
    if (wait > 0) {
      this.audit(username, 'login.limited', username, ip, null);
      const seconds = Math.ceil(wait / 1000);
      throw new HttpError(429, HttpErrorCodes.RATE_LIMITED, `too many failed logins; try again in ${seconds} s`, { headers: { 'retry-after': String(seconds) } });
    }
    const row = this.db.prepare('SELECT username, role, password_hash FROM web_users WHERE username = ?').get(username) as
      | { username: string; role: WebRole; password_hash: string }
      | undefined;
    let ok = false;
    try {
      ok = await verifyPasswordAsync(password, row?.password_hash ?? this.dummyHash);
    } catch (err) {
      // A malformed stored hash is a data problem: log it, refuse the login like a wrong password.
      this.log.error({ username, err: errorMessage(err) }, 'stored password hash is unreadable');
    }
    if (!row || !ok) {
      this.limiter.fail(key, this.now());
      this.audit(username, 'login.failed', username, ip, row ? 'wrong password' : 'unknown user');
      throw new HttpError(401, HttpErrorCodes.LOGIN_FAILED, 'wrong username or password');
    }
    this.limiter.clear(key);
    const sessionId = randomBytes(SESSION_ID_BYTES).toString('base64url');
    const at = this.now();
    const expiresAt = at + this.ttlMs;
    this.db.prepare('DELETE FROM web_sessions WHERE expires_at <= ?').run(at);
    this.db.prepare('INSERT INTO web_sessions (id_hash, username, created_at, expires_at, ip) VALUES (?, ?, ?, ?, ?)').run(sha256(sessionId), row.username, at, expiresAt, ip);
    this.audit(row.username, 'login', row.username, ip, null);
    return { sessionId, user: { username: row.username, role: row.role }, expiresAt };
  }

  /** The user behind a session id, if the session exists and has not expired. */
  sessionUser(sessionId: string | undefined): AuthUser | undefined {
    if (!sessionId || sessionId.length > 128) return undefined;
    const row = this.db
      .prepare('SELECT u.username AS username, u.role AS role, s.expires_at AS expires_at FROM web_sessions s JOIN web_users u ON u.username = s.username WHERE s.id_hash = ?')
      .get(sha256(sessionId)) as { username: string; role: WebRole; expires_at: number } | undefined;
    if (!row) return undefined;
    if (row.expires_at <= this.now()) {
      this.db.prepare('DELETE FROM web_sessions WHERE id_hash = ?').run(sha256(sessionId));
      return undefined;
    }
    return { username: row.username, role: row.role };
  }

  logout(sessionId: string | undefined, ip: string | null = null): void {
    if (!sessionId) return;
    const user = this.sessionUser(sessionId);
    this.db.prepare('DELETE FROM web_sessions WHERE id_hash = ?').run(sha256(sessionId));
    if (user) this.audit(user.username, 'logout', user.username, ip, null);
  }

  // ---- audit ----

  /** Append an audit record (any module may use it for commands and changes). */
  audit(actor: string | null, action: string, target: string | null, ip: string | null, detail: string | null): void {
    this.db.prepare('INSERT INTO web_audit (at, actor, action, target, ip, detail) VALUES (?, ?, ?, ?, ?, ?)').run(this.now(), actor, action, target, ip, detail);
  }

  auditLog(limit = 200): AuditRecord[] {
    return this.db.prepare('SELECT seq, at, actor, action, target, ip, detail FROM web_audit ORDER BY seq DESC LIMIT ?').all(limit) as AuditRecord[];
  }

  // ---- fastify ----

  /** preHandler: 401 without a session, 403 when the user's role is not one of `roles`. */
  requireRole(...roles: WebRole[]): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
    return async (request) => {
      if (!request.user) throw new HttpError(401, HttpErrorCodes.UNAUTHENTICATED, 'login required');
      if (roles.length > 0 && !roles.includes(request.user.role)) {
        throw new HttpError(403, HttpErrorCodes.FORBIDDEN, `role ${request.user.role} may not do this (needs ${roles.join(' or ')})`);
      }
    };
  }

  /** The session id the request carries, if any. */
  sessionIdOf(request: FastifyRequest): string | undefined {
    return request.cookies?.[this.cookieName];
  }

  /** Is the request's session still valid? (Long-lived streams re-check on every heartbeat.) */
  stillValid(request: FastifyRequest): boolean {
    return this.sessionUser(this.sessionIdOf(request)) !== undefined;
  }

  /**
   * Cookie plugin, request.user, the Origin check, and the routes:
   * POST /api/auth/login, POST /api/auth/logout, GET /api/auth/me, POST /api/auth/password,
   * GET/POST /api/users, DELETE /api/users/:username (admin).
   */
  async register(app: FastifyInstance): Promise<void> {
    await app.register(fastifyCookie);
    app.decorateRequest('user', null);
    app.addHook('onRequest', async (request) => {
      request.user = this.sessionUser(this.sessionIdOf(request)) ?? null;
      // A cross-site page cannot read our answers, but it could make the browser send a form;
      // SameSite=Strict stops the cookie, and this stops anything that slips past it.
      if (request.user && !['GET', 'HEAD', 'OPTIONS'].includes(request.method)) {
        // An opaque origin ("null": sandboxed frame, data: URL) is never ours either.
        const origin = request.headers.origin;
        if (origin !== undefined && (origin === 'null' || hostOf(origin) !== request.headers.host)) {
          throw new HttpError(403, HttpErrorCodes.FORBIDDEN, 'cross-origin request refused');
        }
      }
    });

    const cookieOptions = () => ({ httpOnly: true, sameSite: 'strict' as const, secure: this.secure, path: '/' });

    app.post('/api/auth/login', async (request, reply) => {
      const body = parseOr400(loginBodySchema, request.body);
      const { sessionId, user, expiresAt } = await this.login(body.username, body.password, request.ip);
      const previous = this.sessionIdOf(request);
      if (previous) this.db.prepare('DELETE FROM web_sessions WHERE id_hash = ?').run(sha256(previous));
      void reply.setCookie(this.cookieName, sessionId, { ...cookieOptions(), maxAge: Math.floor(this.ttlMs / 1000) });
      return { user, expiresAt };
    });

    app.post('/api/auth/logout', async (request, reply) => {
      this.logout(this.sessionIdOf(request), request.ip);
      void reply.clearCookie(this.cookieName, cookieOptions());
      return reply.code(204).send();
    });

    app.get('/api/auth/me', { preHandler: this.requireRole() }, async (request) => ({ user: request.user }));

    app.post('/api/auth/password', { preHandler: this.requireRole() }, async (request, reply) => {
      const body = parseOr400(passwordBodySchema, request.body);
      const user = request.user!;
      const row = this.db.prepare('SELECT password_hash FROM web_users WHERE username = ?').get(user.username) as { password_hash: string } | undefined;
      if (!row || !(await verifyPasswordAsync(body.current, row.password_hash))) {
        throw new HttpError(401, HttpErrorCodes.LOGIN_FAILED, 'current password is wrong');
      }
      const keep = this.sessionIdOf(request);
      this.setPassword(user.username, body.next, { actor: user.username, ...(keep === undefined ? {} : { keepSessionId: keep }) });
      return reply.code(204).send();
    });

    const admin = { preHandler: this.requireRole('admin') };
    app.get('/api/users', admin, async () => ({ users: this.listUsers() }));
    app.post('/api/users', admin, async (request, reply) => {
      const body = parseOr400(createUserBodySchema, request.body);
      const user = this.createUser(body, request.user!.username);
      return reply.code(201).send({ user });
    });
    app.delete<{ Params: { username: string } }>('/api/users/:username', admin, async (request, reply) => {
      if (request.params.username.toLowerCase() === request.user!.username.toLowerCase()) {
        throw new HttpError(409, HttpErrorCodes.CONFLICT, 'you cannot delete yourself');
      }
      this.deleteUser(request.params.username, request.user!.username);
      return reply.code(204).send();
    });
  }
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

/** Write a secret file readable by its owner only; replaced atomically, never left world-readable. */
export function writePrivateFile(file: string, content: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  if (existsSync(tmp)) unlinkSync(tmp);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // The umask can only remove bits; chmod makes the mode exact whatever it is.
  chmodSync(tmp, 0o600);
  // rename keeps the temp file's mode, so the secret is never readable by others, even briefly.
  renameSync(tmp, file);
}
