/**
 * The embedded broker with a REAL mqtt.js client over real TCP/TLS sockets on 127.0.0.1.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import mqtt, { ErrorWithSubackPacket, type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../gateway/src/auth/password.js';
import { mqttSchema, type MqttConfig } from '../../gateway/src/config/schema.js';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import type { Point } from '../../gateway/src/core/types.js';
import { silentLogger } from '../../gateway/src/log.js';
import type { JsonPointDef } from '../../gateway/src/profiles/schema.js';
import { MqttBroker, type DeviceClientEvent, type MqttCommand } from '../../gateway/src/sinks/mqtt/broker.js';
import { DeviceIntake, type DeviceValues } from '../../gateway/src/sinks/mqtt/device-intake.js';
import { MqttPublisher } from '../../gateway/src/sinks/mqtt/publisher.js';

const FAST = { N: 1024, r: 8, p: 1 };
const PW = { admin: 'admin-pw', app: 'app-pw', door7: 'door7-pw', door8: 'door8-pw', operator: 'op-pw', red: 'red-pw' };

let dir: string;
let broker: MqttBroker;
let bus: EventBus;
let publisher: MqttPublisher;
const clients: MqttClient[] = [];
const commands: MqttCommand[] = [];
const values: DeviceValues[] = [];
const deviceEvents: DeviceClientEvent[] = [];
const serverSockets = new Map<string, Socket>();
const snapshots = new Map<string, Point[]>();
let intake: DeviceIntake;

const doorPoints: JsonPointDef[] = [
  { id: 'door', type: 'bool', json: 'status.door', map: { '0': 'closed', '1': 'open' } } as JsonPointDef,
  { id: 'battery', type: 'u16', json: 'battery', scale: 0.01, unit: 'V' } as JsonPointDef,
];

function config(over: Partial<MqttConfig> = {}): MqttConfig {
  return mqttSchema.parse({
    host: '127.0.0.1',
    port: 0,
    users: [
      { username: 'admin', passwordHash: hashPassword(PW.admin, FAST), role: 'admin' },
      { username: 'app', passwordHash: hashPassword(PW.app, FAST), role: 'app' },
      { username: 'door-7', passwordHash: hashPassword(PW.door7, FAST), role: 'device', device: 'door-7' },
      { username: 'door-8', passwordHash: hashPassword(PW.door8, FAST), role: 'device', device: 'door-8' },
      { username: 'operator', passwordHash: hashPassword(PW.operator, FAST), role: 'app', publish: ['shouwang/v1/+/set/unlock'] },
    ],
    usersFile: 'mqtt-users.yaml',
    ...over,
  });
}

function connect(port: number, username: string | undefined, password: string | undefined, extra: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({
      host: '127.0.0.1',
      port,
      protocol: 'mqtt',
      reconnectPeriod: 0,
      connectTimeout: 5000,
      clientId: `t-${username ?? 'anon'}-${Math.random().toString(16).slice(2, 8)}`,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      ...extra,
    });
    clients.push(c);
    c.once('connect', () => resolve(c));
    c.once('error', (err) => reject(err));
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

const as = (who: keyof typeof PW, extra: IClientOptions = {}) =>
  connect(broker.port, who === 'door7' ? 'door-7' : who === 'door8' ? 'door-8' : who === 'red' ? 'red' : who, PW[who], extra);

/** Subscribe and return the granted QoS (128 = refused; mqtt.js reports that as an error carrying the SUBACK). */
function subscribe(c: MqttClient, filter: string): Promise<number> {
  return new Promise((resolve, reject) =>
    c.subscribe(filter, { qos: 1 }, (err, granted) => {
      if (err instanceof ErrorWithSubackPacket) {
        const g = (err.packet as { granted?: Array<number | { qos: number }> }).granted?.[0];
        return resolve(typeof g === 'number' ? g : (g?.qos ?? -1));
      }
      if (err) return reject(err);
      resolve(granted?.[0]?.qos ?? -1);
    }),
  );
}

function collect(c: MqttClient) {
  const msgs: Array<{ topic: string; payload: string; retain: boolean }> = [];
  c.on('message', (topic, payload, packet) => msgs.push({ topic, payload: payload.toString(), retain: packet.retain }));
  return msgs;
}

