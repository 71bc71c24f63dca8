/**
 * The one HTTP server factory for every web face (gateway API, console, police console).
 * Fastify 5, bound to 127.0.0.1 unless told otherwise, with the same habits everywhere:
 * - every error is JSON `{ error: { code, message, issues? } }` with a stable code (http-errors.ts);
 * - a body limit (64 KiB by default: alarms and logins are small; a big body is a mistake or an attack);
 * - security headers on every response (no framing, no sniffing, a same-origin CSP, no referrer);
 * - `Cache-Control: no-store` on /api so that alarm data never sits in a browser or proxy cache.
 *
 * Callers add their routes to `app` and then call `listen()`. Auth is a separate module (auth.ts).
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { HttpError, HttpErrorCodes, toHttpError } from './http-errors.js';

export interface WebServerOptions {
  /** Interface to bind; 127.0.0.1 unless a deployment really needs the LAN. */
  host?: string;
  /** 0 = any free port. */
  port?: number;
  log: Logger;
  /** Largest accepted request body in bytes (default 64 KiB). */
  bodyLimit?: number;
  /** Content-Security-Policy for HTML pages; the default allows only same-origin scripts, styles and connections. */
  contentSecurityPolicy?: string;
}

export interface WebServer {
  readonly app: FastifyInstance;
  /** Start listening; resolves with the base URL, e.g. `http://127.0.0.1:8090`. */
  listen(): Promise<string>;
  /** Base URL once listening. */
  readonly url: string | undefined;
  readonly port: number | undefined;
  /** Stop accepting, drop open connections (SSE streams included), run onClose hooks. */
  close(): Promise<void>;
}

export const DEFAULT_BODY_LIMIT = 64 * 1024;

/** Same-origin only; `img-src` also allows https/http camera snapshots shown by a console. */
export const DEFAULT_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: http: https:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

export function securityHeaders(csp: string): Record<string, string> {
  return {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=()',
    'content-security-policy': csp,
  };
}

export function createWebServer(options: WebServerOptions): WebServer {
  const host = options.host ?? '127.0.0.1';
  const log = options.log.child({ module: 'web' });
  const headers = securityHeaders(options.contentSecurityPolicy ?? DEFAULT_CSP);
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // Request lines at info would drown the alarm log; we log them at debug below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Server-Sent Event streams never go idle; close() must cut them or it would wait forever.
    forceCloseConnections: true,
    return503OnClosing: true,
    // Our routes take ids in the path; a trailing slash is the same route.
    routerOptions: { ignoreTrailingSlash: true },
  });

  app.addHook('onSend', async (request, reply, payload) => {
    for (const [k, v] of Object.entries(headers)) if (!reply.hasHeader(k)) reply.header(k, v);
    if (request.url.startsWith('/api/') && !reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'http');
  });

  app.setErrorHandler((err, request, reply) => {
    const httpErr = toHttpError(err);
    if (httpErr.statusCode >= 500) log.error({ method: request.method, url: request.url, err: errorMessage(err) }, 'request failed');
    for (const [k, v] of Object.entries(httpErr.extra.headers ?? {})) reply.header(k, v);
    void reply.code(httpErr.statusCode).type('application/json; charset=utf-8').send(httpErr.body());
  });
  app.setNotFoundHandler((request, reply) => {
    const e = new HttpError(404, HttpErrorCodes.NOT_FOUND, `no route ${request.method} ${request.url.split('?')[0]}`);
    void reply.code(404).type('application/json; charset=utf-8').send(e.body());
  });

  let url: string | undefined;
  let port: number | undefined;
  return {
    app,
    get url() {
      return url;
    },
    get port() {
      return port;
    },
    async listen() {
      await app.listen({ host, port: options.port ?? 0 });
      port = (app.server.address() as AddressInfo).port;
      url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      log.info({ url }, 'HTTP server listening');
      return url;
    },
    async close() {
      await app.close();
    },
  };
}
