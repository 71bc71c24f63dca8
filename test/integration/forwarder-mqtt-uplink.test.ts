/**
 * MQTT uplink forwarder against a real upstream broker (Aedes on a TCP socket on 127.0.0.1, as
 * the police station's broker would be) and a real mqtt.js client playing the far end.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Aedes, AuthorizePublishHandler, Client } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { pino, type Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mqttUplinkForwarder, mqttUplinkPathSchema } from '../../gateway/src/alarms/forwarders/mqtt-uplink.js';
import type { Forwarder, ForwarderContext, OperatorAck, OutboundMessage, PathHealth } from '../../gateway/src/alarms/forwarders/types.js';
import type { Alarm } from '../../gateway/src/core/types.js';
import { alarmFixture } from '../helpers/alarm-fixture.js';

interface Upstream {
  aedes: Aedes;
  server: Server;
  port: number;
  sockets: Set<Socket>;
  /** Every CONNECT the broker accepted. */
  clients: Client[];
  /** Every alarm publish the broker got from a client (before PUBACK). */
  alarmPublishes: string[];
  /** When set, alarm publishes are held here instead of being accepted (no PUBACK). */
  hold: Array<() => void> | undefined;
  close(): Promise<void>;
}

async function startUpstream(onPort = 0): Promise<Upstream> {
  const { Aedes } = await import('aedes');
  const aedes = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  const up: Upstream = {
    aedes,
    server,
    port: 0,
    sockets,
    clients: [],
    alarmPublishes: [],
    hold: undefined,
    close: async () => {
      await new Promise<void>((res) => aedes.close(() => res()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
  aedes.on('client', (client) => up.clients.push(client));
  const authorizePublish: AuthorizePublishHandler = (_client, packet, done) => {
    if (!packet.topic.includes('/uplink/alarm/')) return done(null);
    up.alarmPublishes.push(packet.topic);
    if (up.hold) up.hold.push(() => done(null));
    else done(null);
  };
  aedes.authorizePublish = authorizePublish;
  await new Promise<void>((res) => server.listen(onPort, '127.0.0.1', () => res()));
  up.port = (server.address() as AddressInfo).port;
  return up;
}

interface FarEnd {
  client: MqttClient;
  messages: Array<{ topic: string; payload: string; qos: number; retain: boolean }>;
}

async function farEnd(port: number): Promise<FarEnd> {
  const client = mqtt.connect({ host: '127.0.0.1', port, clientId: `police-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const messages: FarEnd['messages'] = [];
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString('utf8'), qos: packet.qos, retain: packet.retain }));
  await client.subscribeAsync('shouwang/v1/uplink/#', { qos: 1 });
  return { client, messages };
}

const alarm: Alarm = alarmFixture({ silent: true });

function message(id = alarm.id, attempt = 1): OutboundMessage {
  return { outboxId: 1, route: 'police', account: '1234', seq: 9, alarm: { ...alarm, id }, zone: 3, group: 1, attempt, queuedAt: 1718000000100 };
}

interface Harness {
  fwd: Forwarder;
  healths: PathHealth[];
  acks: OperatorAck[];
  logs: Array<Record<string, unknown>>;
}

let upstream: Upstream;
let cleanups: Array<() => Promise<unknown>>;

async function makeForwarder(extra: Record<string, unknown> = {}, port = upstream.port): Promise<Harness> {
  const healths: PathHealth[] = [];
  const acks: OperatorAck[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const log: Logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const context: ForwarderContext = { log, now: () => Date.now(), site: 'v1', onHealth: (h) => healths.push(h), onOperatorAck: (a) => acks.push(a) };
  const config = mqttUplinkPathSchema.parse({ id: 'police-mqtt', type: 'mqtt', url: `mqtt://127.0.0.1:${port}`, connectTimeoutMs: 2000, ...extra });
  const fwd = mqttUplinkForwarder.create(config, context);
  cleanups.push(() => fwd.stop());
  await fwd.start();
  return { fwd, healths, acks, logs };
}

async function waitUntil(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const never = () => new AbortController().signal;

beforeEach(async () => {
  cleanups = [];
  upstream = await startUpstream();
});

afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  await upstream.close();
});

describe('mqtt uplink forwarder', () => {
  it('connects with a fixed client id and a persistent session, publishes the alarm JSON with QoS 1, delivered on PUBACK', async () => {
    const police = await farEnd(upstream.port);
    cleanups.push(() => police.client.endAsync());
    const { fwd, healths } = await makeForwarder();
    expect(fwd.health()).toMatchObject({ path: 'police-mqtt', type: 'mqtt', up: true });
    expect(healths).toEqual([expect.objectContaining({ up: true })]);
    const gateway = upstream.clients.find((c) => c.id === 'shouwang-v1');
    expect(gateway?.clean).toBe(false);

    const result = await fwd.send(message(), never());
    expect(result).toMatchObject({ outcome: 'delivered', detail: `PUBACK for shouwang/v1/uplink/alarm/${alarm.id}` });

    await waitUntil(() => police.messages.some((m) => m.topic.includes('/alarm/')), 3000, 'the alarm at the far end');
    const got = police.messages.find((m) => m.topic === `shouwang/v1/uplink/alarm/${alarm.id}`)!;
    expect(got.qos).toBe(1);
    expect(got.retain).toBe(false);
    expect(JSON.parse(got.payload)).toMatchObject({
      type: 'alarm',
      site: 'v1',
      alarmId: alarm.id,
      account: '1234',
      seq: 9,
      silent: true,
      code: { cid: 120, sia: 'PA' },
      location: null,
      cameraUrl: null,
      attempt: 1,
    });
    // The far end can supervise the gateway: retained `online` on the status topic.
    await waitUntil(() => police.messages.some((m) => m.topic === 'shouwang/v1/uplink/status' && m.payload === 'online'), 3000, 'online status');
  });

  it('honours clientId and topicPrefix from config', async () => {
    const { fwd } = await makeForwarder({ clientId: 'gw-7', topicPrefix: 'city' });
    expect(upstream.clients.map((c) => c.id)).toContain('gw-7');
    const police = mqtt.connect({ host: '127.0.0.1', port: upstream.port, reconnectPeriod: 0 });
    cleanups.push(() => police.endAsync());
    await new Promise<void>((r) => police.once('connect', () => r()));
    const topics: string[] = [];
    police.on('message', (t) => topics.push(t));
    await police.subscribeAsync('city/v1/uplink/alarm/#', { qos: 1 });
    expect((await fwd.send(message(), never())).outcome).toBe('delivered');
    await waitUntil(() => topics.length > 0, 3000, 'the alarm under the configured prefix');
    expect(topics).toEqual([`city/v1/uplink/alarm/${alarm.id}`]);
  });

  it('feeds operator acknowledgements from the ack topic to onOperatorAck; malformed ones are logged and ignored', async () => {
    const { acks, logs } = await makeForwarder();
    const police = await farEnd(upstream.port);
    cleanups.push(() => police.client.endAsync());
    const ackTopic = 'shouwang/v1/uplink/ack';

    await police.client.publishAsync(ackTopic, 'not json {', { qos: 1 });
    await police.client.publishAsync(ackTopic, JSON.stringify({ alarmId: alarm.id, action: 'maybe', by: 'Officer Li', at: 1 }), { qos: 1 });
    await police.client.publishAsync(ackTopic, JSON.stringify({ action: 'acknowledged', by: 'Officer Li', at: 1 }), { qos: 1 });
    const good = { alarmId: alarm.id, action: 'acknowledged', by: 'Officer Li', note: '已接警', at: 1718000009000 };
    await police.client.publishAsync(ackTopic, JSON.stringify(good), { qos: 1 });
    const byAccount = { account: '1234', seq: 9, action: 'dispatched', by: 'Officer Wang', at: 1718000019000 };
    await police.client.publishAsync(ackTopic, JSON.stringify(byAccount), { qos: 1 });

    await waitUntil(() => acks.length === 2, 3000, 'two acknowledgements');
    expect(acks).toEqual([good, byAccount]);

    const warnings = logs.filter((l) => l.level === 40 && l.topic === ackTopic);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatchObject({ msg: expect.stringContaining('not JSON') });
    expect(warnings[1]).toMatchObject({ msg: expect.stringContaining('invalid'), issues: [expect.objectContaining({ path: 'action' })] });
    expect(warnings[2]).toMatchObject({ issues: [expect.objectContaining({ path: '(root)', message: expect.stringContaining('alarmId') })] });
  });

  it('broker down: path down and send answers retry at once; broker back: up, delivered, acks flow again', async () => {
    const { fwd, healths, acks } = await makeForwarder();
    expect(fwd.health().up).toBe(true);
    const samePort = upstream.port;

    const downAt = Date.now();
    await upstream.close();
    await waitUntil(() => !fwd.health().up, 3000, 'the path to go down');
    const down = fwd.health();
    expect(down.reason).toContain(`127.0.0.1:${samePort}`);
    expect(down.detectionMs).toBeGreaterThanOrEqual(0);
    expect(down.detectionMs).toBeLessThan(Date.now() - (down.lastOkAt ?? 0) + 1);
    expect(down.since).toBeGreaterThanOrEqual(downAt);
    expect(healths.map((h) => h.up)).toEqual([true, false]);

    const started = Date.now();
    const result = await fwd.send(message(), never());
    expect(Date.now() - started).toBeLessThan(100);
    expect(result).toEqual({ outcome: 'retry', reason: expect.stringContaining('not connected') });

    upstream = await startUpstream(samePort);
    const police = await farEnd(samePort);
    cleanups.push(() => police.client.endAsync());
    await waitUntil(() => fwd.health().up, 5000, 'the path to come back');
    expect(healths.map((h) => h.up)).toEqual([true, false, true]);
    expect(fwd.health()).not.toHaveProperty('detectionMs');

    expect((await fwd.send(message(alarm.id, 2), never())).outcome).toBe('delivered');
    await waitUntil(() => police.messages.some((m) => m.topic.endsWith(alarm.id)), 3000, 'the alarm after the restart');
    expect(JSON.parse(police.messages.find((m) => m.topic.endsWith(alarm.id))!.payload)).toMatchObject({ alarmId: alarm.id, attempt: 2 });

    // The new broker had no session for us: the forwarder subscribed again on connect.
    await police.client.publishAsync('shouwang/v1/uplink/ack', JSON.stringify({ alarmId: alarm.id, action: 'acknowledged', by: 'Li', at: 1 }), { qos: 1 });
    await waitUntil(() => acks.length === 1, 3000, 'the ack after the restart');
  });

  it('no PUBACK: retry when the dispatcher gives up, and mqtt.js does not resend it behind its back', async () => {
    const { fwd } = await makeForwarder();
    upstream.hold = [];
    const result = await fwd.send(message(), AbortSignal.timeout(200));
    expect(result).toEqual({ outcome: 'retry', reason: expect.stringContaining('no PUBACK') });
    expect(upstream.alarmPublishes).toHaveLength(1);

    // Force a reconnect: a message still in mqtt.js's outgoing store would be sent again now.
    upstream.hold = undefined;
    for (const s of upstream.sockets) s.destroy();
    await waitUntil(() => !fwd.health().up, 3000, 'the drop');
    await waitUntil(() => fwd.health().up, 5000, 'the reconnect');
    await new Promise((r) => setTimeout(r, 200));
    expect(upstream.alarmPublishes).toHaveLength(1);
  });

  it('connection lost while waiting for PUBACK: retry at once, not at the dispatcher timeout', async () => {
    const { fwd } = await makeForwarder();
    upstream.hold = [];
    const pending = fwd.send(message(), AbortSignal.timeout(10_000));
    await waitUntil(() => upstream.alarmPublishes.length === 1, 3000, 'the publish to reach the broker');
    const started = Date.now();
    for (const s of upstream.sockets) s.destroy();
    const result = await pending;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(result).toEqual({ outcome: 'retry', reason: expect.stringContaining('lost before PUBACK') });
  });

  it('stop: says offline on the status topic, later sends are retries, and stop is idempotent', async () => {
    const police = await farEnd(upstream.port);
    cleanups.push(() => police.client.endAsync());
    const { fwd } = await makeForwarder();
    await waitUntil(() => police.messages.some((m) => m.topic.endsWith('/status') && m.payload === 'online'), 3000, 'online');
    await fwd.stop();
    await waitUntil(() => police.messages.some((m) => m.topic.endsWith('/status') && m.payload === 'offline'), 3000, 'offline');
    await waitUntil(() => !upstream.clients.some((c) => c.id === 'shouwang-v1' && c.connected), 3000, 'the gateway to disconnect');
    expect(await fwd.send(message(), never())).toEqual({ outcome: 'retry', reason: expect.stringContaining('not running') });
    await fwd.stop();
  });

  it('the Last Will tells the far end when the gateway vanishes without a goodbye', async () => {
    const police = await farEnd(upstream.port);
    cleanups.push(() => police.client.endAsync());
    const { fwd } = await makeForwarder();
    await waitUntil(() => police.messages.some((m) => m.topic.endsWith('/status') && m.payload === 'online'), 3000, 'online');
    const gatewaySockets = [...upstream.sockets].filter((s) => s.remotePort !== (police.client.stream as Socket).localPort);
    expect(gatewaySockets).toHaveLength(1);
    gatewaySockets[0]!.destroy();
    await waitUntil(() => police.messages.some((m) => m.topic.endsWith('/status') && m.payload === 'offline'), 3000, 'the will');
    await waitUntil(() => fwd.health().up, 5000, 'the reconnect');
    await waitUntil(() => police.messages.filter((m) => m.topic.endsWith('/status') && m.payload === 'online').length === 2, 3000, 'online again');
  });

  it('announceStatus: false publishes nothing but alarms (for a broker whose ACL allows only those)', async () => {
    const seen: string[] = [];
    upstream.aedes.on('publish', (packet, client) => {
      if (client) seen.push(packet.topic);
    });
    const { fwd } = await makeForwarder({ announceStatus: false });
    expect((await fwd.send(message(), never())).outcome).toBe('delivered');
    // An abrupt drop would publish a Last Will, if there were one.
    for (const s of upstream.sockets) s.destroy();
    await waitUntil(() => !fwd.health().up, 3000, 'the drop');
    await waitUntil(() => fwd.health().up, 5000, 'the reconnect');
    await fwd.stop();
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([`shouwang/v1/uplink/alarm/${alarm.id}`]);
  });

  it('start() does not throw and returns promptly when the broker is unreachable', async () => {
    const closed = upstream.port;
    await upstream.close();
    const started = Date.now();
    const { fwd } = await makeForwarder({}, closed);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(fwd.health()).toMatchObject({ up: false, reason: expect.stringContaining('ECONNREFUSED') });
    expect(fwd.health()).not.toHaveProperty('detectionMs'); // never up: nothing to measure from
    upstream = await startUpstream();
  });
});

describe('mqttUplinkPathSchema', () => {
  const base = { id: 'police-mqtt', type: 'mqtt', url: 'mqtts://broker.example:8883' };

  it('applies defaults (clientId is filled in from the site when the path is created)', () => {
    expect(mqttUplinkPathSchema.parse(base)).toEqual({ ...base, topicPrefix: 'shouwang', connectTimeoutMs: 5000, keepaliveS: 30, announceStatus: true });
    expect(mqttUplinkPathSchema.parse({ ...base, tls: {} }).tls).toEqual({ rejectUnauthorized: true });
  });

  it.each([
    ['an http url', { url: 'http://broker.example' }, 'url'],
    ['tls with a plain mqtt:// url', { url: 'mqtt://broker.example', tls: { rejectUnauthorized: false } }, 'tls'],
    ['a client cert without its key', { tls: { cert: '/etc/c.pem' } }, 'tls'],
    ['a topic prefix with a slash', { topicPrefix: 'a/b' }, 'topicPrefix'],
    ['an unknown key', { qos: 2 }, ''],
  ])('refuses %s', (_what, patch, field) => {
    const result = mqttUplinkPathSchema.safeParse({ ...base, ...patch });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path[0] ?? '').toBe(field);
  });

  it('reports an unreadable TLS file as a config error naming the path and field', () => {
    const config = mqttUplinkPathSchema.parse({ ...base, tls: { ca: '/nonexistent/ca.pem' } });
    const context: ForwarderContext = { log: pino({ level: 'silent' }), now: Date.now, site: 'v1', onHealth: () => {}, onOperatorAck: () => {} };
    expect(() => mqttUplinkForwarder.create(config, context)).toThrow(/police-mqtt: tls\.ca: cannot read \/nonexistent\/ca\.pem/);
  });
});
