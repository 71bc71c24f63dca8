/**
 * Errors of the rental-housing registry. Three kinds, because a caller acts on them
 * differently: the input is wrong (fix the field named in `issues`), the thing does not exist,
 * or it clashes with what is stored (an overlapping lease, a duplicate id, a tenant still
 * holding an active credential). access-routes.ts maps them to 400 / 404 / 409.
 *
 * Messages never contain the value of a personal field (name, ID number, phone, card number):
 * error messages end up in logs and HTTP answers.
 */
import type { z } from 'zod';

export type AccessErrorKind = 'invalid' | 'not_found' | 'conflict';

export interface AccessIssue {
  /** Dotted path of the field (`validTo`, `rooms.3.building`); '' for the whole item. */
  path: string;
  message: string;
}

export class AccessError extends Error {
  constructor(
    readonly kind: AccessErrorKind,
    message: string,
    readonly issues: AccessIssue[] = [],
  ) {
    super(message);
    this.name = 'AccessError';
  }
}

export function isAccessError(err: unknown, kind?: AccessErrorKind): err is AccessError {
  return err instanceof AccessError && (kind === undefined || err.kind === kind);
}

export const notFound = (what: string): AccessError => new AccessError('not_found', `no ${what}`);
export const conflict = (message: string): AccessError => new AccessError('conflict', message);

/** zod issues as AccessIssues, with an optional path prefix (`rooms.3`). */
export function issuesOf(error: z.ZodError, prefix = ''): AccessIssue[] {
  return error.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter((p) => p !== '').join('.'),
    message: i.message,
  }));
}

/** One `invalid` error naming every issue: `invalid tenant: idNumber: ...; phone: ...`. */
export function invalid(what: string, issues: AccessIssue[]): AccessError {
  const list = issues
    .slice(0, 20)
    .map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`))
    .join('; ');
  const more = issues.length > 20 ? ` (and ${issues.length - 20} more)` : '';
  return new AccessError('invalid', `invalid ${what}: ${list}${more}`, issues);
}