function waitFor<T>(fn: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      const v = fn();
      if (v !== undefined && v !== false) return resolve(v);
      if (Date.now() - start > timeoutMs) return reject(new Error('timed out waiting'));
      setTimeout(tick, 5);
    };
    tick();
  });
}

/** Resolves when the broker drops the client; fails fast if it does not. */
function closed(c: MqttClient, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!c.connected) return resolve();
    const timer = setTimeout(() => reject(new Error('the broker did not disconnect the client')), timeoutMs);
    c.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The broker publishes a unique sentinel; once a subscriber has it, anything published earlier has been delivered. */
let sentinels = 0;
async function sentinel(msgs: Array<{ topic: string; payload: string }>, topic = 'shouwang/v1/gateway/status'): Promise<void> {
  const payload = `sentinel-${++sentinels}`;
  await broker.publish(topic, payload, { qos: 1, retain: false });
  await waitFor(() => msgs.find((m) => m.topic === topic && m.payload === payload));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-mqtt-'));
  writeFileSync(
    join(dir, 'mqtt-users.yaml'),
    `- username: red\n  passwordHash: "${hashPassword(PW.red, FAST)}"\n  role: nodered\n`,
  );
  bus = new EventBus();
  intake = new DeviceIntake({ pointsOf: (d) => (d === 'door-7' ? doorPoints : undefined), onValues: (v) => values.push(v), log: silentLogger() });
  broker = await MqttBroker.start({
    config: config(),
    site: 'v1',
    log: silentLogger(),
    baseDir: dir,
    onUplink: (m) => intake.handle(m),
    onCommand: (c) => commands.push(c),
    onDeviceClient: (e) => deviceEvents.push(e),
  });
  broker.aedes.on('clientReady', (client) => serverSockets.set(client.id, client.conn as Socket));
  publisher = new MqttPublisher({ broker, bus, snapshot: (d) => snapshots.get(d) ?? [], log: silentLogger() });
  await publisher.start();
});

