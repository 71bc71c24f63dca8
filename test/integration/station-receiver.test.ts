/**
 * The police receiver with real parts: DC-09 frames written out by hand from the spec over real
 * TCP/UDP sockets, the HTTP intake with real signed requests, an MQTT intake against a real
 * Aedes broker with a real mqtt.js publisher, the acknowledgement callback POSTed to a real
 * local HTTP server (failing first, so the retry is exercised), the board's SQLite file across
 * a restart, login/roles/rate limit over HTTP, and the `shouwang receive --demo` process.
 */
import { statSync, readFileSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { webhookForwarder } from '../../gateway/src/alarms/forwarders/webhook.js';
import type { OutboundMessage } from '../../gateway/src/alarms/forwarders/types.js';
import { operatorAckSchema } from '../../gateway/src/alarms/operator-ack.js';
import { signatureHeaders } from '../../gateway/src/auth/hmac.js';
import { isShouwangError } from '../../gateway/src/errors.js';
import { silentLogger } from '../../gateway/src/log.js';
import { startReceiver, type RunningReceiver } from '../../gateway/src/station/receiver-app.js';
import { loadReceiverConfig, parseReceiverConfig, type ReceiverConfigInput } from '../../gateway/src/station/receiver-config.js';
import { jsonLine, sleep, startTsProcess, stopAll, waitFor } from '../helpers/processes.js';
import { alarmJson, cidBody, dc09Time, handFrame, SessionClient, sendTcp, sendUdp, startCallbackServer, tempDir, type CallbackServer } from '../e2e/station-kit.js';

const ACK_SECRET = 'ack-secret-0123456789abcdef';
const INTAKE_SECRET = 'intake-secret-0123456789abcdef';
const OFFICER = { username: '李警官', password: 'duty-pass-2024' };

function config(dataDir: string, callbackUrl: string, extra: Partial<ReceiverConfigInput> = {}): ReceiverConfigInput {
  return {
    dataDir,
    http: { host: '127.0.0.1', port: 0 },
    dc09: {
      host: '127.0.0.1',
      tcpPort: 0,
      udpPort: 0,
      accounts: [
        {
          account: '1234',
          name: '新安村',
          zones: {
            '3': { device: 'pole-3', building: '祠堂', room: '报警柱 3' },
            '15': { device: 'pole-15', building: '7栋', room: '302', address: '新安村七巷 7 号', camera: 'http://cam.local/7.jpg' },
          },
          ackCallback: { url: callbackUrl, secret: ACK_SECRET },
        },
        { account: 'ABC', name: '线路测试', supervisionMs: 400 },
      ],
    },
    httpIntake: { secret: INTAKE_SECRET },
    ackRetry: { initialMs: 150, maxMs: 600, giveUpAfterMs: 60_000, timeoutMs: 2000 },
    ...extra,
  };
}

async function start(cfg: ReceiverConfigInput): Promise<RunningReceiver> {
  return startReceiver({ config: parseReceiverConfig(cfg), log: silentLogger() });
}

function signedPost(base: string, body: string, secret = INTAKE_SECRET, now = Date.now(), contentType = 'application/json') {
  return fetch(`${base}/api/intake/alarm`, { method: 'POST', headers: { 'content-type': contentType, ...signatureHeaders(secret, body, now) }, body });
}

describe('police receiver', () => {
  let dir: string;
  let cb: CallbackServer;
  let rx: RunningReceiver;
  let officer: SessionClient;

  beforeAll(async () => {
    dir = tempDir('sw-station');
    cb = await startCallbackServer(ACK_SECRET);
    rx = await start(config(dir, cb.url));
    rx.auth.createUser({ ...OFFICER, role: 'police' });
    officer = new SessionClient(rx.url);
    expect((await officer.login(OFFICER.username, OFFICER.password)).status).toBe(200);
  });
  afterAll(async () => {
    await rx?.stop();
    await cb?.close();
  });

  describe('DC-09 intake', () => {
    it('takes the public test vector over TCP, answers the documented ACK, and puts it on the board', async () => {
      const before = rx.board.count();
      const answer = await sendTcp(rx.dc09.tcpPort, '\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r');
      expect(answer).toBe('\n61DB0016"ACK"0001RF3L77#1234[]\r');
      expect(rx.board.count()).toBe(before + 1);
      const r = await officer.req('GET', '/api/alarms');
      const a = r.json.alarms.find((x: { seq?: number; code: { sia?: string } }) => x.seq === 1 && x.code.sia === 'RR');
      expect(a).toMatchObject({ account: '1234', protocol: 'SIA-DCS', intakes: ['dc09'], kind: 'alarm', severity: 'info', state: 'new', detail: '#1234|NRR|Atest' });
      expect(a.name.zh).toBe('系统上电/复位');
      expect(a.accountName).toBe('新安村');
    });

    it('resolves a Contact ID panic over UDP to the zone table, with [X][Y] position and [V] snapshot', async () => {
      const at = new Date(Date.now() - 3000);
      const frame = handFrame(cidBody({ account: '1234', seq: 20, event: 120, zone: 15, ext: '[XE113.88452][YN22.55431][Vhttp://cam.local/snap/20.jpg]', at }));
      const answer = await sendUdp(rx.dc09.udpPort, frame);
      expect(answer).toMatch(/"ACK"0020L0#1234\[\]/);
      const a = rx.board.list().find((x) => x.seq === 20)!;
      expect(a).toMatchObject({
        code: { cid: 120 },
        zone: 15,
        group: 1,
        kind: 'alarm',
        severity: 'alarm',
        name: { zh: '紧急求助', en: 'Panic (emergency help)' },
        location: { device: 'pole-15', building: '7栋', room: '302', address: '新安村七巷 7 号', lat: 22.55431, lon: 113.88452 },
        locationSource: 'zone+dc09',
        cameraUrl: 'http://cam.local/snap/20.jpg',
      });
      // Time since press counts from the transmitter's clock (DC-09 timestamps have whole seconds).
      expect(a.pressedAt).toBe(Math.floor(at.getTime() / 1000) * 1000);
    });

    it('answers a stale timestamp with NAK and stores nothing', async () => {
      const before = rx.board.count();
      const frame = handFrame(cidBody({ account: '1234', seq: 21, event: 120, zone: 3, at: new Date(Date.now() - 120_000) }));
      expect(await sendTcp(rx.dc09.tcpPort, frame)).toMatch(/"NAK"0000R0L0A0\[\]_/);
      expect(rx.board.count()).toBe(before);
    });

    it('reports a silent line as lost on the board and in /api/station, and restored by a NULL message', async () => {
      const lost = await waitFor(() => rx.board.lineStates().find((l) => l.account === 'ABC' && l.event === 'lost'), 3000, 'line ABC lost');
      expect(lost.account).toBe('ABC');
      const st = await officer.req('GET', '/api/station');
      expect(st.json.lines).toContainEqual(expect.objectContaining({ account: 'ABC', event: 'lost' }));
      const answer = await sendTcp(rx.dc09.tcpPort, handFrame(`"NULL"0005L0#ABC[]${dc09Time(new Date())}`));
      expect(answer).toMatch(/"ACK"0005L0#ABC\[\]/);
      await waitFor(() => rx.board.lineStates().find((l) => l.account === 'ABC' && l.event === 'restored'), 2000, 'line ABC restored');
    });
  });

  describe('HTTP intake', () => {
    it('stores a correctly signed alarm with the location it carries, and takes a resend as a duplicate', async () => {
      const msg = alarmJson({ seq: 30 });
      const res = await signedPost(rx.url, JSON.stringify(msg));
      expect(res.status).toBe(200);
      const body = (await res.json()) as { ok: boolean; id: number; duplicate: boolean };
      expect(body).toMatchObject({ ok: true, duplicate: false });
      const a = rx.board.get(body.id)!;
      expect(a).toMatchObject({
        alarmId: msg.alarmId,
        account: '1234',
        seq: 30,
        site: 'xinan',
        intakes: ['http'],
        name: { zh: '一键报警柱求助' },
        location: { device: 'pole-2', building: '市场', room: '报警柱 2', lat: 22.5545, lon: 113.8842 },
        locationSource: 'json',
        pressedAt: msg.raisedAt,
        severity: 'alarm',
      });
      const count = rx.board.count();
      const again = await signedPost(rx.url, JSON.stringify({ ...msg, attempt: 2 }));
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ ok: true, id: body.id, duplicate: true });
      expect(rx.board.count()).toBe(count);
      expect(rx.board.get(body.id)!.copies).toBe(2);
    });

    it('answers the webhook heartbeat and shows the last one per site', async () => {
      const before = rx.board.count();
      const res = await signedPost(rx.url, JSON.stringify({ type: 'heartbeat', site: 'xinan', at: 1_700_000_000_000 }));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, heartbeat: true });
      expect(rx.board.count()).toBe(before);
      const st = await officer.req('GET', '/api/station');
      expect(st.json.status.webhookHeartbeats.xinan.at).toBe(1_700_000_000_000);
    });

    it("takes alarms from the gateway's own webhook forwarder (delivered, and a retry is a duplicate)", async () => {
      const fwd = webhookForwarder.create(
        webhookForwarder.schema.parse({ id: 'police', type: 'webhook', url: `${rx.url}/api/intake/alarm`, secret: INTAKE_SECRET }),
        { log: silentLogger(), now: Date.now, site: 'xinan', onHealth: () => undefined, onOperatorAck: () => undefined },
      );
      await fwd.start();
      const raisedAt = Date.now() - 800;
      const message: OutboundMessage = {
        outboxId: 1,
        route: 'police',
        account: '1234',
        seq: 88,
        zone: 15,
        group: 1,
        attempt: 1,
        queuedAt: raisedAt + 5,
        cameraUrl: 'http://cam.local/gate.jpg',
        alarm: {
          id: '01JWEBHOOKFORWARDERTEST0001',
          site: 'xinan',
          device: 'gate-A',
          profile: 'generic-access-controller',
          rule: 'door_forced',
          name: { zh: '楼栋门被强行打开', en: 'Building door forced' },
          code: { cid: 423, sia: 'DF' },
          severity: 'critical',
          kind: 'alarm',
          latch: false,
          silent: false,
          state: 'queued',
          raisedAt,
          updatedAt: raisedAt,
          location: { building: 'A', floor: '1', room: 'entrance', lat: 22.5541, lon: 113.8832 },
          fields: { door: 'open', bolt: 'locked' },
        },
      };
      try {
        expect(await fwd.send(message, new AbortController().signal)).toMatchObject({ outcome: 'delivered' });
        const a = rx.board.getByAlarmId('01JWEBHOOKFORWARDERTEST0001')!;
        expect(a).toMatchObject({
          account: '1234',
          seq: 88,
          code: { cid: 423, sia: 'DF' },
          name: { zh: '楼栋门被强行打开' },
          severity: 'alarm',
          location: { device: 'gate-A', building: 'A', floor: '1', room: 'entrance', lat: 22.5541, lon: 113.8832 },
          cameraUrl: 'http://cam.local/gate.jpg',
          pressedAt: raisedAt,
        });
        const count = rx.board.count();
        expect(await fwd.send({ ...message, attempt: 2 }, new AbortController().signal)).toMatchObject({ outcome: 'delivered' });
        expect(rx.board.count()).toBe(count);
        expect(rx.board.get(a.id)!.copies).toBe(2);
      } finally {
        await fwd.stop();
      }
    });

    it('refuses a wrong, stale or missing signature with 401 before reading the body', async () => {
      const before = rx.board.count();
      const body = JSON.stringify(alarmJson({ seq: 31 }));
      for (const res of [
        await signedPost(rx.url, body, 'another-secret-0123456789'),
        await signedPost(rx.url, body, INTAKE_SECRET, Date.now() - 10 * 60_000),
        await fetch(`${rx.url}/api/intake/alarm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
      ]) {
        expect(res.status).toBe(401);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('SW_ERR_SIGNATURE_INVALID');
      }
      expect(rx.board.count()).toBe(before);
    });

    it('answers malformed bodies with 4xx naming the fields', async () => {
      const before = rx.board.count();
      const notJson = await signedPost(rx.url, '{"type":"alarm",');
      expect(notJson.status).toBe(400);
      expect(((await notJson.json()) as { error: { code: string } }).error.code).toBe('SW_ERR_BAD_REQUEST');

      const bad = alarmJson({ seq: 0, account: 'xyz!', name: { zh: '', en: 'x' }, raisedAt: 'yesterday' });
      delete bad.device;
      const res = await signedPost(rx.url, JSON.stringify(bad));
      expect(res.status).toBe(400);
      const err = ((await res.json()) as { error: { code: string; issues: Array<{ path: string }>; message: string } }).error;
      expect(err.code).toBe('SW_ERR_PAYLOAD_INVALID');
      expect(err.issues.map((i) => i.path).sort()).toEqual(['account', 'device', 'name.zh', 'raisedAt', 'seq']);
      expect(err.message).toContain('seq');

      const noCode = await signedPost(rx.url, JSON.stringify(alarmJson({ code: {} })));
      expect(noCode.status).toBe(400);

      const text = await signedPost(rx.url, JSON.stringify(alarmJson()), INTAKE_SECRET, Date.now(), 'text/plain');
      expect(text.status).toBe(415);
      expect(((await text.json()) as { error: { code: string } }).error.code).toBe('SW_ERR_UNSUPPORTED_MEDIA_TYPE');

      const huge = await signedPost(rx.url, JSON.stringify(alarmJson({ fields: { blob: 'x'.repeat(70_000) } })));
      expect(huge.status).toBe(413);
      expect(rx.board.count()).toBe(before);
    });
  });

  describe('dedupe across intakes', () => {
    it('merges a DC-09 copy into the JSON alarm with the same account, seq and code', async () => {
      const msg = alarmJson({ seq: 42, zone: 3, code: { cid: 120, sia: 'PA' } });
      const res = await signedPost(rx.url, JSON.stringify(msg));
      const { id } = (await res.json()) as { id: number };
      const count = rx.board.count();
      await sendTcp(rx.dc09.tcpPort, handFrame(cidBody({ account: '1234', seq: 42, event: 120, zone: 3, at: new Date() })));
      expect(rx.board.count()).toBe(count);
      const a = rx.board.get(id)!;
      expect(a.intakes.sort()).toEqual(['dc09', 'http']);
      expect(a.copies).toBe(2);
      expect(a.alarmId).toBe(msg.alarmId);
      expect(a.transmitterAt).toBeDefined();
    });

    it('fills in the alarm id when the JSON copy comes after the DC-09 one', async () => {
      await sendTcp(rx.dc09.tcpPort, handFrame(cidBody({ account: '1234', seq: 43, event: 137, zone: 3, at: new Date() })));
      const dc = rx.board.list().find((x) => x.seq === 43)!;
      expect(dc.alarmId).toBeUndefined();
      expect(dc.location).toMatchObject({ building: '祠堂', room: '报警柱 3' });
      const msg = alarmJson({ seq: 43, zone: 3, code: { cid: 137, sia: 'TA' }, name: { zh: '报警柱防拆', en: 'Pole tamper' } });
      const res = await signedPost(rx.url, JSON.stringify(msg));
      expect(await res.json()).toMatchObject({ id: dc.id, duplicate: true });
      expect(rx.board.get(dc.id)).toMatchObject({ alarmId: msg.alarmId, name: { zh: '报警柱防拆' }, copies: 2 });
    });

    it('keeps different events of one sequence number apart', async () => {
      const count = rx.board.count();
      await sendTcp(rx.dc09.tcpPort, handFrame(`"SIA-DCS"0044L0#1234[#1234|Nri1/BA501/BA502]${dc09Time(new Date())}`));
      expect(rx.board.count()).toBe(count + 2);
      const rows = rx.board.list().filter((x) => x.seq === 44);
      expect(rows.map((r) => r.zone).sort()).toEqual([501, 502]);
      expect(rows[0]!.name.zh).toBe('入侵');
    });
  });

  describe('acknowledgement callback', () => {
    afterEach(() => {
      cb.script = [];
      cb.fallback = 200;
    });

    it('POSTs a signed operatorAck to the account callback, retrying after a 500 until it gets 2xx', async () => {
      cb.script = [500];
      const from = cb.requests.length;
      await sendTcp(rx.dc09.tcpPort, handFrame(cidBody({ account: '1234', seq: 25, event: 120, zone: 15, at: new Date() })));
      const a = rx.board.list().find((x) => x.seq === 25)!;
      const res = await officer.req('POST', `/api/alarms/${a.id}/ack`, { action: 'acknowledged' });
      expect(res.status).toBe(200);
      expect(res.json.alarm).toMatchObject({ state: 'acknowledged', ackBy: OFFICER.username });
      await waitFor(() => cb.requests.length >= from + 2, 5000, 'two callback attempts');
      const [first, second] = cb.requests.slice(from);
      expect([first!.status, second!.status]).toEqual([500, 200]);
      expect(first!.signatureOk && second!.signatureOk).toBe(true);
      // Same body both times (the signature timestamp is fresh per attempt).
      expect(second!.body).toBe(first!.body);
      expect(second!.at - first!.at).toBeGreaterThanOrEqual(100);
      const ack = operatorAckSchema.parse(JSON.parse(second!.body));
      expect(ack).toMatchObject({ account: '1234', seq: 25, action: 'acknowledged', by: OFFICER.username });
      expect(Math.abs(ack.at - Date.now())).toBeLessThan(10_000);
      await waitFor(() => rx.board.deliveriesFor(a.id).every((d) => d.status === 'delivered'), 2000, 'delivery marked');
      expect(rx.board.deliveriesFor(a.id)).toEqual([expect.objectContaining({ channel: 'http', status: 'delivered', attempts: 2 })]);

      // A second acknowledgement is a conflict; dispatching is the next step and calls back again.
      const twice = await officer.req('POST', `/api/alarms/${a.id}/ack`, { action: 'acknowledged' });
      expect(twice.status).toBe(409);
      expect(twice.json.error.code).toBe('SW_ERR_ALARM_STATE');
      const dispatched = await officer.req('POST', `/api/alarms/${a.id}/ack`, { action: 'dispatched', note: '二组出警' });
      expect(dispatched.json.alarm).toMatchObject({ state: 'dispatched', dispatchedBy: OFFICER.username });
      const third = await waitFor(() => cb.requests[from + 2], 3000, 'dispatch callback');
      expect(operatorAckSchema.parse(JSON.parse(third.body))).toMatchObject({ action: 'dispatched', note: '二组出警' });
    });

    it('carries the alarm id of a JSON alarm', async () => {
      const msg = alarmJson({ seq: 50 });
      const { id } = (await (await signedPost(rx.url, JSON.stringify(msg))).json()) as { id: number };
      const from = cb.requests.length;
      await officer.req('POST', `/api/alarms/${id}/ack`, { action: 'dispatched' });
      const req = await waitFor(() => cb.requests[from], 3000, 'callback');
      expect(JSON.parse(req.body)).toMatchObject({ alarmId: msg.alarmId, account: '1234', seq: 50, action: 'dispatched' });
    });

    it('rejects a bad action and an unknown alarm with stable codes', async () => {
      const bad = await officer.req('POST', '/api/alarms/1/ack', { action: 'ignored' });
      expect(bad.status).toBe(400);
      expect(bad.json.error.issues[0].path).toBe('action');
      const unknown = await officer.req('POST', '/api/alarms/999999/ack', { action: 'acknowledged' });
      expect(unknown.status).toBe(404);
      expect(unknown.json.error.code).toBe('SW_ERR_ALARM_UNKNOWN');
    });
  });

  describe('login and roles', () => {
    it('requires a session, refuses wrong passwords, and rate-limits after 5 failures per user and address', async () => {
      const anon = new SessionClient(rx.url);
      const none = await anon.req('GET', '/api/alarms');
      expect(none.status).toBe(401);
      expect(none.json.error.code).toBe('SW_ERR_UNAUTHENTICATED');
      rx.auth.createUser({ username: 'wang', password: 'right-password', role: 'police' });
      for (let i = 0; i < 5; i++) {
        const r = await anon.login('wang', `wrong-${i}`);
        expect(r.status).toBe(401);
        expect(r.json.error.code).toBe('SW_ERR_LOGIN_FAILED');
      }
      const limited = await anon.login('wang', 'right-password');
      expect(limited.status).toBe(429);
      expect(limited.json.error.code).toBe('SW_ERR_RATE_LIMITED');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      // An unknown user gets the same answer as a wrong password.
      const ghost = await anon.login('nobody', 'whatever-pass');
      expect(ghost.status).toBe(401);
      expect(ghost.json.error.code).toBe('SW_ERR_LOGIN_FAILED');
    });

    it('sets an HttpOnly SameSite=Strict cookie with a 32-byte id, and logout ends the session', async () => {
      const c = new SessionClient(rx.url);
      const res = await c.login(OFFICER.username, OFFICER.password);
      const set = res.headers.get('set-cookie')!;
      expect(set).toMatch(/HttpOnly/);
      expect(set).toMatch(/SameSite=Strict/);
      expect(set).toMatch(/Path=\//);
      const id = /^sw_session=([^;]+)/.exec(set)![1]!;
      expect(Buffer.from(id, 'base64url')).toHaveLength(32);
      expect((await c.req('GET', '/api/auth/me')).json.user).toEqual({ username: OFFICER.username, role: 'police' });
      const stolen = c.cookie;
      expect((await c.req('POST', '/api/auth/logout')).status).toBe(204);
      const replay = new SessionClient(rx.url);
      replay.cookie = stolen;
      expect((await replay.req('GET', '/api/alarms')).status).toBe(401);
    });

    it('lets only police and admin into the console API, and refuses cross-origin writes', async () => {
      rx.auth.createUser({ username: 'tech', password: 'tech-password', role: 'technician' });
      const tech = new SessionClient(rx.url);
      expect((await tech.login('tech', 'tech-password')).status).toBe(200);
      const r = await tech.req('GET', '/api/events');
      expect(r.status).toBe(403);
      expect(r.json.error.code).toBe('SW_ERR_FORBIDDEN');
      const cross = await officer.req('POST', '/api/alarms/1/ack', { action: 'acknowledged' }, { origin: 'http://evil.example' });
      expect(cross.status).toBe(403);
      // Technicians cannot manage users; admins can.
      expect((await tech.req('GET', '/api/users')).status).toBe(403);
    });

    it('created the first admin with a random password in a 0600 file, and sends security headers', async () => {
      const file = rx.firstAdmin.passwordFile!;
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const password = readFileSync(file, 'utf8').trim();
      expect(password.length).toBeGreaterThanOrEqual(20);
      const admin = new SessionClient(rx.url);
      const res = await admin.login('admin', password);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(res.headers.get('cache-control')).toBe('no-store');
      const page = await fetch(`${rx.url}/`);
      expect(await page.text()).toContain('守望');
      const missing = await admin.req('GET', '/nope');
      expect(missing.status).toBe(404);
      expect(missing.json.error.code).toBe('SW_ERR_NOT_FOUND');
      // Changing the generated password removes the file that holds it.
      expect((await admin.req('POST', '/api/auth/password', { current: password, next: 'a-new-admin-password' })).status).toBe(204);
      expect(() => statSync(file)).toThrow();
    });
  });
});

describe('acknowledgement outbox across a restart', () => {
  it('keeps retrying after the receiver restarts, until the gateway answers 2xx', async () => {
    const dir = tempDir('sw-station-restart');
    const cb = await startCallbackServer(ACK_SECRET, [], 503);
    let rx = await start(config(dir, cb.url));
    try {
      await sendTcp(rx.dc09.tcpPort, handFrame(cidBody({ account: '1234', seq: 60, event: 121, zone: 15, at: new Date() })));
      const a = rx.board.list().find((x) => x.seq === 60)!;
      expect(a.name.zh).toBe('胁迫');
      rx.act(a.id, 'acknowledged', 'zhang');
      await waitFor(() => cb.requests.length >= 1, 3000, 'first failed attempt');
      await rx.stop();
      const failed = cb.requests.length;
      cb.fallback = 200;
      await sleep(300);
      expect(cb.requests.length).toBe(failed); // nobody sends while the receiver is down

      rx = await start(config(dir, cb.url));
      await waitFor(() => cb.requests.some((r) => r.status === 200), 5000, 'delivery after restart');
      const ok = cb.requests.find((r) => r.status === 200)!;
      expect(ok.signatureOk).toBe(true);
      expect(JSON.parse(ok.body)).toMatchObject({ account: '1234', seq: 60, action: 'acknowledged', by: 'zhang' });
      await waitFor(() => rx.board.deliveriesFor(a.id)[0]?.status === 'delivered', 2000, 'delivered');
      // The alarm and its state survived the restart too, and a retransmission of it is not a new alarm.
      expect(rx.board.get(a.id)).toMatchObject({ state: 'acknowledged', ackBy: 'zhang' });
      const count = rx.board.count();
      await sendTcp(rx.dc09.tcpPort, handFrame(cidBody({ account: '1234', seq: 60, event: 121, zone: 15, at: new Date() })));
      expect(rx.board.count()).toBe(count);
      expect(rx.board.get(a.id)!.copies).toBe(2);
    } finally {
      await rx.stop();
      await cb.close();
    }
  });
});

describe('MQTT intake', () => {
  it('stores alarms from the uplink topic, drops bad payloads, and publishes acknowledgements back', async () => {
    const { Aedes } = await import('aedes');
    const broker = await Aedes.createBroker();
    const server = net.createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dir = tempDir('sw-station-mqtt');
    const cb = await startCallbackServer(ACK_SECRET);
    const rx = await start(config(dir, cb.url, { mqttIntake: { url, topic: 'shouwang/+/uplink/alarm/+' } }));
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    try {
      expect(rx.mqtt?.connected).toBe(true);
      const acks: Array<{ topic: string; payload: string }> = [];
      client.on('message', (topic, payload) => acks.push({ topic, payload: payload.toString() }));
      await client.subscribeAsync('shouwang/+/uplink/ack', { qos: 1 });

      // Topics as the gateway's MQTT uplink forwarder writes them: <prefix>/<site>/uplink/alarm/<alarmId>.
      await client.publishAsync('shouwang/xinan/uplink/alarm/bad1', '{not json', { qos: 1 });
      await client.publishAsync('shouwang/xinan/uplink/alarm/bad2', JSON.stringify(alarmJson({ seq: 'x' })), { qos: 1 });
      const msg = alarmJson({ seq: 70 });
      await client.publishAsync(`shouwang/xinan/uplink/alarm/${String(msg.alarmId)}`, JSON.stringify(msg), { qos: 1 });
      const a = await waitFor(() => rx.board.getByAlarmId(msg.alarmId as string), 3000, 'MQTT alarm on the board');
      expect(a).toMatchObject({ intakes: ['mqtt'], seq: 70, site: 'xinan', location: { building: '市场' } });
      expect(rx.mqtt!.counters()).toMatchObject({ invalid: 2, stored: 1 });

      // The same alarm over HTTP is one alarm with two intakes.
      const res = await signedPost(rx.url, JSON.stringify({ ...msg, attempt: 2 }));
      expect(await res.json()).toMatchObject({ id: a.id, duplicate: true });
      expect(rx.board.get(a.id)!.intakes.sort()).toEqual(['http', 'mqtt']);

      rx.act(a.id, 'acknowledged', 'zhao');
      const ack = await waitFor(() => acks[0], 3000, 'ack on MQTT');
      expect(ack.topic).toBe('shouwang/xinan/uplink/ack');
      expect(operatorAckSchema.parse(JSON.parse(ack.payload))).toMatchObject({ alarmId: msg.alarmId, action: 'acknowledged', by: 'zhao' });
      // It also went to the HTTP callback of the account.
      await waitFor(() => cb.requests.length === 1, 3000, 'HTTP callback too');
      await waitFor(() => rx.board.deliveriesFor(a.id).every((d) => d.status === 'delivered'), 2000, 'both delivered');
      expect(rx.board.deliveriesFor(a.id).map((d) => d.channel).sort()).toEqual(['http', 'mqtt']);
    } finally {
      await client.endAsync();
      await rx.stop();
      await cb.close();
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('receiver.yaml', () => {
  it('names file, line and field of a mistake', () => {
    const dir = tempDir('sw-station-yaml');
    const file = join(dir, 'receiver.yaml');
    writeFileSync(
      file,
      [
        'dataDir: ./data',
        'dc09:',
        '  accounts:',
        '    - account: "1234"',
        '      zones:',
        '        15: { device: pole-1, lat: 122.5, lon: 113.9 }',
        '      ackCallback: { url: "ftp://x", secret: short }',
        '',
      ].join('\n'),
    );
    let message = '';
    try {
      loadReceiverConfig(file);
    } catch (err) {
      expect(isShouwangError(err, 'SW_ERR_CONFIG_INVALID')).toBe(true);
      message = (err as Error).message;
    }
    expect(message).toContain('receiver.yaml:6 dc09.accounts[0].zones.15.lat');
    expect(message).toContain('receiver.yaml:7 dc09.accounts[0].ackCallback.url');
    expect(message).toContain('receiver.yaml:7 dc09.accounts[0].ackCallback.secret');
  });

  it('resolves dataDir against the file and accepts a complete config', () => {
    const dir = tempDir('sw-station-yaml-ok');
    const file = join(dir, 'receiver.yaml');
    writeFileSync(
      file,
      [
        'dataDir: ./board',
        'http: { port: 0 }',
        'dc09:',
        '  tcpPort: 0',
        '  accounts:',
        '    - account: "12ab"',
        '      name: 新安村',
        '      zones: { "15": { device: pole-1, building: 7栋, room: "302", lat: 22.5, lon: 113.9, camera: "http://cam/1" } }',
        '      ackCallback: { url: "http://127.0.0.1:8080/api/alarm-acks", secret: 0123456789abcdef }',
        'httpIntake: { secret: 0123456789abcdef0 }',
        'mqttIntake: { url: "mqtt://127.0.0.1:1883", topic: "shouwang/+/uplink/alarm" }',
        '',
      ].join('\n'),
    );
    const cfg = loadReceiverConfig(file);
    expect(cfg.dataDir).toBe(join(dir, 'board'));
    expect(cfg.mqttIntake?.ackTopic).toBe('shouwang/{site}/uplink/ack');
    expect(cfg.dc09.accounts[0]!.zones['15']).toMatchObject({ building: '7栋', room: '302' });
  });
});

describe('shouwang receive --demo', () => {
  afterAll(() => stopAll());

  it('prints one JSON ready line, writes the admin password file, and stops on SIGTERM', async () => {
    const dir = tempDir('sw-station-cli');
    const proc = await startTsProcess(
      'gateway/src/main.ts',
      ['receive', '--demo', '--http-port', '0', '--data-dir', join(dir, 'data')],
      (line) => {
        const j = jsonLine(line);
        return j?.ready === true ? j : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const ready = proc.ready as { http: string; dc09: { tcp: number; udp: number }; adminPasswordFile: string; accounts: string[] };
    expect(ready.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.dc09.tcp).toBeGreaterThan(0);
    expect(ready.dc09.udp).toBeGreaterThan(0);
    expect(ready.accounts).toEqual(['1234']);
    expect(statSync(ready.adminPasswordFile).mode & 0o777).toBe(0o600);
    // stdout is for the ready line only: the password goes to stderr and the file.
    expect(proc.lines.filter((l) => l.trim() !== '')).toHaveLength(1);
    const admin = new SessionClient(ready.http);
    expect((await admin.login('admin', readFileSync(ready.adminPasswordFile, 'utf8').trim())).status).toBe(200);
    expect(await sendTcp(ready.dc09.tcp, handFrame(cidBody({ account: '1234', seq: 1, event: 120, zone: 2, at: new Date() })))).toMatch(/"ACK"0001/);
    const list = await admin.req('GET', '/api/alarms');
    expect(list.json.alarms[0]).toMatchObject({ account: '1234', zone: 2, location: { device: 'pole-2', building: '市场' } });
    const exited = new Promise<number | null>((r) => proc.child.once('exit', (code) => r(code)));
    proc.child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
