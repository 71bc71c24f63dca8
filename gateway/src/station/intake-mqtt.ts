/**
 * MQTT intake: subscribe (QoS 1) to the topic the gateway's MQTT uplink publishes alarms on,
 * and carry acknowledgements back on `shouwang/<site>/uplink/ack` (configurable) for alarms
 * that came this way.
 *
 * Payloads are the same JSON as the HTTP intake (intake-json.ts). A bad payload is logged with
 * its topic and the fields that are wrong, and dropped; it never stops the intake. The board
 * commit happens inside the 'message' handler, which mqtt.js runs before it sends PUBACK, so a
 * QoS 1 alarm is acknowledged to the broker only once it is stored.
 *
 * Acknowledgements go through the board's outbox (channel `mqtt`), so they wait out a broker
 * outage or a receiver restart and are published once the connection is back.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { AckDeliveryLoop, type AckRetryPolicy, type SendOutcome } from './ack-callback.js';
import type { AlarmBoard } from './alarm-board.js';
import { alarmMessageSchema, jsonToBoardInput } from './intake-json.js';
import type { MqttIntakeConfig, ReceiverAccount } from './receiver-config.js';

export interface MqttIntakeOptions {
  config: MqttIntakeConfig;
  board: AlarmBoard;
  accounts: ReadonlyMap<string, ReceiverAccount>;
  log: Logger;
  policy: AckRetryPolicy;
  now?: () => number;
}

/** The ack topic for a site, or undefined when the site name cannot be a topic level. */
export function ackTopicFor(template: string, site: string | undefined): string | undefined {
  if (site === undefined || site === '' || /[+#/\u0000]/.test(site)) return undefined;
  return template.replaceAll('{site}', site);
}

export class MqttIntake {
  readonly acks: AckDeliveryLoop;
  private readonly client: MqttClient;
  private readonly log: Logger;
  private readonly now: () => number;
  private stats = { received: 0, stored: 0, duplicates: 0, invalid: 0 };
  private markSubscribed: () => void = () => undefined;
  private readonly subscribed = new Promise<void>((resolve) => (this.markSubscribed = resolve));

  private constructor(private readonly opts: MqttIntakeOptions) {
    this.log = opts.log.child({ module: 'intake-mqtt' });
    this.now = opts.now ?? Date.now;
    const c = opts.config;
    this.client = mqtt.connect(c.url, {
      ...(c.username === undefined ? {} : { username: c.username }),
      ...(c.password === undefined ? {} : { password: c.password }),
      // With a fixed client id the broker keeps our QoS 1 subscription (and queued alarms) while we are away.
      ...(c.clientId === undefined ? { clean: true } : { clientId: c.clientId, clean: false }),
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
    });
    this.acks = new AckDeliveryLoop({
      board: opts.board,
      channel: 'mqtt',
      policy: opts.policy,
      log: opts.log,
      ...(opts.now ? { now: opts.now } : {}),
      // Resolves on PUBACK, or when the loop's timeout aborts (mqtt.js would otherwise hold a
      // publish through a reconnect and the drain would wait with it). A late PUBACK after that
      // means the gateway may see the acknowledgement twice, which it tolerates.
      send: (d, signal) =>
        new Promise<SendOutcome>((resolve) => {
          if (!this.client.connected) return resolve({ ok: false, error: `not connected to ${c.url}` });
          const onAbort = () => resolve({ ok: false, error: `no PUBACK for ${d.target} in time` });
          signal.addEventListener('abort', onAbort, { once: true });
          this.client.publish(d.target, d.body, { qos: 1 }, (err) => {
            signal.removeEventListener('abort', onAbort);
            resolve(err ? { ok: false, error: errorMessage(err) } : { ok: true });
          });
        }),
    });
    this.client.on('connect', () => {
      this.log.info({ url: c.url, topic: c.topic }, 'MQTT intake connected');
      this.client.subscribe(c.topic, { qos: 1 }, (err, granted) => {
        if (err) this.log.error({ topic: c.topic, err: errorMessage(err) }, 'MQTT intake: subscribe failed');
        else if (granted?.some((g) => g.qos === 128)) this.log.error({ topic: c.topic }, 'MQTT intake: the broker refused the subscription (ACL?)');
        this.markSubscribed();
      });
      this.acks.kick();
    });
    this.client.on('error', (err) => this.log.warn({ url: c.url, err: errorMessage(err) }, 'MQTT intake connection error'));
    this.client.on('offline', () => this.log.warn({ url: c.url }, 'MQTT intake offline; reconnecting'));
    this.client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  /** Connect and subscribe. Waits up to `waitMs` for the first subscription; a broker that is down does not fail the start. */
  static async start(opts: MqttIntakeOptions, waitMs = 3000): Promise<MqttIntake> {
    const intake = new MqttIntake(opts);
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Resolve once the subscription is in place, so an alarm published right after start is not missed.
    await Promise.race([intake.subscribed, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    intake.acks.start();
    return intake;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  counters(): { received: number; stored: number; duplicates: number; invalid: number } {
    return { ...this.stats };
  }

  /** The topic acknowledgements of an alarm from `site` go to. */
  ackTopic(site: string | undefined): string | undefined {
    return ackTopicFor(this.opts.config.ackTopic, site);
  }

  private onMessage(topic: string, payload: Buffer): void {
    this.stats.received++;
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      this.stats.invalid++;
      this.log.warn({ topic, err: errorMessage(err) }, 'MQTT intake: payload is not JSON; dropped');
      return;
    }
    const r = alarmMessageSchema.safeParse(json);
    if (!r.success) {
      this.stats.invalid++;
      const fields = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
      this.log.warn({ topic, issues: fields }, `MQTT intake: invalid alarm on ${topic}: ${fields.join('; ')}`);
      return;
    }
    const msg = r.data;
    try {
      const { alarm, created } = this.opts.board.record(jsonToBoardInput(msg, 'mqtt', this.opts.accounts.get(msg.account.toUpperCase()), this.now()));
      if (created) this.stats.stored++;
      else this.stats.duplicates++;
      this.log.info({ id: alarm.id, alarmId: msg.alarmId, account: alarm.account, seq: msg.seq, topic, duplicate: !created }, 'MQTT intake: alarm stored');
    } catch (err) {
      this.log.error({ topic, alarmId: msg.alarmId, err: errorMessage(err) }, 'MQTT intake: could not store the alarm');
    }
  }

  async stop(): Promise<void> {
    await this.acks.stop();
    await this.client.endAsync();
  }
}
