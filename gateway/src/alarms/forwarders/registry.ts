/**
 * Every forwarder the gateway knows, by config `type`. Adding a protocol: write one file that
 * exports a ForwarderDefinition (see types.ts) and add it to this list; config validation, the
 * JSON Schema and the dispatcher pick it up from here.
 */
import { z } from 'zod';
import { dc09Forwarder, dc09PathSchema } from './dc09.js';
import { mqttUplinkForwarder, mqttUplinkPathSchema } from './mqtt-uplink.js';
import { smsForwarder, smsPathSchema } from './sms.js';
import type { Forwarder, ForwarderContext, ForwarderDefinition } from './types.js';
import { webhookForwarder, webhookPathSchema } from './webhook.js';

/** One entry of config `forwarding.paths`, discriminated by `type`. */
export const forwarderPathSchema = z.discriminatedUnion('type', [dc09PathSchema, mqttUplinkPathSchema, webhookPathSchema, smsPathSchema]);
export type ForwarderPathConfig = z.infer<typeof forwarderPathSchema>;

const definitions: ReadonlyArray<ForwarderDefinition> = [dc09Forwarder, mqttUplinkForwarder, webhookForwarder, smsForwarder] as ReadonlyArray<ForwarderDefinition>;
const byType = new Map(definitions.map((d) => [d.type, d]));

export function forwarderTypes(): string[] {
  return [...byType.keys()];
}

/** Build the forwarder for one validated path config. */
export function createForwarder(config: ForwarderPathConfig, context: ForwarderContext): Forwarder {
  const def = byType.get(config.type);
  if (!def) throw new Error(`no forwarder for path type "${config.type}"`);
  return def.create(config, context);
}
