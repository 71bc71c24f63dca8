/**
 * The access domain on the real gateway against the simulated village (test/fixtures/villages/
 * small.yaml: locks on a 9600-baud RS485 pty line): a tenant's pass, a stranger and a duress
 * pass become resolved access records; a remote unlock through the API goes down the audited
 * command path, really opens the simulated lock, and comes back as a `remote` pass; and no ID
 * number appears on MQTT, in the API answers or in the access module's log.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessModule } from '../../gateway/src/access/access-module.js';
import { registerAccessRoutes } from '../../gateway/src/access/access-routes.js';
import type { AccessRecord } from '../../gateway/src/access/types.js';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import { WebAuth } from '../../gateway/src/web/auth.js';
import { createWebServer, type WebServer } from '../../gateway/src/web/server.js';
import { SessionClient } from '../e2e/station-kit.js';
import { record, type Recorder } from '../helpers/mqtt.js';
import { stopAll, waitFor } from '../helpers/processes.js';
import { startGateway, startVillage, TEST_USERS, type RunningGateway, type RunningVillage } from '../helpers/village.js';
import { DAY, ID_NUMBERS } from '../unit/access-fixtures.js';

const SITE = 'testvillage';
let village: RunningVillage;
let gw: RunningGateway;
let access: AccessModule;
let server: WebServer;
let mqtt: Recorder;
const records: AccessRecord[] = [];
const logLines: string[] = [];
const answers: string[] = [];
const users: Record<'manager' | 'police' | 'tech', SessionClient> = {} as never;

beforeAll(async () => {
  village = await startVillage({ village: 'test/fixtures/villages/small.yaml', behaviour: false });
  gw = await startGateway(village, { busTimeoutMs: 150, // Alarm sweeps every 250 ms instead of back to back: this test is about passes, and an
  // unsaturated bus keeps the locks' fast points fresh even on a busy machine.
  polling: { intervals: { alarm: 250, fast: 400, normal: 2000, slow: 5000 } } });
  const log = pino({ level: 'trace' }, { write: (l: string) => void logLines.push(l) });
  const profiles = ProfileRegistry.load(gw.config.profiles.dirs);
  const profileOf = (id: string) => {
    const d = gw.config.devices.find((x) => x.id === id);
    return d ? profiles.get(d.profile) : undefined;
  };
  const store = gw.gateway.store;
  access = new AccessModule({ store, dataDir: gw.storageDir, log: log.child({ module: 'access' }), commands: gw.gateway.commands, profileOf });
  access.start(gw.gateway.bus);
  gw.gateway.bus.on('access', (r) => void records.push(r));

  server = createWebServer({ log });
  const auth = new WebAuth({ db: store.database, log, hashParams: { N: 1024, r: 8, p: 1 } });
  await auth.register(server.app);
  await registerAccessRoutes(server.app, access.routeDeps(auth));
  const url = await server.listen();
  for (const [name, role] of [['manager', 'manager'], ['police', 'police'], ['tech', 'technician']] as const) {
    auth.createUser({ username: name, password: `${name}-password`, role });
    users[name] = new (class extends SessionClient {
      override async req(method: string, path: string, body?: unknown, headers?: Record<string, string>) {
        const r = await super.req(method, path, body, headers);
        answers.push(r.text);
        return r;
      }
    })(url);
    expect((await users[name].login(name, `${name}-password`)).status).toBe(200);
  }
  mqtt = await record(gw.mqttUrl, [`shouwang/${SITE}/#`], { username: TEST_USERS.admin.username, password: TEST_USERS.admin.password });

  // The registry: building A, rooms 101-103 with their locks; two tenants with ID numbers.
  const now = Date.now();
  const m = users.manager;
  const created = await m.req('POST', '/api/registry/import', {
    buildings: [{ id: 'A', site: SITE, name: 'A栋' }],
    rooms: ['101', '102', '103'].map((n) => ({ id: `R-${n}`, building: 'A', number: n, floor: '1', doors: [`lock-${n}`] })),
    tenants: [
      { id: 'T-1', name: '陈大文', idNumber: ID_NUMBERS[0] },
      { id: 'T-2', name: '林小红', idNumber: ID_NUMBERS[1] },
    ],
    credentials: [
      { id: 'C-1', tenant: 'T-1', room: 'R-102', kind: 'lock_slot', door: 'lock-102', slot: 7, validFrom: now - DAY, validTo: now + 180 * DAY },
      { id: 'C-2', tenant: 'T-2', room: 'R-103', kind: 'lock_slot', door: 'lock-103', slot: 2, validFrom: now - DAY, validTo: now + 180 * DAY },
      { id: 'C-2D', tenant: 'T-2', room: 'R-103', kind: 'lock_slot', door: 'lock-103', slot: 9, duress: true, validFrom: now - DAY, validTo: now + 180 * DAY },
    ],
  });
  expect(created.status).toBe(201);
  // Every lock polled at least once (a pass is a change of event_seq: it needs a first value).
  for (const lock of ['lock-101', 'lock-102', 'lock-103']) {
    await waitFor(() => mqtt.messages.some((x) => x.topic === `shouwang/${SITE}/${lock}/state` && x.payload.includes('event_seq')) || undefined, 15_000, `${lock} state`);
  }
}, 60_000);

afterAll(async () => {
  access?.stop();
  await server?.close();
  await mqtt?.close();
  await gw?.stop();
  await village?.stop();
  await stopAll();
});

const recordFor = (door: string, pred: (r: AccessRecord) => boolean, what: string) =>
  waitFor(() => records.find((r) => r.door === door && pred(r)), 15_000, what).catch((err: unknown) => {
    const events = mqtt.messages.filter((x) => x.topic.endsWith('/event')).map((x) => x.payload.slice(0, 160));
    const states = mqtt.messages.filter((x) => x.topic.endsWith(`${door}/state`)).map((x) => x.payload.slice(0, 1500));
    throw new Error(`${String(err)}; records: ${JSON.stringify(records)}; MQTT events: ${events.join(' | ')}; states: ${states.slice(-3).join(' | ')}`);
  });

describe('passes from the simulated locks', () => {
  it('a tenant, a stranger and a duress finger become resolved, stored access records', async () => {
    await village.control.pass('lock-102', { user: 7, method: 'fingerprint' });
    const tenant = await recordFor('lock-102', (r) => r.slot === 7, 'tenant pass');
    expect(tenant).toMatchObject({ site: SITE, method: 'fingerprint', result: 'granted', resolution: 'registered', credential: 'C-1', tenant: 'T-1', room: 'R-102', building: 'A', duress: false });

    await village.control.stranger('lock-101', { attempts: 1 });
    const stranger = await recordFor('lock-101', (r) => r.result === 'denied', 'stranger');
    expect(stranger).toMatchObject({ resolution: 'unregistered', room: 'R-101', building: 'A' });
    expect(stranger.tenant).toBeUndefined();

    await village.control.pass('lock-103', { user: 9, method: 'fingerprint', result: 'duress' });
    const duress = await recordFor('lock-103', (r) => r.slot === 9, 'duress pass');
    expect(duress).toMatchObject({ result: 'granted', duress: true, tenant: 'T-2', credential: 'C-2D' });

    const found = await users.police.req('GET', '/api/access-log?building=A&limit=50');
    expect(found.json.records.map((r: AccessRecord) => r.id)).toEqual(expect.arrayContaining([tenant.id, stranger.id, duress.id]));
  });
});

describe('remote unlock through the API', () => {
  it('is audited with who, when, which door and why, opens the lock, and comes back as a remote pass', async () => {
    const before = Date.now();
    const r = await users.manager.req('POST', '/api/doors/lock-101/unlock', { reason: '租客忘带钥匙，电话核实身份' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, device: 'lock-101', command: 'unlock' });
    const audit = gw.gateway.store.listAudit({ target: 'lock-101' }).find((a) => a.action === 'command:unlock' && a.result === 'ok');
    expect(audit).toMatchObject({ actor: 'manager', role: 'manager', via: 'api', target: 'lock-101', detail: { command: 'unlock', reason: '租客忘带钥匙，电话核实身份' } });
    expect(audit!.ts).toBeGreaterThanOrEqual(before);
    const pass = await recordFor('lock-101', (x) => x.method === 'remote', 'remote pass');
    expect(pass).toMatchObject({ result: 'granted', resolution: 'no_credential', room: 'R-101' });
    expect((await village.control.getPoints('lock-101')).last_method).toBe('remote');
  });

  it('the profile decides beyond the route: police may call the route, the lock profile allows manager and admin only', async () => {
    const r = await users.police.req('POST', '/api/doors/lock-102/unlock', { reason: '警情核查' });
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('SW_ERR_COMMAND_FORBIDDEN');
    const denied = gw.gateway.store.listAudit({ target: 'lock-102' }).find((a) => a.action === 'command:unlock');
    expect(denied).toMatchObject({ actor: 'police', role: 'police', result: 'denied', detail: { reason: '警情核查' } });
    expect((await users.tech.req('POST', '/api/doors/lock-102/unlock', { reason: 'x' })).status).toBe(403);
    expect((await users.manager.req('POST', '/api/doors/board-1/unlock', { reason: 'parcel' })).status).toBe(409);
  });
});

describe('privacy', () => {
  it('no ID number or name in clear on MQTT, in API answers, or in the access log lines', () => {
    expect(mqtt.messages.length).toBeGreaterThan(20);
    expect(answers.length).toBeGreaterThan(5);
    for (const secret of [...ID_NUMBERS, '陈大文', '林小红']) {
      expect(mqtt.messages.filter((x) => x.payload.includes(secret)).map((x) => x.topic), secret).toEqual([]);
      expect(answers.filter((a) => a.includes(secret)), secret).toEqual([]);
      expect(logLines.filter((l) => l.includes(secret)), secret).toEqual([]);
    }
  });
});
