/**
 * MQTT uplink path: the gateway is a client of an upstream broker (the police station's or the
 * platform's) and publishes each alarm there; operators' acknowledgements come back on a topic
 * it subscribes to. Topics (prefix `topicPrefix`, default `shouwang`; `<site>` = site id):
 *
 *   <prefix>/<site>/uplink/alarm/<alarmId>   gateway -> upstream, QoS 1, alarm JSON (alarm-json.ts)
 *   <prefix>/<site>/uplink/ack               upstream -> gateway, QoS 1, operatorAckSchema JSON
 *   <prefix>/<site>/uplink/status            gateway -> upstream, QoS 1, retained `online` | `offline`
 *                                            (`offline` is the Last Will, so the far end learns of
 *                                            a lost gateway from its own broker)
 *
 * Delivery = the broker's PUBACK for that publish. The session is persistent (`clean: false`,
 * fixed client id) so acknowledgements published while the gateway was offline are queued by the
 * broker and arrive on reconnect. Retries, though, belong to the dispatcher: when the client is
 * not connected send() answers `retry` at once instead of letting mqtt.js hold the message in
 * its offline queue, and a message whose PUBACK did not come is taken back out of mqtt.js's
 * outgoing store so it is not sent a second time behind the dispatcher's back.
 */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { IClientOptions, MqttClient } from 'mqtt';
