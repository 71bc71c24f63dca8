/**
 * Config slice `access.linkage` (十户联防, zod; types are z.infer). Households (rooms) form
 * linkage groups (Room.linkageGroup in the registry); this slice says what happens in a group
 * when one of its households has an alarm.
 *
 *   linkage:
 *     defaults: { severities: [emergency, critical], mqtt: true }   # every group, unless it says otherwise
 *     groups:
 *       - id: LG-01
 *         webhook: { url: https://village.example/linkage, secret: <16+ chars> }
 *         sirens: { devices: [SIREN-LANE-3], severities: [emergency], offAfterS: 180 }
 *
 * A group the registry knows but this list does not name works with `defaults` alone.
 */
import { z } from 'zod';

const idSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'ids are 1-64 letters, digits, _ . -');
const severitySchema = z.enum(['emergency', 'critical', 'warning', 'info']);
const severities = z.array(severitySchema).min(1);
const commandId = z.string().regex(/^[a-z][a-z0-9_]*$/, 'command ids are snake_case');

export const linkageWebhookSchema = z
  .object({
    url: z
      .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
      .refine((u) => {
        const p = new URL(u);
        return p.username === '' && p.password === '';
      }, 'no user:password@ in the URL; the request is authenticated by the HMAC signature'),
    /** HMAC-SHA256 key shared with the receiver (auth/hmac.ts: x-shouwang-signature over `<ts>.<body>`). */
    secret: z.string().min(16, 'the HMAC secret needs at least 16 characters'),
    timeoutMs: z.number().int().min(50).max(60_000).default(5000),
    /** Further tries after a failed POST (network error, timeout, 408, 429, 5xx), 1 s, 2 s, 4 s … apart. */
    retries: z.number().int().min(0).max(10).default(3),
    retryMs: z.number().int().min(10).max(60_000).default(1000),
  })
  .strict();
export type LinkageWebhookConfig = z.infer<typeof linkageWebhookSchema>;

export const linkageSirensSchema = z
  .object({
    /** Siren / strobe devices (gateway config ids) of this group. */
    devices: z.array(z.string().min(1)).min(1),
    /** Alarms of these severities fire them. */
    severities: severities.default(['emergency']),
    commands: z.array(commandId).min(1).default(['siren_on', 'strobe_on']),
    /** Run these after offAfterS (0 = leave them on until someone switches them off). */
    offCommands: z.array(commandId).default(['siren_off', 'strobe_off']),
    offAfterS: z.number().int().min(0).max(3600).default(180),
  })
  .strict();
export type LinkageSirensConfig = z.infer<typeof linkageSirensSchema>;

/** What a group does; every field may come from `defaults`. */
const policyFields = {
  /** Alarms of these severities are announced to the other households. */
  severities: severities.optional(),
  /** Publish on `<prefix>/<site>/linkage/<group>` (QoS 1). */
  mqtt: z.boolean().optional(),
  /**
   * Announce silent alarms (duress) too. Off by default: a neighbour who reacts could show the
   * intruder that the alarm went out. Silent alarms never fire sirens, whatever this says.
   */
  includeSilent: z.boolean().optional(),
  webhook: linkageWebhookSchema.optional(),
  sirens: linkageSirensSchema.optional(),
};

export const linkageGroupSchema = z.object({ id: idSchema, name: z.string().max(128).optional(), ...policyFields }).strict();

export const linkageSchema = z
  .object({
    enabled: z.boolean().default(true),
    defaults: z.object(policyFields).strict().default({}),
    groups: z.array(linkageGroupSchema).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.groups.forEach((g, i) => {
      if (seen.has(g.id)) ctx.addIssue({ code: 'custom', path: ['groups', i, 'id'], message: `linkage group ${g.id} is listed twice` });
      seen.add(g.id);
    });
  });
export type LinkageConfig = z.infer<typeof linkageSchema>;
export type LinkageConfigInput = z.input<typeof linkageSchema>;

/** A group's policy with the defaults filled in. */
export interface LinkagePolicy {
  group: string;
  name?: string;
  severities: ReadonlyArray<z.infer<typeof severitySchema>>;
  mqtt: boolean;
  includeSilent: boolean;
  webhook?: LinkageWebhookConfig;
  sirens?: LinkageSirensConfig;
}

export function policyFor(config: LinkageConfig, group: string): LinkagePolicy {
  const g = config.groups.find((x) => x.id === group);
  const d = config.defaults;
  const p: LinkagePolicy = {
    group,
    severities: g?.severities ?? d.severities ?? ['emergency', 'critical'],
    mqtt: g?.mqtt ?? d.mqtt ?? true,
    includeSilent: g?.includeSilent ?? d.includeSilent ?? false,
  };
  if (g?.name !== undefined) p.name = g.name;
  const webhook = g?.webhook ?? d.webhook;
  if (webhook) p.webhook = webhook;
  const sirens = g?.sirens ?? d.sirens;
  if (sirens) p.sirens = sirens;
  return p;
}
