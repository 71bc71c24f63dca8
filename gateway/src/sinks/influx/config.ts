/**
 * The `influx:` slice of gateway.yaml: where telemetry goes, how it is batched, retried and
 * spooled. Disabled by default; when enabled, the settings of the chosen API generation are
 * required (checked here, at boot, with the setting's path in the message — not at the first
 * write hours later).
 *
 *   influx:
 *     enabled: true
 *     api: v1                         # v1: /write (InfluxDB 1.x); v2: /api/v2/write (2.x, 1.8+, 3.x, VictoriaMetrics)
 *     url: http://127.0.0.1:8086
 *     v1: { db: shouwang, rp: autogen, username: gw, password: secret }
 *     v2: { org: village, bucket: shouwang, token: xxxxx }
 */
import { z } from 'zod';

const MiB = 1024 * 1024;

const int = (min: number, max: number) =>
  z.number().int(`expected a whole number ${min}-${max}`).min(min, `expected ${min}-${max}`).max(max, `expected ${min}-${max}`);

/** Measurement names and prefixes: letters, digits and _ (no escaping needed in queries). */
const MEASUREMENT_PREFIX = /^[A-Za-z][A-Za-z0-9_]*$/;

export const influxV1Schema = z
  .object({
    /** Database to write to (`CREATE DATABASE <db>` on the server first). */
    db: z.string().min(1).optional(),
    /** Retention policy; the database's default one when omitted. */
    rp: z.string().min(1).optional(),
    /** Only when the server has `auth-enabled = true`. */
    username: z.string().min(1).optional(),
    password: z.string().optional(),
  })
  .strict();

export const influxV2Schema = z
  .object({
    org: z.string().min(1).optional(),
    bucket: z.string().min(1).optional(),
    /** API token with write access to the bucket (InfluxDB 1.8+ compatibility API: `username:password`). */
    token: z.string().min(1).optional(),
  })
  .strict();

export const influxSchema = z
  .object({
    enabled: z.boolean().default(false),
    api: z.enum(['v1', 'v2']).default('v1'),
    url: z
      .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
      .refine((u) => {
        const parsed = new URL(u);
        return parsed.username === '' && parsed.password === '' && parsed.search === '';
      }, 'no user:password@ and no ?query in the URL; use influx.v1.username/password or influx.v2.token')
      .default('http://127.0.0.1:8086'),
    v1: influxV1Schema.prefault({}),
    v2: influxV2Schema.prefault({}),
    batch: z
      .object({
        /** A batch is sent when it holds this many lines (points)... */
        size: int(1, 100_000).default(5000),
        /** ...or when its first line is this old (ms), whichever comes first. */
        intervalMs: int(10, 60_000).default(1000),
      })
      .strict()
      .prefault({}),
    retry: z
      .object({
        /** First wait after a failed write (5xx, network, auth); doubles per failure... */
        initialMs: int(10, 600_000).default(1000),
        /** ...up to this. */
        maxMs: int(10, 3_600_000).default(30_000),
      })
      .strict()
      .refine((r) => r.maxMs >= r.initialMs, { message: 'influx.retry.maxMs must be >= influx.retry.initialMs', path: ['maxMs'] })
      .prefault({}),
    /** Give up on one write request after this long (then retry with backoff). */
    timeoutMs: int(100, 600_000).default(10_000),
    spool: z
      .object({
        /**
         * Bound of the disk spool (line-protocol bytes held in the SQLite store while the server
         * is unreachable). Above it, the oldest telemetry is dropped; alarms and access events never.
         */
        maxBytes: int(16 * 1024, 64 * 1024 * MiB).default(256 * MiB),
      })
      .strict()
      .prefault({}),
    /** Prepended to every measurement name (`sw_` gives `sw_door_lock`, `sw_alarm`...). */
    measurementPrefix: z.string().regex(MEASUREMENT_PREFIX, 'letters, digits and _, starting with a letter').optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!c.enabled) return;
    if (c.api === 'v1') {
      if (!c.v1.db) ctx.addIssue({ code: 'custom', path: ['v1', 'db'], message: 'influx.v1.db is required when influx.api is v1 (the database to write to)' });
      if (c.v1.username !== undefined && c.v1.password === undefined)
        ctx.addIssue({ code: 'custom', path: ['v1', 'password'], message: 'influx.v1.password is required with influx.v1.username' });
      if (c.v1.password !== undefined && c.v1.username === undefined)
        ctx.addIssue({ code: 'custom', path: ['v1', 'username'], message: 'influx.v1.username is required with influx.v1.password' });
    } else {
      for (const key of ['org', 'bucket', 'token'] as const) {
        if (!c.v2[key]) ctx.addIssue({ code: 'custom', path: ['v2', key], message: `influx.v2.${key} is required when influx.api is v2` });
      }
    }
  });

export type InfluxConfig = z.infer<typeof influxSchema>;
export type InfluxConfigInput = z.input<typeof influxSchema>;
