/**
 * 十户联防 end to end: a real Aedes broker (MqttBroker) with a real mqtt.js neighbour client, a
 * real node:http webhook receiver that checks every signature with auth/hmac.ts, a real store,
 * AlarmService, Registry (rooms with linkage groups) and CommandService with the real siren
 * profile; only the RS485 write at the very bottom is recorded instead of sent.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { linkageSchema, type LinkageConfigInput } from '../../gateway/src/access/linkage/config.js';
import type { LinkageMessage } from '../../gateway/src/access/linkage/plan.js';
import { LinkageService } from '../../gateway/src/access/linkage/service.js';
import { PiiCrypto } from '../../gateway/src/access/pii-crypto.js';
import { Registry } from '../../gateway/src/access/registry.js';
import { AlarmService, type RaiseInput } from '../../gateway/src/alarms/alarm-service.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature } from '../../gateway/src/auth/hmac.js';
import { hashPassword } from '../../gateway/src/auth/password.js';
import { CommandService } from '../../gateway/src/commands/command-service.js';
import { mqttSchema } from '../../gateway/src/config/schema.js';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import { isShouwangError } from '../../gateway/src/errors.js';
import { silentLogger } from '../../gateway/src/log.js';
import { loadProfileFile } from '../../gateway/src/profiles/registry.js';
import type { Profile } from '../../gateway/src/profiles/schema.js';
import { MqttBroker } from '../../gateway/src/sinks/mqtt/broker.js';
import { openStore, type Store } from '../../gateway/src/store/store.js';

const SECRET = 'linkage-shared-secret-0123456789';
const FAST = { N: 1024, r: 8, p: 1 };
const siren = loadProfileFile('device-profiles/generic-siren-strobe.yaml');
const lock = loadProfileFile('device-profiles/generic-rs485-fingerprint-lock.yaml');
const profiles: Record<string, Profile> = { 'SIREN-A': siren, 'SIREN-B': siren, 'L-101': lock, 'L-102': lock, 'L-103': lock, 'L-201': lock };

interface Hook {
  body: string;
  headers: IncomingMessage['headers'];
  ok: boolean;
}

let broker: MqttBroker;
let server: Server;
let url: string;
let hooks: Hook[];
let answers: number[];
let store: Store;
let bus: EventBus;
let alarms: AlarmService;
let writes: Array<{ device: string; table: string; address: number; values: number[] }>;
let commands: CommandService;
let service: LinkageService | undefined;
let clients: MqttClient[];

beforeEach(async () => {
  reg = undefined;
  hooks = [];
  answers = [];
  writes = [];
  clients = [];
  broker = await MqttBroker.start({
    config: mqttSchema.parse({
      host: '127.0.0.1',
      port: 0,
      users: [
        // A neighbour's app: granted the linkage topic of the site, nothing more.
        { username: 'neighbour', passwordHash: hashPassword('n-pw', FAST), role: 'app', subscribe: ['shouwang/v1/linkage/#'] },
        { username: 'app', passwordHash: hashPassword('a-pw', FAST), role: 'app' },
      ],
    }),
    site: 'v1',
    log: silentLogger(),
  });
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const h = (n: string) => {
        const v = req.headers[n];
        return Array.isArray(v) ? v[0] : v;
      };
      const check = verifySignature(SECRET, body, { signature: h(SIGNATURE_HEADER), timestamp: h(TIMESTAMP_HEADER) });
      hooks.push({ body, headers: req.headers, ok: check.ok });
      res.writeHead(answers.shift() ?? 200);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/linkage`;
  store = openStore({ memory: true });
  bus = new EventBus((event, err) => {
    throw new Error(`listener for ${event} failed: ${String(err)}`);
  });
  alarms = new AlarmService({ store, bus, site: 'v1', log: silentLogger() });
  commands = new CommandService({
    profileOf: (d) => profiles[d],
    writer: {
      writeRegisters: async (device, table, address, values) => {
        writes.push({ device, table, address, values: [...values] });
      },
      sendFrame: async () => {
        throw new Error('no raw-serial devices here');
      },
    },
    audit: (r) => store.appendAudit(r),
    alarms,
    log: silentLogger(),
  });
});

afterEach(async () => {
  await service?.stop();
  service = undefined;
  commands.stop();
  await Promise.all(clients.map((c) => c.endAsync()));
  await broker.stop();
  await new Promise<void>((r) => server.close(() => r()));
  store.close();
});

let reg: Registry | undefined;
function registry(): Registry {
  if (reg) return reg;
  reg = new Registry({ table: store.registry, crypto: new PiiCrypto(randomBytes(32)) });
  reg.createBuilding({ id: 'B1', site: 'v1', name: '一号楼' });
  reg.createBuilding({ id: 'B2', site: 'v1', name: '二号楼' });
  reg.createRoom({ id: 'R-101', building: 'B1', number: '101', floor: '1', doors: ['L-101'], linkageGroup: 'LG-1' });
  reg.createRoom({ id: 'R-102', building: 'B1', number: '102', floor: '1', doors: ['L-102'], linkageGroup: 'LG-1' });
  reg.createRoom({ id: 'R-103', building: 'B1', number: '103', floor: '1', doors: ['L-103'], linkageGroup: 'LG-1' });
  reg.createRoom({ id: 'R-201', building: 'B2', number: '201', doors: ['L-201'] }); // in no group
  return reg;
}

function startService(config: LinkageConfigInput): LinkageService {
  const rooms = registry();
  service = new LinkageService({
    config: linkageSchema.parse(config),
    site: 'v1',
    topicPrefix: 'shouwang',
    bus,
    directory: { roomOfDevice: (d) => rooms.roomOfDoor(d), roomsInGroup: (g) => rooms.listRooms({ linkageGroup: g }) },
    mqtt: broker,
    commands,
    profileOf: (d) => profiles[d],
    log: silentLogger(),
  });
  service.start();
  return service;
}

async function subscriber(username: string, password: string, filter: string): Promise<{ messages: LinkageMessage[]; topics: string[]; qos: number[]; retain: boolean[]; granted: number }> {
  const c = await mqtt.connectAsync({ host: '127.0.0.1', port: broker.port, username, password, reconnectPeriod: 0, clientId: `t-${username}-${Math.random().toString(16).slice(2, 8)}` });
  clients.push(c);
  const messages: LinkageMessage[] = [];
  const topics: string[] = [];
  const qos: number[] = [];
  const retain: boolean[] = [];
  c.on('message', (topic, payload, packet) => {
    qos.push(packet.qos);
    retain.push(packet.retain);
    topics.push(topic);
    messages.push(JSON.parse(payload.toString()) as LinkageMessage);
  });
  const granted = await c.subscribeAsync(filter, { qos: 1 });
  return { messages, topics, qos, retain, granted: granted[0]!.qos };
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const forced: RaiseInput = { device: 'L-101', profile: lock.id, rule: 'door_forced', name: { zh: '强行开门', en: 'Door forced' }, code: { cid: 423, sia: 'DF' }, severity: 'critical', restore: true, restoreSia: 'DR' };
const burglary: RaiseInput = { ...forced, rule: 'burglary', severity: 'emergency', code: { cid: 130, sia: 'BA' }, name: { zh: '入侵', en: 'Burglary' } };

describe('十户联防 linkage', () => {
  it('an alarm at one household reaches the others over MQTT (QoS 1) and a signed webhook; sirens fire for emergencies and stop when it is reset', async () => {
    startService({ groups: [{ id: 'LG-1', webhook: { url, secret: SECRET }, sirens: { devices: ['SIREN-A', 'SIREN-B'], severities: ['emergency'], offAfterS: 0 } }] });
    const neighbour = await subscriber('neighbour', 'n-pw', 'shouwang/v1/linkage/#');
    expect(neighbour.granted).toBe(1);

    const a = alarms.raise(burglary);
    await until('the MQTT message and the webhook', () => neighbour.messages.length === 1 && hooks.length === 1);
    await service!.idle();
    const msg = neighbour.messages[0]!;
    expect(neighbour.topics).toEqual(['shouwang/v1/linkage/LG-1']);
    expect(neighbour.qos).toEqual([1]);
    expect(neighbour.retain).toEqual([false]);
    expect(msg).toEqual({
      type: 'linkage',
      phase: 'alarm',
      site: 'v1',
      group: 'LG-1',
      at: msg.at,
      alarm: { id: a.id, rule: 'burglary', name: { zh: '入侵', en: 'Burglary' }, severity: 'emergency', raisedAt: a.raisedAt, code: { cid: 130, sia: 'BA' } },
      from: { room: 'R-101', building: 'B1', number: '101', floor: '1' },
      notify: [
        { room: 'R-102', building: 'B1', number: '102', floor: '1' },
        { room: 'R-103', building: 'B1', number: '103', floor: '1' },
      ],
      sirens: ['SIREN-A', 'SIREN-B'],
    });
    // The webhook carries the same message, signed, with an idempotency key.
    expect(hooks[0]!.ok).toBe(true);
    expect(JSON.parse(hooks[0]!.body)).toEqual(msg);
    expect(hooks[0]!.headers['idempotency-key']).toBe(`linkage:${a.id}:LG-1:alarm`);
    // Sirens and strobes: siren coil 0, strobe coil 1, value 1, through the command service.
    expect(writes).toEqual([
      { device: 'SIREN-A', table: 'coil', address: 0, values: [1] },
      { device: 'SIREN-A', table: 'coil', address: 1, values: [1] },
      { device: 'SIREN-B', table: 'coil', address: 0, values: [1] },
      { device: 'SIREN-B', table: 'coil', address: 1, values: [1] },
    ]);
    const audit = store.listAudit({ limit: 10 }).reverse();
    expect(audit.map((r) => [r.actor, r.role, r.via, r.action, r.target, r.result])).toEqual([
      ['system:linkage', 'admin', 'system', 'command:siren_on', 'SIREN-A', 'ok'],
      ['system:linkage', 'admin', 'system', 'command:strobe_on', 'SIREN-A', 'ok'],
      ['system:linkage', 'admin', 'system', 'command:siren_on', 'SIREN-B', 'ok'],
      ['system:linkage', 'admin', 'system', 'command:strobe_on', 'SIREN-B', 'ok'],
    ]);
    expect(audit[0]!.detail.reason).toBe(`十户联防 LG-1: alarm ${a.id} (burglary) at room R-101`);

    // The lifecycle messages of the same alarm do not announce it again.
    alarms.transition(a.id, 'sent', { by: 'outbox' });
    alarms.transition(a.id, 'delivered', { by: 'outbox' });
    await service!.idle();
    expect(neighbour.messages).toHaveLength(1);

    // A person resets it: the group hears `reset` and the sirens go off.
    writes.length = 0;
    alarms.reset(a.id, { by: 'manager-li' });
    await until('the reset message', () => neighbour.messages.length === 2 && hooks.length === 2);
    await service!.idle();
    expect(neighbour.messages[1]).toMatchObject({ phase: 'reset', alarm: { id: a.id }, sirens: ['SIREN-A', 'SIREN-B'] });
    expect(hooks[1]!.headers['idempotency-key']).toBe(`linkage:${a.id}:LG-1:reset`);
    expect(writes).toEqual([
      { device: 'SIREN-A', table: 'coil', address: 0, values: [0] },
      { device: 'SIREN-A', table: 'coil', address: 1, values: [0] },
      { device: 'SIREN-B', table: 'coil', address: 0, values: [0] },
      { device: 'SIREN-B', table: 'coil', address: 1, values: [0] },
    ]);
    expect(service!.stats()).toEqual({ linked: 1, published: 2, webhooks: { ok: 2, failed: 0 }, commands: { ok: 8, failed: 0 } });
  });

  it('policy: a critical alarm notifies without sirens; warnings, silent duress and households outside a group do nothing', async () => {
    startService({ groups: [{ id: 'LG-1', webhook: { url, secret: SECRET }, sirens: { devices: ['SIREN-A'] } }] });
    const neighbour = await subscriber('neighbour', 'n-pw', 'shouwang/v1/linkage/#');
    alarms.raise({ ...forced, device: 'L-102', rule: 'low_battery', severity: 'warning', code: { cid: 302, sia: 'YT' } });
    alarms.raise({ ...forced, device: 'L-103', rule: 'duress', severity: 'emergency', silent: true, latch: true, code: { cid: 121, sia: 'HA' } });
    alarms.raise({ ...burglary, device: 'L-201' });
    alarms.raise({ ...burglary, device: 'SIREN-A', rule: 'fault', severity: 'warning' });
    const a = alarms.raise(forced);
    await until('one message', () => neighbour.messages.length >= 1 && hooks.length >= 1);
    await service!.idle();
    await new Promise((r) => setTimeout(r, 200));
    expect(neighbour.messages.map((m) => [m.alarm.id, m.sirens])).toEqual([[a.id, []]]);
    expect(hooks).toHaveLength(1);
    expect(writes).toEqual([]);
    // The door closes: the non-latched alarm ends (reset) and the group hears it is over.
    alarms.clear({ device: 'L-101', rule: 'door_forced' });
    await until('the reset message', () => neighbour.messages.length === 2);
    expect(neighbour.messages[1]).toMatchObject({ phase: 'reset', alarm: { id: a.id }, sirens: [] });
  });

  it('only clients granted the linkage topic hear it; defaults cover groups the config does not list', async () => {
    startService({ defaults: { webhook: { url, secret: SECRET } } });
    // `linkage` is a reserved word of the topic tree: an app without a grant may not even subscribe.
    await expect(subscriber('app', 'a-pw', 'shouwang/v1/linkage/#')).rejects.toThrow(/Subscribe error/);
    const neighbour = await subscriber('neighbour', 'n-pw', 'shouwang/v1/linkage/#');
    alarms.raise(burglary);
    await until('the message and the webhook', () => neighbour.messages.length === 1 && hooks.length === 1);
    await service!.idle();
    expect(JSON.parse(hooks[0]!.body)).toMatchObject({ group: 'LG-1', sirens: [] });
  });

  it('a group with mqtt off uses only its webhook', async () => {
    startService({ groups: [{ id: 'LG-1', mqtt: false, webhook: { url, secret: SECRET } }] });
    const neighbour = await subscriber('neighbour', 'n-pw', 'shouwang/v1/linkage/#');
    alarms.raise(burglary);
    await until('the webhook', () => hooks.length === 1);
    await service!.idle();
    await new Promise((r) => setTimeout(r, 200));
    expect(neighbour.messages).toEqual([]);
  });

  it('the webhook retries a 503 with a fresh signature, and gives up on a 400 at once', async () => {
    startService({ groups: [{ id: 'LG-1', mqtt: false, webhook: { url, secret: SECRET, retryMs: 20, retries: 3 } }] });
    answers = [503, 503, 200];
    alarms.raise(burglary);
    await until('three tries', () => hooks.length === 3);
    await service!.idle();
    expect(hooks.map((h) => h.ok)).toEqual([true, true, true]);
    expect(service!.stats().webhooks).toEqual({ ok: 1, failed: 0 });
    answers = [400];
    alarms.raise({ ...burglary, device: 'L-102' });
    await until('one more try', () => hooks.length === 4);
    await service!.idle();
    expect(hooks).toHaveLength(4);
    expect(service!.stats().webhooks).toEqual({ ok: 1, failed: 1 });
  });

  it('after offAfterS the sirens are switched off by themselves', async () => {
    startService({ groups: [{ id: 'LG-1', mqtt: false, sirens: { devices: ['SIREN-A'], commands: ['siren_on'], offCommands: ['siren_off'], offAfterS: 1 } }] });
    alarms.raise(burglary);
    await until('siren on', () => writes.length === 1);
    await until('siren off', () => writes.length === 2, 3000);
    expect(writes).toEqual([
      { device: 'SIREN-A', table: 'coil', address: 0, values: [1] },
      { device: 'SIREN-A', table: 'coil', address: 0, values: [0] },
    ]);
  });

  it('refuses a siren the gateway does not have, or a command its profile lacks, naming the config entry', () => {
    const start = (config: LinkageConfigInput) => () => startService(config);
    expect(start({ groups: [{ id: 'LG-1', sirens: { devices: ['SIREN-X'] } }] })).toThrowError(/access\.linkage\.groups\[0\]\.sirens\.devices\[0\]: no device "SIREN-X"/);
    try {
      start({ groups: [{ id: 'LG-1', sirens: { devices: ['L-101'] } }] })();
      expect.unreachable();
    } catch (err) {
      expect(isShouwangError(err, 'SW_ERR_CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/device "L-101" \(generic-rs485-fingerprint-lock\) has no command "siren_on"/);
    }
    const dup = linkageSchema.safeParse({ groups: [{ id: 'LG-1' }, { id: 'LG-1' }] });
    expect(dup.error!.issues[0]).toMatchObject({ path: ['groups', 1, 'id'], message: 'linkage group LG-1 is listed twice' });
    const short = linkageSchema.safeParse({ groups: [{ id: 'LG-1', webhook: { url, secret: 'short' } }] });
    expect(short.error!.issues[0]).toMatchObject({ path: ['groups', 0, 'webhook', 'secret'] });
  });
});
