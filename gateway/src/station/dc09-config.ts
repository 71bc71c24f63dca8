/**
 * The DC-09 receiver's slice of configuration (zod; type = z.infer). Accounts are normalised
 * to upper case: DC-09 account numbers are hex, and `#12ab` and `#12AB` are the same panel.
 */
import { z } from 'zod';
import { ErrorCodes, ShouwangError } from '../errors.js';

export const dc09AccountSchema = z
  .object({
    account: z.string().regex(/^[0-9A-Fa-f]{3,16}$/, 'account must be 3-16 hex digits'),
    /** AES key as hex: 32, 48 or 64 digits (AES-128/192/256). With a key, plain frames are refused. */
    key: z
      .string()
      .regex(/^(?:[0-9A-Fa-f]{32}|[0-9A-Fa-f]{48}|[0-9A-Fa-f]{64})$/, 'key must be 32, 48 or 64 hex digits (AES-128/192/256)')
      .optional(),
    /** Line-supervision window for this account (overrides the receiver default). */
    supervisionMs: z.number().int().positive().optional(),
  })
  .strict();

export const dc09ReceiverConfigSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    tcpPort: z.number().int().min(0).max(65535).default(0),
    udpPort: z.number().int().min(0).max(65535).default(0),
    accounts: z.array(dc09AccountSchema).min(1, 'at least one account is needed'),
    /** Accepted transmitter clock offset; outside it the receiver answers NAK with its own time. */
    windowMs: z
      .object({ past: z.number().int().nonnegative(), future: z.number().int().nonnegative() })
      .strict()
      .default({ past: 40_000, future: 20_000 }),
    /** Default line-supervision window; no supervision when absent (and no per-account value). */
    supervisionMs: z.number().int().positive().optional(),
    /** How long a (account, seq, content) triple is remembered to drop retransmissions. */
    dedupeMs: z.number().int().positive().default(10 * 60_000),
    /** An idle TCP connection is closed after this long. */
    idleTimeoutMs: z.number().int().positive().default(120_000),
    maxConnections: z.number().int().positive().default(256),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.accounts.forEach((a, i) => {
      const norm = a.account.toUpperCase();
      const first = seen.get(norm);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['accounts', i, 'account'], message: `duplicate account ${norm} (also accounts.${first})` });
      }
      seen.set(norm, i);
    });
  });

export type Dc09ReceiverConfig = z.infer<typeof dc09ReceiverConfigSchema>;
export type Dc09ReceiverConfigInput = z.input<typeof dc09ReceiverConfigSchema>;

export interface Dc09AccountEntry {
  account: string;
  key: Buffer | undefined;
  supervisionMs: number | undefined;
}

export function parseDc09ReceiverConfig(input: unknown, source = 'dc09 receiver'): Dc09ReceiverConfig {
  const r = dc09ReceiverConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `${source}: ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new ShouwangError(ErrorCodes.CONFIG_INVALID, lines.join('\n'), { details: { issues: r.error.issues } });
}

/** Account table keyed by upper-case account number. */
export function accountTable(cfg: Dc09ReceiverConfig): Map<string, Dc09AccountEntry> {
  const table = new Map<string, Dc09AccountEntry>();
  for (const a of cfg.accounts) {
    const account = a.account.toUpperCase();
    table.set(account, {
      account,
      key: a.key === undefined ? undefined : Buffer.from(a.key, 'hex'),
      supervisionMs: a.supervisionMs ?? cfg.supervisionMs,
    });
  }
  return table;
}
