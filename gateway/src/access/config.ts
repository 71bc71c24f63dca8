/**
 * The `access:` slice of gateway.yaml (rental-housing registry and access log). app.ts hands it
 * to AccessModule; nothing else reads it.
 *
 *   access:
 *     retentionDays: 90          # access-log rows older than this are deleted (PIPL: keep no longer than needed)
 *     purgeInterval: 1h          # how often retention runs
 *     keyFile: /etc/shouwang/pii.key   # default <storage.dir>/pii.key; back it up apart from the database
 *     unmaskRoles: [admin]       # roles that may ask for ?unmask=1 (always audited)
 */
import { linkageSchema } from './linkage/config.js';
import { accessRulesSchema } from './rules/config.js';
import { z } from 'zod';
import { durationSchema } from '../profiles/schema.js';

/** The web roles (web/auth.ts WEB_ROLES), repeated here so the config does not import the web server. */
export const accessRoleSchema = z.enum(['admin', 'manager', 'technician', 'police']);
export type AccessRole = z.infer<typeof accessRoleSchema>;

export const DEFAULT_RETENTION_DAYS = 90;
export const PII_KEY_FILE_NAME = 'pii.key';

export const accessSchema = z
  .object({
    /** Days an access-log row is kept; older rows are deleted on schedule. */
    retentionDays: z.number().int().min(1).max(3650).default(DEFAULT_RETENTION_DAYS),
    /** How often the retention purge runs (default hourly). */
    purgeInterval: durationSchema.default(3_600_000),
    /** The AES-256-GCM key for personal fields; default `<storage.dir>/pii.key` (created 0600 on first run). */
    keyFile: z.string().min(1).optional(),
    /** Roles that may see unmasked names / ID numbers / phones with an explicit `?unmask=1` (audited). */
    unmaskRoles: z.array(accessRoleSchema).default(['admin']),
    /** Largest number of passes written in one transaction when a burst arrives. */
    maxBatch: z.number().int().min(1).max(10_000).default(1000),
    /** Thresholds of the access rules, per site with building overrides (access/rules/config.ts). */
    rules: accessRulesSchema.prefault({}),
    /** 十户联防 linkage groups and their policies (access/linkage/config.ts). */
    linkage: linkageSchema.prefault({}),
  })
  .strict();

export type AccessConfig = z.infer<typeof accessSchema>;
export type AccessConfigInput = z.input<typeof accessSchema>;
