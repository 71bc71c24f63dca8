/**
 * The operator acknowledgement as it travels from the police receiver back to the gateway
 * (HTTP callback `POST /api/alarm-acks`, signed with auth/hmac.ts, or the MQTT uplink topic
 * `<prefix>/<site>/uplink/ack`). Parsed with zod at the boundary; the type is z.infer.
 */
import { z } from 'zod';

export const operatorAckSchema = z
  .object({
    /** Stable alarm id, when the receiver got it (JSON intake). */
    alarmId: z.string().min(1).max(64).optional(),
    /** Or the DC-09 account + sequence the alarm was delivered under. */
    account: z.string().regex(/^[0-9A-Fa-f]{3,16}$/).optional(),
    seq: z.number().int().min(1).max(9999).optional(),
    action: z.enum(['acknowledged', 'dispatched']),
    by: z.string().min(1).max(64),
    note: z.string().max(500).optional(),
    at: z.number().int().nonnegative(),
  })
  .strict()
  .refine((a) => a.alarmId !== undefined || (a.account !== undefined && a.seq !== undefined), {
    message: 'an acknowledgement names alarmId, or account and seq',
  });

export type OperatorAckMessage = z.infer<typeof operatorAckSchema>;

/** HTTP path the gateway serves for the callback. */
export const OPERATOR_ACK_PATH = '/api/alarm-acks';
