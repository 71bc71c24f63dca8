/**
 * HTTP errors with stable codes, shared by every web face (gateway API, console, police
 * console). A client matches on `error.code`, never on the message text; the status code says
 * which class of mistake it was. Body shape of every error response:
 *
 *   { "error": { "code": "SW_ERR_PAYLOAD_INVALID", "message": "...", "issues": [{ "path": "seq", "message": "..." }] } }
 */
import type { z } from 'zod';
import { ErrorCodes, isShouwangError, type ErrorCode } from '../errors.js';

export const HttpErrorCodes = {
  BAD_REQUEST: 'SW_ERR_BAD_REQUEST',
  /** Body or query failed its schema; `issues` names the fields. */
  PAYLOAD_INVALID: ErrorCodes.PAYLOAD_INVALID,
  UNAUTHENTICATED: 'SW_ERR_UNAUTHENTICATED',
  LOGIN_FAILED: 'SW_ERR_LOGIN_FAILED',
  FORBIDDEN: 'SW_ERR_FORBIDDEN',
  NOT_FOUND: 'SW_ERR_NOT_FOUND',
  CONFLICT: 'SW_ERR_CONFLICT',
  RATE_LIMITED: 'SW_ERR_RATE_LIMITED',
  SIGNATURE_INVALID: 'SW_ERR_SIGNATURE_INVALID',
  PAYLOAD_TOO_LARGE: 'SW_ERR_PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'SW_ERR_UNSUPPORTED_MEDIA_TYPE',
  INTERNAL: 'SW_ERR_INTERNAL',
} as const;

export type HttpErrorCode = (typeof HttpErrorCodes)[keyof typeof HttpErrorCodes] | ErrorCode;

export interface HttpIssue {
  /** Dotted path of the offending field (`location.lat`, `name.zh`); '' for the whole body. */
  path: string;
  message: string;
}

export interface HttpErrorBody {
  error: { code: string; message: string; issues?: HttpIssue[] };
}

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: HttpErrorCode,
    message: string,
    readonly extra: { issues?: HttpIssue[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }

  body(): HttpErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.extra.issues ? { issues: this.extra.issues } : {}) } };
  }
}

/** Zod issues as `{ path, message }` with dotted paths (`name.zh`, `zones.15.lat`). */
export function zodIssues(error: z.ZodError): HttpIssue[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

/** Parse `value` with `schema` or throw a 400 naming every bad field. */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, what = 'body'): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = zodIssues(r.error);
  const list = issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ');
  throw new HttpError(400, HttpErrorCodes.PAYLOAD_INVALID, `invalid ${what}: ${list}`, { issues });
}

/** Status for a domain error thrown by a route (ShouwangError codes are stable; map them once here). */
const SHOUWANG_STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.PAYLOAD_INVALID]: 400,
  [ErrorCodes.CONFIG_INVALID]: 400,
  [ErrorCodes.ALARM_UNKNOWN]: 404,
  [ErrorCodes.DEVICE_UNKNOWN]: 404,
  [ErrorCodes.COMMAND_UNKNOWN]: 404,
  [ErrorCodes.ALARM_STATE]: 409,
  [ErrorCodes.COMMAND_FORBIDDEN]: 403,
  [ErrorCodes.QUEUE_FULL]: 503,
};

/** Fastify's own 4xx errors (body parser, routing) mapped to our codes by status. */
const STATUS_CODE: Record<number, HttpErrorCode> = {
  400: HttpErrorCodes.BAD_REQUEST,
  401: HttpErrorCodes.UNAUTHENTICATED,
  403: HttpErrorCodes.FORBIDDEN,
  404: HttpErrorCodes.NOT_FOUND,
  409: HttpErrorCodes.CONFLICT,
  413: HttpErrorCodes.PAYLOAD_TOO_LARGE,
  415: HttpErrorCodes.UNSUPPORTED_MEDIA_TYPE,
  429: HttpErrorCodes.RATE_LIMITED,
};

/**
 * Any thrown value as an HttpError. Unknown errors become a 500 whose message hides internals
 * (file paths, SQL); the caller logs the original.
 */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (isShouwangError(err)) {
    const status = SHOUWANG_STATUS[err.code];
    if (status !== undefined) return new HttpError(status, err.code, err.message);
    return new HttpError(500, HttpErrorCodes.INTERNAL, 'internal error');
  }
  const e = err as { statusCode?: unknown; message?: unknown } | null;
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    return new HttpError(status, STATUS_CODE[status] ?? HttpErrorCodes.BAD_REQUEST, typeof e?.message === 'string' ? e.message : 'bad request');
  }
  return new HttpError(500, HttpErrorCodes.INTERNAL, 'internal error');
}
