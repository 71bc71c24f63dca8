/**
 * Rental-housing domain contract (issue #5): rooms, tenants, credentials, the access record and
 * what the registry answers. zod schemas at the boundary; types are z.infer. Pure: no I/O.
 *
 * Privacy (PIPL, Shenzhen rental-housing access spec): tenants are pseudonymous (`id`); a name
 * and ID-card number are optional, stored encrypted, and masked (`4401**********1234`) in every
 * output unless a role explicitly allows it. The gateway NEVER stores biometrics, templates,
 * photos or PINs: those stay in the lock. Card numbers are stored only as a salted hash.
 */
import { z } from 'zod';

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'ids are 1-64 letters, digits, _ . -');

export const accessMethods = ['fingerprint', 'card', 'id_card', 'face', 'pin', 'temp_code', 'remote', 'key', 'unknown'] as const;
export const accessMethodSchema = z.enum(accessMethods);
export type AccessMethodName = z.infer<typeof accessMethodSchema>;

export const buildingSchema = z.object({ id, site: z.string().min(1), name: z.string().min(1).max(128), address: z.string().max(256).optional() }).strict();
export type Building = z.infer<typeof buildingSchema>;

export const roomSchema = z
  .object({
    id,
    building: id,
    /** Room number as written on the door, e.g. `302`. */
    number: z.string().min(1).max(32),
    floor: z.string().max(16).optional(),
    /** Devices on this room's door(s): lock ids from the gateway config. */
    doors: z.array(z.string().min(1)).default([]),
    /** 十户联防 linkage group this household belongs to, if any. */
    linkageGroup: id.optional(),
  })
  .strict();
export type Room = z.infer<typeof roomSchema>;

/** What may be written about a tenant. Unknown keys are refused: no biometrics, photos, PINs. */
export const tenantInputSchema = z
  .object({
    /** Pseudonymous id, e.g. T-000123. */
    id,
    name: z.string().min(1).max(64).optional(),
    /** 18-character PRC resident ID number; stored encrypted, shown masked. */
    idNumber: z
      .string()
      .regex(/^\d{17}[\dXx]$/, 'ID-card numbers have 17 digits and a check digit (0-9 or X)')
      .optional(),
    phone: z.string().regex(/^\+?\d{6,15}$/).optional(),
    note: z.string().max(500).optional(),
  })
  .strict();
export type TenantInput = z.infer<typeof tenantInputSchema>;

/** A tenant as every API / log / export shows it (masked unless the caller's role may see more). */
export interface TenantView {
  id: string;
  name?: string;
  /** `4401**********1234` unless unmasked for an allowed role. */
  idNumber?: string;
  phone?: string;
  note?: string;
  createdAt: number;
  /** Set when the tenant's personal data was erased on request (the pseudonymous id stays). Added by the registry helper. */
  erasedAt?: number;
}

export const credentialStates = ['active', 'lost', 'returned', 'cancelled'] as const;
export const credentialStateSchema = z.enum(credentialStates);
export type CredentialState = z.infer<typeof credentialStateSchema>;

/** A credential: a lock user slot on a door, or a card (stored as a hash), bound to tenant + room for a lease. */
export const credentialInputSchema = z
  .object({
    id,
    tenant: id,
    room: id,
    kind: z.enum(['lock_slot', 'card']),
    /** Lock user slot number (kind lock_slot), on `door` (a lock device id). */
    slot: z.number().int().min(0).max(65535).optional(),
    door: z.string().min(1).optional(),
    /** Card number as read (kind card): hashed on write, never stored. */
    cardNumber: z.string().min(4).max(64).optional(),
    /** Is this a duress credential (opens the door, raises a silent alarm)? */
    duress: z.boolean().default(false),
    validFrom: z.number().int().nonnegative(),
    validTo: z.number().int().nonnegative(),
    state: credentialStateSchema.default('active'),
  })
  .strict()
  .refine((c) => c.validTo > c.validFrom, { message: 'validTo must be after validFrom', path: ['validTo'] })
  .refine((c) => (c.kind === 'lock_slot' ? c.slot !== undefined && c.door !== undefined : c.cardNumber !== undefined), {
    message: 'a lock_slot credential needs slot and door; a card credential needs cardNumber',
  });
export type CredentialInput = z.infer<typeof credentialInputSchema>;

/** How the registry resolved the credential used in a pass. */
export type Resolution =
  | 'registered' // active, within its lease
  | 'expired' // lease over (or not started)
  | 'lost'
  | 'returned'
  | 'cancelled'
  | 'unregistered' // nobody known: a stranger
  | 'no_credential'; // remote / key / temp code: nothing to resolve

/**
 * One pass at a door, resolved against the registry: what the access log stores and what the
 * access rules evaluate. Built from a device `access` event (profile rule kind `access`, e.g. the
 * lock's `pass` with fields last_user / last_method / last_result).
 */
export interface AccessRecord {
  id: string;
  site: string;
  /** The door device (lock, entrance controller). */
  door: string;
  ts: number;
  method: AccessMethodName;
  /** Lock user slot, when the device reports one. */
  slot?: number;
  /** Salted hash of a card number, when the device reports one. */
  cardHash?: string;
  /** Did the lock open? (`granted`) or refuse (`denied`)? */
  result: 'granted' | 'denied';
  resolution: Resolution;
  credential?: string;
  tenant?: string;
  room?: string;
  building?: string;
  duress: boolean;
}
