/**
 * Registered tenant not seen (人房不一致) (PURE): the daily check looks at every tenant holding an
 * active credential; one whose last granted pass (or, if never seen, the start of the lease) is
 * `days` or more days ago gets a warning `tenant_not_seen:<tenant>` at a door of their room —
 * moved out without telling anyone, or something wrong. The warning is a condition: it ends when
 * the tenant passes a door again (at once, not at the next check) or no longer holds an active
 * credential (moved out properly).
 */
import type { AccessRecord } from '../types.js';
import type { RegisteredTenant, RuleDecision } from './types.js';

export const GATEWAY_DEVICE = 'gateway';
const DAY_MS = 86_400_000;

export interface NotSeenSettings {
  enabled: boolean;
  days: number;
}

interface Active {
  door: string;
}

export class NotSeenRule {
  /** Tenants with an active warning, and the door it was raised on. */
  private readonly active = new Map<string, Active>();

  check(
    now: number,
    tenants: Iterable<RegisteredTenant>,
    lastSeen: (tenant: string) => number | undefined,
    settingsFor: (building: string | undefined) => NotSeenSettings,
  ): RuleDecision[] {
    const out: RuleDecision[] = [];
    // One entry per tenant: the earliest lease start of their active credentials.
    const byTenant = new Map<string, RegisteredTenant>();
    for (const t of tenants) {
      const prev = byTenant.get(t.tenant);
      if (!prev || t.since < prev.since) byTenant.set(t.tenant, prev ? { ...prev, since: t.since } : t);
    }
    for (const [tenant, t] of byTenant) {
      const settings = settingsFor(t.building);
      const seen = lastSeen(tenant);
      const reference = Math.max(seen ?? t.since, t.since);
      const absentDays = Math.floor((now - reference) / DAY_MS);
      const absent = settings.enabled && now - reference >= settings.days * DAY_MS;
      const was = this.active.get(tenant);
      if (absent && !was) {
        const door = t.door ?? GATEWAY_DEVICE;
        this.active.set(tenant, { door });
        out.push({
          action: 'raise',
          rule: 'tenant_not_seen',
          door,
          subject: tenant,
          ts: now,
          fields: { tenant, room: t.room, ...(t.building === undefined ? {} : { building: t.building }), lastSeen: seen ?? null, since: t.since, absentDays, days: settings.days },
        });
      } else if (!absent && was) {
        this.active.delete(tenant);
        out.push({ action: 'clear', rule: 'tenant_not_seen', door: was.door, subject: tenant, ts: now });
      }
    }
    for (const [tenant, was] of this.active) {
      if (byTenant.has(tenant)) continue;
      this.active.delete(tenant);
      out.push({ action: 'clear', rule: 'tenant_not_seen', door: was.door, subject: tenant, ts: now });
    }
    return out;
  }

  /** A pass: a granted one by a tenant with an active warning ends it. */
  seen(record: AccessRecord): RuleDecision | undefined {
    if (record.result !== 'granted' || record.tenant === undefined) return undefined;
    const was = this.active.get(record.tenant);
    if (!was) return undefined;
    this.active.delete(record.tenant);
    return { action: 'clear', rule: 'tenant_not_seen', door: was.door, subject: record.tenant, ts: record.ts };
  }

  /** After a restart: a warning still active in the alarm service. */
  restore(tenant: string, door: string): void {
    this.active.set(tenant, { door });
  }

  isActive(tenant: string): boolean {
    return this.active.has(tenant);
  }
}
