/**
 * Alarm routes: which alarms go to which receiver account, over which paths, with which backup
 * and which escalation. Config slice `forwarding.routes` (zod; types are z.infer). Pure: the
 * matching and the outbox entries for an alarm are computed here, nothing is sent.
 */
import { z } from 'zod';
import type { Alarm, Severity } from '../core/types.js';
import type { OutboxEntryInput } from '../store/outbox.js';

const idSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'ids are 1-64 letters, digits, _ . -');
const severitySchema = z.enum(['emergency', 'critical', 'warning', 'info']);

export const routeMatchSchema = z
  .object({
    severity: z.array(severitySchema).min(1).optional(),
    /** `alarm` and/or `restore`; both by default (restores are forwarded as restores). */
    kinds: z.array(z.enum(['alarm', 'restore'])).min(1).default(['alarm', 'restore']),
    profiles: z.array(z.string().min(1)).min(1).optional(),
    devices: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();

export const routeSchema = z
  .object({
    id: idSchema,
    /** Receiver account (DC-09 `#acct`): 3-16 hex digits. Sequence numbers are per account. */
    account: z.string().regex(/^[0-9A-Fa-f]{3,16}$/, 'account must be 3-16 hex digits'),
    /** Which alarms take this route. Absent: none directly (an escalation-only route). */
    match: routeMatchSchema.optional(),
    /** Primary paths (forwarding.paths ids), tried together; the first receiver ACK wins. */
    paths: z.array(idSchema).min(1),
    /** Backup paths, used when the primary paths have not delivered within backupAfterMs. */
    backup: z.array(idSchema).default([]),
    backupAfterMs: z.number().int().nonnegative().default(10_000),
    /** Contact ID group / SIA area for this route. */
    group: z.number().int().min(1).max(99).default(1),
    /** Not acknowledged by an operator within afterS of delivery: queue it on route `to` as well. */
    escalation: z
      .object({ afterS: z.number().positive(), to: idSchema })
      .strict()
      .optional(),
  })
  .strict();

export const retrySchema = z
  .object({
    /** First retry delay; doubles each failed attempt up to maxMs. */
    initialMs: z.number().int().positive().default(250),
    maxMs: z.number().int().positive().default(30_000),
    /** The dispatcher aborts one attempt on one path after this long (forwarders have their own, shorter, timeouts). */
    attemptTimeoutMs: z.number().int().positive().default(60_000),
  })
  .strict();

export type RouteConfig = z.infer<typeof routeSchema>;
export type RetryConfig = z.infer<typeof retrySchema>;

/** What the router needs to know about a device for its outbox entries. */
export interface RoutedDevice {
  zone: number;
  camera?: string;
}

function matches(route: RouteConfig, alarm: Alarm): boolean {
  const m = route.match;
  if (!m) return false;
  if (!m.kinds.includes(alarm.kind)) return false;
  if (m.severity && !m.severity.includes(alarm.severity as Severity)) return false;
  if (m.profiles && !m.profiles.includes(alarm.profile)) return false;
  if (m.devices && !m.devices.includes(alarm.device)) return false;
  return true;
}

/** The outbox entries an alarm needs: one per matching route, in config order. */
export function outboxEntriesFor(alarm: Alarm, routes: readonly RouteConfig[], device: RoutedDevice): OutboxEntryInput[] {
  return routes.filter((r) => matches(r, alarm)).map((r) => entryFor(r, device, 0));
}

export function entryFor(route: RouteConfig, device: RoutedDevice, escalation: number): OutboxEntryInput {
  const entry: OutboxEntryInput = { route: route.id, account: route.account.toUpperCase(), zone: device.zone, group: route.group, escalation };
  if (device.camera !== undefined) entry.camera = device.camera;
  return entry;
}

/** Config problems the schema cannot see: unknown path ids, unknown or circular escalation targets. */
export function routeProblems(routes: readonly RouteConfig[], pathIds: ReadonlySet<string>): Array<{ path: (string | number)[]; message: string }> {
  const problems: Array<{ path: (string | number)[]; message: string }> = [];
  const byId = new Map(routes.map((r) => [r.id, r]));
  routes.forEach((r, i) => {
    if (routes.findIndex((o) => o.id === r.id) !== i) problems.push({ path: [i, 'id'], message: `duplicate route id "${r.id}"` });
    for (const [key, list] of [['paths', r.paths], ['backup', r.backup]] as const) {
      list.forEach((p, j) => {
        if (!pathIds.has(p)) problems.push({ path: [i, key, j], message: `unknown path "${p}" (paths: ${[...pathIds].join(', ') || 'none'})` });
      });
    }
    if (r.escalation) {
      if (!byId.has(r.escalation.to)) problems.push({ path: [i, 'escalation', 'to'], message: `unknown route "${r.escalation.to}"` });
      // Follow the chain: it must end, or an unacknowledged alarm would bounce around forever.
      const seen = new Set([r.id]);
      let next = byId.get(r.escalation.to);
      while (next) {
        if (seen.has(next.id)) {
          problems.push({ path: [i, 'escalation', 'to'], message: `escalation chain from "${r.id}" loops back to "${next.id}"` });
          break;
        }
        seen.add(next.id);
        next = next.escalation ? byId.get(next.escalation.to) : undefined;
      }
    }
  });
  return problems;
}
