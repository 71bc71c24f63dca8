/**
 * Composition root of the police-station receiver (`shouwang receive`): builds every part from
 * the validated config, starts them in order and stops them in reverse.
 *
 *   board (SQLite) -> web auth (same database; first admin) -> HTTP server (console, API, intake)
 *   -> ack senders (HTTP callback, MQTT) -> MQTT intake -> DC-09 intake -> listen
 *
 * The intakes come last so that nothing is accepted before the board and the way back exist.
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Clock } from '../polling/clock.js';
import { WebAuth, type FirstAdmin, type WebAuthOptions } from '../web/auth.js';
import { createWebServer, type WebServer } from '../web/server.js';
import { AckDeliveryLoop, buildOperatorAck, httpAckSender } from './ack-callback.js';
import { AlarmBoard, type AckChannel, type AckDelivery, type BoardAlarm, type OperatorAction } from './alarm-board.js';
import type { Dc09Receiver } from './dc09-receiver.js';
import { startDc09Intake } from './intake-dc09.js';
import { registerHttpIntake, type HttpIntake } from './intake-http.js';
import { MqttIntake } from './intake-mqtt.js';
import { accountIndex, type ReceiverConfig } from './receiver-config.js';
import { registerReceiverRoutes } from './receiver-routes.js';

export interface ReceiverOptions {
  config: ReceiverConfig;
  log: Logger;
  clock?: Clock;
  /** Overrides for the auth module (tests lower the scrypt cost or the login limit). */
  auth?: Partial<Pick<WebAuthOptions, 'hashParams' | 'loginLimit' | 'sessionTtlMs'>>;
  /** SSE heartbeat (and session re-check) interval. */
  heartbeatMs?: number;
}

export interface RunningReceiver {
  /** Console base URL, e.g. http://127.0.0.1:8090 */
  readonly url: string;
  readonly dc09: { tcpPort: number; udpPort: number };
  readonly firstAdmin: FirstAdmin;
  readonly board: AlarmBoard;
  readonly auth: WebAuth;
  readonly server: WebServer;
  readonly mqtt: MqttIntake | undefined;
  readonly dc09Receiver: Dc09Receiver;
  /** The operator action the console's button performs (tests and tools). */
  act(id: number, action: OperatorAction, by: string, note?: string): { alarm: BoardAlarm; deliveries: AckDelivery[] };
  stop(): Promise<void>;
}

export async function startReceiver(opts: ReceiverOptions): Promise<RunningReceiver> {
  const { config } = opts;
  const log = opts.log.child({ module: 'receiver' });
  const now = opts.clock ? () => opts.clock!.now() : Date.now;
  const startedAt = now();
  const accounts = accountIndex(config);
  const stops: Array<{ what: string; stop: () => Promise<void> | void }> = [];

  async function stopAll(): Promise<void> {
    for (const s of stops.splice(0).reverse()) {
      try {
        await s.stop();
      } catch (err) {
        log.error({ what: s.what, err: errorMessage(err) }, 'stop failed');
      }
    }
  }

  try {
    const board = AlarmBoard.open(config.dataDir, { log: opts.log, dedupeWindowMs: config.dedupeWindowMs, now });
    stops.push({ what: 'board', stop: () => board.close() });

    const auth = new WebAuth({
      db: board.database,
      log: opts.log,
      firstAdminDir: config.dataDir,
      sessionTtlMs: config.http.sessionTtlMs,
      secureCookie: config.http.secureCookie,
      now,
      ...opts.auth,
    });
    const firstAdmin = auth.ensureFirstAdmin();

    const server = createWebServer({ host: config.http.host, port: config.http.port, log: opts.log });
    stops.push({ what: 'http', stop: () => server.close() });
    await auth.register(server.app);

    const httpAcks = new AckDeliveryLoop({
      board,
      channel: 'http',
      policy: config.ackRetry,
      log: opts.log,
      now,
      send: httpAckSender((account) => accounts.get(account.toUpperCase())?.ackCallback, now),
    });
    stops.push({ what: 'ack-http', stop: () => httpAcks.stop() });

    let mqtt: MqttIntake | undefined;

    /** Operator action: state + outbox rows in one transaction, then wake the senders. */
    const act = (id: number, action: OperatorAction, by: string, note?: string) => {
      const alarm = board.get(id);
      const at = now();
      const ack = alarm ? JSON.stringify(buildOperatorAck(alarm, action, by, at, note)) : '';
      const deliveries: Array<{ channel: AckChannel; account: string; target: string; body: string }> = [];
      if (alarm) {
        const cb = accounts.get(alarm.account)?.ackCallback;
        if (cb) deliveries.push({ channel: 'http', account: alarm.account, target: cb.url, body: ack });
        const topic = mqtt?.ackTopic(alarm.site);
        if (mqtt && alarm.intakes.includes('mqtt') && topic) deliveries.push({ channel: 'mqtt', account: alarm.account, target: topic, body: ack });
        if (deliveries.length === 0) log.warn({ id, account: alarm.account }, 'no way back configured for this alarm: the acknowledgement stays on the board');
      }
      const result = board.applyAction(id, { action, by, at, ...(note === undefined ? {} : { note }) }, deliveries);
      httpAcks.kick();
      mqtt?.acks.kick();
      return result;
    };

    let dc09Receiver: Dc09Receiver | undefined;
    let httpIntake: HttpIntake | undefined;
    const routes = await registerReceiverRoutes(server.app, {
      board,
      auth,
      accounts,
      log: opts.log,
      startedAt,
      act,
      now,
      ...(opts.heartbeatMs === undefined ? {} : { heartbeatMs: opts.heartbeatMs }),
      status: () => ({
        alarms: board.count(),
        pendingAcks: board.pendingDeliveries().length,
        dc09: dc09Receiver?.stats(),
        mqtt: mqtt ? { connected: mqtt.connected, ...mqtt.counters() } : undefined,
        webhookHeartbeats: httpIntake?.heartbeats(),
      }),
    });
    // Streams first: a closing server would otherwise wait for them.
    stops.push({ what: 'sse', stop: () => routes.closeStreams() });
    if (config.httpIntake) httpIntake = await registerHttpIntake(server.app, { secret: config.httpIntake.secret, board, accounts, log: opts.log, now });

    httpAcks.start();
    if (config.mqttIntake) {
      mqtt = await MqttIntake.start({ config: config.mqttIntake, board, accounts, log: opts.log, policy: config.ackRetry, now });
      const m = mqtt;
      stops.push({ what: 'mqtt', stop: () => m.stop() });
    }

    dc09Receiver = await startDc09Intake({
      config,
      board,
      log: opts.log,
      ...(opts.clock ? { clock: opts.clock } : {}),
      onStored: (id, created) => log.info({ id, duplicate: !created }, 'DC-09 alarm stored'),
    });
    const dc09 = dc09Receiver;
    stops.push({ what: 'dc09', stop: () => dc09.stop() });

    const url = await server.listen();
    log.info({ url, tcpPort: dc09.tcpPort, udpPort: dc09.udpPort, dataDir: config.dataDir }, 'police receiver ready');

    return {
      url,
      dc09: { tcpPort: dc09.tcpPort, udpPort: dc09.udpPort },
      firstAdmin,
      board,
      auth,
      server,
      mqtt,
      dc09Receiver: dc09,
      act,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