afterAll(async () => {
  for (const c of clients) c.end(true);
  await publisher?.stop();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('authentication', () => {
  it('binds to 127.0.0.1 on an ephemeral port', () => {
    expect(broker.port).toBeGreaterThan(0);
    expect((broker.aedes as unknown as { closed: boolean }).closed).toBe(false);
  });

  it('a bad password is refused with CONNACK 4', async () => {
    const err = (await connect(broker.port, 'app', 'wrong').catch((e: unknown) => e)) as { code?: number; message: string };
    expect(err.code).toBe(4);
    expect(err.message).toMatch(/Bad username or password/i);
  });

  it('an unknown user is refused the same way', async () => {
    const err = (await connect(broker.port, 'mallory', 'x').catch((e: unknown) => e)) as { code?: number };
    expect(err.code).toBe(4);
  });

  it('anonymous clients are refused by default with CONNACK 5', async () => {
    const err = (await connect(broker.port, undefined, undefined).catch((e: unknown) => e)) as { code?: number };
    expect(err.code).toBe(5);
    expect(broker.stats().authFailures).toBeGreaterThanOrEqual(3);
  });

  it('good credentials from the config and from the users file are accepted', async () => {
    expect((await as('app')).connected).toBe(true);
    expect((await as('red')).connected).toBe(true);
  });

  it('sets TCP_NODELAY on the server side of every client socket', async () => {
    const c = await as('app', { clientId: 'nodelay-check' });
    expect(c.connected).toBe(true);
    const socket = await waitFor(() => serverSockets.get('nodelay-check'));
    const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay');
    expect(sym).toBeDefined();
    expect((socket as unknown as Record<symbol, unknown>)[sym!]).toBe(true);
  });

  it("turns off mqtt-packet's 6.5 MB number cache in aedes' copy of it", async () => {
    // Clients have connected and been answered above: packets were written without it.
    const fromAedes = createRequire(createRequire(import.meta.url).resolve('aedes'));
    const packet = fromAedes('mqtt-packet') as { writeToStream: { cacheNumbers: boolean } };
    expect(packet.writeToStream.cacheNumbers).toBe(false);
  });
});

describe('device clients', () => {
  it('a device may publish its own uplink: the intake maps it to points', async () => {
    const admin = await as('admin');
    const seen = collect(admin);
    await subscribe(admin, 'shouwang/v1/+/up');
    const d = await as('door7');
    await d.publishAsync('shouwang/v1/door-7/up', JSON.stringify({ status: { door: 1 }, battery: 361 }), { qos: 1 });
    await waitFor(() => values.length > 0);
    expect(values.at(-1)).toMatchObject({ device: 'door-7', values: { door: 'open', battery: 3.61 } });
    await waitFor(() => seen.find((m) => m.topic === 'shouwang/v1/door-7/up'));
    expect(deviceEvents).toContainEqual(expect.objectContaining({ device: 'door-7', connected: true }));
  });

  it.each([
    ['another device’s uplink', 'shouwang/v1/door-8/up'],
    ['an alarm topic', 'shouwang/v1/alarm/01HZZZZZZZZZZZZZZZZZZZZZZZ'],
    ['a state topic', 'shouwang/v1/door-7/state'],
    ['an availability topic', 'shouwang/v1/door-7/availability'],
    ['a command topic', 'shouwang/v1/door-8/set/unlock'],
  ])('a device may not publish to %s: refused, disconnected, never delivered', async (_what, topic) => {
    const admin = await as('admin');
    const seen = collect(admin);
    expect(await subscribe(admin, '#')).toBe(1);
    const valuesBefore = values.length;
    const denied = broker.stats().deniedPublishes;
    const d = await as('door7');
    const gone = closed(d);
    d.publish(topic, JSON.stringify({ status: { door: 1 } }), { qos: 0, retain: true });
    await gone;
    expect(broker.stats().deniedPublishes).toBe(denied + 1);
    await sentinel(seen);
    expect(seen.filter((m) => m.topic === topic)).toEqual([]);
    expect(values.length).toBe(valuesBefore);
    // Nor was it retained for later subscribers.
    const late = await as('admin');
    const lateSeen = collect(late);
    await subscribe(late, topic);
    await subscribe(late, 'shouwang/v1/gateway/status');
    await sentinel(lateSeen);
    expect(lateSeen.filter((m) => m.topic === topic)).toEqual([]);
  });

  it('bad JSON from a device is counted, logged, and does not disturb the broker', async () => {
    const d = await as('door7');
    const before = intake.stats().badJson;
    await d.publishAsync('shouwang/v1/door-7/up', '{not json', { qos: 1 });
    await waitFor(() => intake.stats().badJson > before);
    await d.publishAsync('shouwang/v1/door-7/up', JSON.stringify({ battery: 350 }), { qos: 1 });
    await waitFor(() => values.at(-1)?.values.battery === 3.5);
    expect(d.connected).toBe(true);
  });

  it('a device may subscribe only to its own set/#', async () => {
    const d = await as('door7');
    expect(await subscribe(d, 'shouwang/v1/door-7/set/#')).toBe(1);
    expect(await subscribe(d, 'shouwang/v1/door-8/set/#')).toBe(128);
    expect(await subscribe(d, 'shouwang/v1/+/state')).toBe(128);
  });
});

describe('app clients and commands', () => {
  it('an app cannot subscribe to set/# (granted QoS 128) but can subscribe to state, availability, events and alarms', async () => {
    const a = await as('app');
    expect(await subscribe(a, 'shouwang/v1/+/set/#')).toBe(128);
    expect(await subscribe(a, 'shouwang/v1/lock-1/set/#')).toBe(128);
    expect(await subscribe(a, 'shouwang/v1/+/up')).toBe(128);
    expect(await subscribe(a, 'shouwang/v1/+/state')).toBe(1);
    expect(await subscribe(a, 'shouwang/v1/+/availability')).toBe(1);
    expect(await subscribe(a, 'shouwang/v1/+/event')).toBe(1);
    expect(await subscribe(a, 'shouwang/v1/alarm/+')).toBe(1);
  });

  it('an app subscribed to shouwang/# receives states but never uplinks or commands', async () => {
    const a = await as('app');
    const seen = collect(a);
    expect(await subscribe(a, 'shouwang/#')).toBe(1);
    const op = await as('operator');
    await op.publishAsync('shouwang/v1/lock-1/set/unlock', '{}', { qos: 1 });
    const d = await as('door7');
    await d.publishAsync('shouwang/v1/door-7/up', JSON.stringify({ battery: 300 }), { qos: 1 });
    bus.emit('points', { device: 'lock-1', points: [{ device: 'lock-1', point: 'door', value: 'closed', quality: 'good', ts: 1 }] });
    await waitFor(() => seen.find((m) => m.topic === 'shouwang/v1/lock-1/state'));
    await sentinel(seen);
    expect(seen.filter((m) => m.topic.includes('/set/') || m.topic.endsWith('/up'))).toEqual([]);
  });

  it('an app may not publish on the gateway’s topics', async () => {
    const a = await as('app');
    const gone = closed(a);
    a.publish('shouwang/v1/lock-1/set/unlock', '{}');
    await gone;
    expect(commands.filter((c) => c.username === 'app')).toEqual([]);
  });

  it('a client granted set/unlock sends commands: onCommand gets them, parsed; they are never retained', async () => {
    const op = await as('operator');
    const n = commands.length;
    await op.publishAsync('shouwang/v1/lock-1/set/unlock', JSON.stringify({ seconds: 3 }), { qos: 1, retain: true });
    await op.publishAsync('shouwang/v1/lock-1/set/unlock', 'now', { qos: 1 });
    await waitFor(() => commands.length >= n + 2);
    expect(commands.slice(n)).toEqual([
      expect.objectContaining({ device: 'lock-1', command: 'unlock', payload: { seconds: 3 }, username: 'operator', topic: 'shouwang/v1/lock-1/set/unlock' }),
      expect.objectContaining({ payload: 'now' }),
    ]);
    const late = await as('admin');
    const lateSeen = collect(late);
    await subscribe(late, 'shouwang/v1/lock-1/set/#');
    await subscribe(late, 'shouwang/v1/gateway/status');
    await sentinel(lateSeen);
    expect(lateSeen.filter((m) => m.topic.includes('/set/'))).toEqual([]);
    // Not granted: siren_on
    const gone = closed(op);
    op.publish('shouwang/v1/lock-1/set/siren_on', '{}');
    await gone;
    expect(commands.filter((c) => c.command === 'siren_on')).toEqual([]);
  });

  it('a device gets commands only through the gateway (sendCommand), not straight from clients', async () => {
    const d = await as('door7');
    const seen = collect(d);
    await subscribe(d, 'shouwang/v1/door-7/set/#');
    const admin = await as('admin');
    await admin.publishAsync('shouwang/v1/door-7/set/unlock', '{"from":"client"}', { qos: 1 });
    await waitFor(() => commands.find((c) => c.device === 'door-7'));
    await broker.sendCommand('door-7', 'unlock', { from: 'gateway' });
    await waitFor(() => seen.length > 0);
    await broker.sendCommand('door-7', 'sentinel', null);
    await waitFor(() => seen.find((m) => m.topic.endsWith('/sentinel')));
    expect(seen.filter((m) => m.topic.endsWith('/unlock')).map((m) => JSON.parse(m.payload))).toEqual([{ from: 'gateway' }]);
  });
});

describe('publisher: retained state and availability', () => {
  it('a late subscriber receives the retained full state and availability', async () => {
    snapshots.set('lock-2', [
      { device: 'lock-2', point: 'door', value: 'closed', quality: 'good', ts: 100 },
      { device: 'lock-2', point: 'battery', value: 3.6, unit: 'V', quality: 'good', ts: 90 },
    ]);
    bus.emit('points', { device: 'lock-2', points: [{ device: 'lock-2', point: 'door', value: 'open', quality: 'good', ts: 200 }] });
    bus.emit('status', { device: 'lock-2', availability: 'offline', since: 210, reason: 'timeout', consecutiveFailures: 3 });
    bus.emit('event', {
      id: 'E1',
      site: 'v1',
      device: 'lock-2',
      profile: 'p',
      event: 'pass',
      kind: 'access',
      ts: 5,
      fields: { last_user: 3 },
    });
    // Give the broker a moment to store the retained messages, then subscribe late.
    await new Promise((r) => setTimeout(r, 50));
    const a = await as('app');
    const seen = collect(a);
    await subscribe(a, 'shouwang/v1/lock-2/#');
    await waitFor(() => seen.find((m) => m.topic.endsWith('/availability')) && seen.find((m) => m.topic.endsWith('/state')));
    const state = seen.find((m) => m.topic === 'shouwang/v1/lock-2/state')!;
    expect(state.retain).toBe(true);
    expect(JSON.parse(state.payload)).toEqual({
      device: 'lock-2',
      ts: 200,
      points: {
        battery: { value: 3.6, unit: 'V', quality: 'good', ts: 90 },
        door: { value: 'open', quality: 'good', ts: 200 },
      },
    });
    const avail = seen.find((m) => m.topic === 'shouwang/v1/lock-2/availability')!;
    expect(avail).toMatchObject({ payload: 'offline', retain: true });
    // Events are not retained.
    expect(seen.find((m) => m.topic.endsWith('/event'))).toBeUndefined();
    // Gateway status is retained `online`.
    const s = collect(a);
    await subscribe(a, 'shouwang/v1/gateway/status');
    await waitFor(() => s.find((m) => m.topic.endsWith('gateway/status')));
    expect(s.find((m) => m.topic.endsWith('gateway/status'))).toMatchObject({ payload: 'online', retain: true });
  });
});

describe('TLS listener', () => {
  it('serves MQTT over TLS with a self-signed certificate, with noDelay', async () => {
    const tdir = mkdtempSync(join(tmpdir(), 'sw-tls-'));
    try {
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', join(tdir, 'key.pem'), '-out', join(tdir, 'cert.pem'),
      ], { stdio: 'ignore' });
      const tlsBroker = await MqttBroker.start({
        config: config({ usersFile: undefined, tls: { port: 0, cert: 'cert.pem', key: 'key.pem' } }),
        site: 'v1',
        log: silentLogger(),
        baseDir: tdir,
      });
      const sockets: Socket[] = [];
      tlsBroker.aedes.on('clientReady', (c) => sockets.push(c.conn as Socket));
      try {
        expect(tlsBroker.tlsPort).toBeGreaterThan(0);
        const c = await connect(tlsBroker.tlsPort!, 'app', PW.app, { protocol: 'mqtts', ca: readFileSync(join(tdir, 'cert.pem')), rejectUnauthorized: true });
        const seen = collect(c);
        expect(await subscribe(c, 'shouwang/v1/+/state')).toBe(1);
        await tlsBroker.publish('shouwang/v1/x/state', '{"ok":true}', { qos: 1 });
        await waitFor(() => seen.find((m) => m.topic === 'shouwang/v1/x/state'));
        const sock = sockets[0]!;
        expect(sock.constructor.name).toBe('TLSSocket');
        const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'kSetNoDelay');
        expect((sock as unknown as Record<symbol, unknown>)[sym!]).toBe(true);
        // A client that does not trust the certificate is refused by TLS itself.
        const err = await connect(tlsBroker.tlsPort!, 'app', PW.app, { protocol: 'mqtts', rejectUnauthorized: true }).catch((e: unknown) => e);
        expect(String(err)).toMatch(/self.signed|certificate/i);
        c.end(true);
      } finally {
        await tlsBroker.stop();
      }
    } finally {
      rmSync(tdir, { recursive: true, force: true });
    }
  });
});

describe('configuration errors', () => {
  it('a busy port is a clear error', async () => {
    const err = (await MqttBroker.start({ config: config({ port: broker.port, usersFile: undefined }), site: 'v1', log: silentLogger() }).catch(
      (e: unknown) => e,
    )) as Error;
    expect(err.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${broker.port}: EADDRINUSE`));
  });

  it('a missing TLS certificate file is a clear error naming the field and path', async () => {
    const err = (await MqttBroker.start({
      config: config({ usersFile: undefined, tls: { port: 0, cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' } }),
      site: 'v1',
      log: silentLogger(),
    }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/mqtt\.tls\.cert: cannot read \/nonexistent\/cert\.pem/);
  });
});