import { z } from 'zod';
import { ErrorCodes, ShouwangError, errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { operatorAckSchema } from '../operator-ack.js';
import { alarmJson } from './alarm-json.js';
import { PathHealthState } from './path-health.js';
import type { Forwarder, ForwarderContext, ForwarderDefinition, OutboundMessage, PathHealth, SendResult } from './types.js';

// mqtt.js is loaded when an uplink is first started: a gateway without one does not carry it.
let mqttClientModule: Promise<typeof import('mqtt')> | undefined;
const loadMqttClient = (): Promise<typeof import('mqtt')> => (mqttClientModule ??= import('mqtt'));

/** Same rule as config ids (config/schema.ts). */
const PATH_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
/** One MQTT topic level: no separators or wildcards. */
const TOPIC_LEVEL = /^[^/#+\s]+$/;
/** An acknowledgement is a few hundred bytes; anything this big is not one. */
const MAX_ACK_BYTES = 64 * 1024;
/** How long stop() waits for a clean DISCONNECT before dropping the socket. */
const STOP_GRACE_MS = 1000;

const tlsSchema = z
  .object({
    /** CA certificate(s) to trust: a file path (relative to the working directory) or PEM text. */
    ca: z.string().min(1).optional(),
    /** Client certificate for mutual TLS: path or PEM. */
    cert: z.string().min(1).optional(),
    /** Client key for mutual TLS: path or PEM. */
    key: z.string().min(1).optional(),
    rejectUnauthorized: z.boolean().default(true),
  })
  .strict();

export const mqttUplinkPathSchema = z
  .object({
    id: z.string().regex(PATH_ID, 'ids use letters, digits, - and _'),
    type: z.literal('mqtt'),
    url: z.url({ protocol: /^(mqtts?|wss?)$/, error: 'expected an mqtt://, mqtts://, ws:// or wss:// URL' }),
    /** Fixed client id (a persistent session is keyed on it); default `shouwang-<site>`. */
    clientId: z.string().min(1).max(128).optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    topicPrefix: z.string().regex(TOPIC_LEVEL, 'one topic level: no /, #, + or spaces').default('shouwang'),
    tls: tlsSchema.optional(),
    connectTimeoutMs: z.number().int().min(100).max(120_000).default(5000),
    /**
     * MQTT keepalive. A broker that vanishes without closing the TCP connection (cable pulled,
     * NAT timeout) is noticed within about 1.5 x this; it bounds the path's detection time.
     */
    keepaliveS: z.number().int().min(5).max(3600).default(30),
    /**
     * Publish retained `online`/`offline` (and the Last Will) on `<prefix>/<site>/uplink/status`.
     * Turn off for an upstream broker whose ACL does not allow that topic: many brokers drop a
     * client that publishes where it may not.
     */
    announceStatus: z.boolean().default(true),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const secure = cfg.url.startsWith('mqtts:') || cfg.url.startsWith('wss:');
    if (cfg.tls && !secure) ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls options need an mqtts:// or wss:// url' });
    if ((cfg.tls?.cert === undefined) !== (cfg.tls?.key === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tls', cfg.tls?.cert === undefined ? 'cert' : 'key'], message: 'tls.cert and tls.key go together' });
    }
  });

export type MqttUplinkPathConfig = z.infer<typeof mqttUplinkPathSchema>;

/** Topics of one site on the upstream broker. */
export interface UplinkTopics {
  alarm(alarmId: string): string;
  ack: string;
  status: string;
}

export function uplinkTopics(topicPrefix: string, site: string): UplinkTopics {
  const base = `${topicPrefix}/${site}/uplink`;
  return { alarm: (alarmId) => `${base}/alarm/${alarmId}`, ack: `${base}/ack`, status: `${base}/status` };
}

/** PEM text as is, otherwise a file to read. A missing file is a config error at boot. */
function readPem(value: string, field: string, pathId: string): string {
  if (value.includes('-----BEGIN')) return value;
  const file = resolvePath(value);
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ShouwangError(ErrorCodes.CONFIG_INVALID, `forwarding path ${pathId}: tls.${field}: cannot read ${file}: ${errorMessage(err)}`, {
      cause: err,
      details: { path: pathId, field: `tls.${field}`, file },
    });
  }
}

/** The broker URL without credentials, for logs and reasons. */
function displayUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
}

class MqttUplinkForwarder implements Forwarder {
  readonly type = 'mqtt';
  readonly path: string;
  private readonly log: Logger;
  private readonly url: string;
  private readonly topics: UplinkTopics;
  private readonly options: IClientOptions;
  private client: MqttClient | undefined;
  private readonly healthState: PathHealthState;
  /** The last error mqtt.js reported since the last connect: the reason the path is down. */
  private lastError: string | undefined;
  /** Sends waiting for a PUBACK; called when the connection goes away or the path stops. */
  private readonly pending = new Set<(reason: string) => void>();
  private stopped = false;

  constructor(
    private readonly config: MqttUplinkPathConfig,
    private readonly context: ForwarderContext,
  ) {
    this.path = config.id;
    this.url = displayUrl(config.url);
    this.topics = uplinkTopics(config.topicPrefix, context.site);
    this.log = context.log.child({ forwarder: 'mqtt', path: config.id });
    this.healthState = new PathHealthState(this.path, this.type, context, this.log, 'mqtt uplink', { url: this.url }, `not connected to ${this.url} yet`);
    const tls = config.tls;
    this.options = {
      clientId: config.clientId ?? `shouwang-${context.site}`,
      clean: false,
      reconnectPeriod: 1000,
      connectTimeout: config.connectTimeoutMs,
      keepalive: config.keepaliveS,
      // Never hold messages for later: the dispatcher owns retries (see module comment).
      queueQoSZero: false,
      // We subscribe on every connect ourselves (a broker that restarted lost our session).
      resubscribe: false,
      // A refused CONNECT (e.g. credentials being rotated upstream) is retried like a lost line.
      reconnectOnConnackError: true,
      protocolVersion: 4,
      ...(config.announceStatus ? { will: { topic: this.topics.status, payload: Buffer.from('offline'), qos: 1 as const, retain: true } } : {}),
      ...(config.username !== undefined ? { username: config.username } : {}),
      ...(config.password !== undefined ? { password: config.password } : {}),
      ...(tls
        ? {
            rejectUnauthorized: tls.rejectUnauthorized,
            ...(tls.ca !== undefined ? { ca: readPem(tls.ca, 'ca', config.id) } : {}),
            ...(tls.cert !== undefined ? { cert: readPem(tls.cert, 'cert', config.id) } : {}),
            ...(tls.key !== undefined ? { key: readPem(tls.key, 'key', config.id) } : {}),
          }
        : {}),
    };
  }

  /** Connects and waits for the first outcome (connected, refused, or connectTimeoutMs); never throws. */
  async start(): Promise<void> {
    if (this.client) return;
    this.stopped = false;
    const { connect } = await loadMqttClient();
    if (this.client || this.stopped) return;
    const client = connect(this.config.url, this.options);
    this.client = client;
    client.on('connect', () => this.onConnect(client));
    client.on('packetreceive', (packet) => {
      // A refused CONNACK is an answer, but not a successful exchange.
      if (packet.cmd === 'connack' && (packet.returnCode ?? 0) !== 0) return;
      this.healthState.lastOkAt = this.context.now();
    });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', (err) => {
      const text = errorMessage(err) || (err as NodeJS.ErrnoException).code || 'error';
      if (text !== this.lastError) this.log.debug({ url: this.url, err: text }, 'mqtt uplink error');
      this.lastError = text;
    });
    client.on('close', () => this.onConnectionLost('connection closed'));
    // `offline` follows `close` when reconnecting starts; it only matters if `close` was missed.
    client.on('offline', () => {
      if (this.healthState.up) this.onConnectionLost('offline');
    });
    this.log.info({ url: this.url, clientId: this.options.clientId }, 'mqtt uplink starting');
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        client.off('connect', done);
        client.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, this.config.connectTimeoutMs);
      client.on('connect', done);
      client.on('close', done);
    });
  }

  async send(message: OutboundMessage, signal: AbortSignal): Promise<SendResult> {
    const client = this.client;
    if (!client || this.stopped) return { outcome: 'retry', reason: 'mqtt uplink is not running' };
    if (!client.connected) return { outcome: 'retry', reason: `not connected to ${this.url}: ${this.healthState.reason ?? 'connecting'}` };
    if (signal.aborted) return { outcome: 'retry', reason: 'cancelled before publishing' };
    const alarmId = message.alarm.id;
    if (!TOPIC_LEVEL.test(alarmId)) return { outcome: 'rejected', reason: `alarm id ${JSON.stringify(alarmId)} cannot be a topic level` };
    const topic = this.topics.alarm(alarmId);
    const body = alarmJson(message);

    return new Promise<SendResult>((resolve) => {
      let settled = false;
      let messageId: number | undefined;
      const finish = (result: SendResult) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        this.pending.delete(onLost);
        resolve(result);
      };
      const onPuback = (err?: Error) => {
        if (err) finish({ outcome: 'retry', reason: `publish to ${this.url} failed: ${errorMessage(err)}` });
        else finish({ outcome: 'delivered', at: this.context.now(), detail: `PUBACK for ${topic}` });
      };
      /** Take the message back so mqtt.js does not resend it on reconnect; the dispatcher will. */
      const takeBack = () => {
        if (messageId !== undefined && client.outgoing[messageId]?.cb === onPuback) client.removeOutgoingMessage(messageId);
      };
      // finish() before takeBack(): removing the message calls onPuback with 'Message removed'.
      const onAbort = () => {
        finish({ outcome: 'retry', reason: `no PUBACK from ${this.url} before the send was cancelled` });
        takeBack();
      };
      const onLost = (reason: string) => {
        finish({ outcome: 'retry', reason: `${reason} before PUBACK` });
        takeBack();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending.add(onLost);
      client.publish(topic, body, { qos: 1, retain: false }, onPuback);
      // mqtt.js assigns the packet id synchronously; find it by our callback.
      for (const [id, entry] of Object.entries(client.outgoing)) {
        if (entry.cb === onPuback) messageId = Number(id);
      }
    });
  }

  health(): PathHealth {
    return this.healthState.current();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.failPending('mqtt uplink stopped');
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    if (client.connected && this.config.announceStatus) {
      // A clean DISCONNECT suppresses the Last Will, so say `offline` ourselves (best effort).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, STOP_GRACE_MS);
        client.publish(this.topics.status, 'offline', { qos: 1, retain: true }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.stream?.destroy();
        resolve();
      }, STOP_GRACE_MS);
      client.end(false, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    client.removeAllListeners();
    // mqtt.js may still report the socket closing; keep a listener so that is never an unhandled 'error'.
    client.on('error', () => {});
    this.log.info({ url: this.url }, 'mqtt uplink stopped');
  }

  private onConnect(client: MqttClient): void {
    this.lastError = undefined;
    this.healthState.ok();
    client.subscribe(this.topics.ack, { qos: 1 }, (err, granted) => {
      const refused = err ?? (granted?.some((g) => g.qos === 128) ? new Error('the broker refused the subscription') : undefined);
      if (refused) this.log.error({ url: this.url, topic: this.topics.ack, err: errorMessage(refused) }, 'mqtt uplink: cannot subscribe to operator acknowledgements');
    });
    if (this.config.announceStatus) {
      client.publish(this.topics.status, 'online', { qos: 1, retain: true }, (err) => {
        if (err) this.log.debug({ err: errorMessage(err) }, 'mqtt uplink: status not published');
      });
    }
  }

  private onConnectionLost(what: string): void {
    if (this.stopped) return;
    const reason = this.lastError ? `${this.url}: ${this.lastError}` : `${this.url}: ${what}`;
    this.failPending(`connection to ${this.url} lost`);
    this.healthState.set(false, reason);
  }

  private failPending(reason: string): void {
    for (const lost of [...this.pending]) lost(reason);
  }

  /** An operator acknowledgement from upstream: parsed at the boundary, never thrown. */
  private onMessage(topic: string, payload: Buffer): void {
    if (topic !== this.topics.ack) {
      this.log.debug({ topic }, 'mqtt uplink: message on an unexpected topic ignored');
      return;
    }
    if (payload.length > MAX_ACK_BYTES) {
      this.log.warn({ topic, bytes: payload.length }, 'mqtt uplink: operator acknowledgement too large; ignored');
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      this.log.warn({ topic, err: errorMessage(err) }, 'mqtt uplink: operator acknowledgement is not JSON; ignored');
      return;
    }
    const parsed = operatorAckSchema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({ path: issue.path.map(String).join('.') || '(root)', message: issue.message }));
      this.log.warn({ topic, issues }, 'mqtt uplink: invalid operator acknowledgement; ignored');
      return;
    }
    try {
      this.context.onOperatorAck(parsed.data);
    } catch (err) {
      this.log.error({ topic, err: errorMessage(err) }, 'mqtt uplink: operator acknowledgement handler failed');
    }
  }
}

export const mqttUplinkForwarder: ForwarderDefinition<typeof mqttUplinkPathSchema> = {
  type: 'mqtt',
  schema: mqttUplinkPathSchema,
  create: (config, context) => new MqttUplinkForwarder(config, context),
};
