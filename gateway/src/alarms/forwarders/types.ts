/**
 * The one interface every alarm forwarder implements (SIA DC-09, MQTT uplink, HTTP webhook, SMS
 * modem, ...). The outbox dispatcher (alarms/dispatcher.ts) owns ordering, retries, backoff,
 * backup paths and escalation; a forwarder only knows how to put ONE message on ONE path and
 * say what the far end answered. Adding a protocol = one file exporting a ForwarderDefinition
 * plus one line in forwarders/registry.ts; nothing else changes.
 */
import type { z } from 'zod';
import type { Alarm, PathHealth } from '../../core/types.js';

export type { PathHealth };
import type { Logger } from '../../log.js';

/** One queued alarm as a forwarder sends it: frozen when it was queued, identical on every retry. */
export interface OutboundMessage {
  /** Outbox row id: stable across retries and restarts. */
  outboxId: number;
  /** The route (config `forwarding.routes[].id`) that queued it. */
  route: string;
  /** Receiver-visible account, e.g. DC-09 `#1234`: 3-16 hex digits. */
  account: string;
  /** Per-account sequence 1..9999, assigned once when queued; a retry (and a restart) reuses it. */
  seq: number;
  /** The alarm (or restore) as it was when queued. `alarm.id` is the stable id receivers dedupe on. */
  alarm: Alarm;
  /** Contact ID zone / SIA address 1..999 (device config `zone`, else its 1-based index). */
  zone: number;
  /** Contact ID group / SIA area (`ri`) 1..99. */
  group: number;
  /** Verification (camera snapshot) URL for DC-09 `[V…]` and JSON paths. */
  cameraUrl?: string;
  /** 1 on the first try on this path. */
  attempt: number;
  /** When the outbox accepted it (ms since epoch). */
  queuedAt: number;
}

export type SendResult =
  /** The receiver acknowledged THIS message (DC-09 ACK with the same seq, HTTP 2xx, MQTT PUBACK, SMS +CMGS). */
  | { outcome: 'delivered'; at: number; detail?: string }
  /** No answer or a transient failure: the dispatcher retries later with the same seq. */
  | { outcome: 'retry'; reason: string }
  /** The receiver refused it (DC-09 DUH, HTTP 4xx, auth): this path cannot deliver it; path trouble. */
  | { outcome: 'rejected'; reason: string };

/** An operator acknowledgement coming back from the police side (e.g. over the MQTT uplink). */
export interface OperatorAck {
  /** The stable alarm id, when the far end knows it (JSON paths). */
  alarmId?: string;
  /** Or the DC-09 account + sequence it was delivered under. */
  account?: string;
  seq?: number;
  /** `acknowledged` = seen by an operator; `dispatched` = an officer is on the way. */
  action: 'acknowledged' | 'dispatched';
  /** Operator name at the receiver. */
  by: string;
  note?: string;
  at: number;
}

export interface ForwarderContext {
  log: Logger;
  /** ms since epoch; injected so tests can move time. */
  now: () => number;
  site: string;
  /** Report a supervision change (path lost / restored). Never throws. */
  onHealth(health: PathHealth): void;
  /** An operator acknowledgement arrived over this path (only paths with a back channel). */
  onOperatorAck(ack: OperatorAck): void;
}

export interface Forwarder {
  /** Path id from config (`forwarding.paths[].id`). */
  readonly path: string;
  readonly type: string;
  /** Connect / open and start supervision (heartbeats). Must not throw when the far end is down: report it via onHealth. */
  start(): Promise<void>;
  /**
   * Put one message on the path and wait for the far end's answer. Never throws for network
   * trouble (that is a `retry`). Must give up when `signal` aborts (dispatcher timeout / stop).
   */
  send(message: OutboundMessage, signal: AbortSignal): Promise<SendResult>;
  health(): PathHealth;
  stop(): Promise<void>;
}

/** What each forwarder file exports. `schema` is a zod object with `id` and a literal `type`. */
export interface ForwarderDefinition<S extends z.ZodType = z.ZodType> {
  type: string;
  schema: S;
  create(config: z.infer<S>, context: ForwarderContext): Forwarder;
}
