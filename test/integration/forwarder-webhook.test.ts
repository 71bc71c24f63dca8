/**
 * Webhook forwarder against a real node:http receiver on 127.0.0.1 that checks every request's
 * HMAC signature with auth/hmac.ts verifySignature, as a platform would.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature, type SignatureCheck } from '../../gateway/src/auth/hmac.js';
import type { Forwarder, ForwarderContext, OutboundMessage, PathHealth } from '../../gateway/src/alarms/forwarders/types.js';
import { webhookForwarder, webhookPathSchema } from '../../gateway/src/alarms/forwarders/webhook.js';
import type { Alarm } from '../../gateway/src/core/types.js';
import { silentLogger } from '../../gateway/src/log.js';
import { alarmFixture } from '../helpers/alarm-fixture.js';

const SECRET = 'receiver-shared-secret-0123456789';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  check: SignatureCheck;
}

type Responder = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let port: number;
let received: Received[];
/** Answers in order; the last one repeats. */
let responders: Responder[];
let forwarders: Forwarder[];

const reply =
  (status: number, body = '', headers: Record<string, string> = {}): Responder =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain', ...headers });
    res.end(body);
  };
/** Never answers: the request hangs until the client gives up or the server closes. */
const hang: Responder = () => {};

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function startServer(onPort = 0): Promise<void> {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const check = verifySignature(SECRET, body, { signature: header(req.headers, SIGNATURE_HEADER), timestamp: header(req.headers, TIMESTAMP_HEADER) });
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, check });
      const responder = responders[Math.min(received.length - 1, responders.length - 1)] ?? reply(200);
      responder(req, res, body);
    });
  });
  return new Promise((resolve) => {
    server.listen(onPort, '127.0.0.1', () => {
      port = (server.address() as AddressInfo).port;
      resolve();
    });
  });
}

function stopServer(): Promise<void> {
  if (!server.listening) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const alarm: Alarm = alarmFixture({ location: { building: 'B7', room: '301' } });

function message(attempt = 1): OutboundMessage {
  return { outboxId: 1, route: 'police', account: '1234', seq: 7, alarm, zone: 3, group: 1, cameraUrl: 'http://cam/3.jpg', attempt, queuedAt: 1718000000100 };
}

interface Harness {
  fwd: Forwarder;
  healths: PathHealth[];
  clock: { t: number };
}

async function makeForwarder(extra: Record<string, unknown> = {}): Promise<Harness> {
  const healths: PathHealth[] = [];
  // A settable clock near real time: signatures must stay inside the receiver's ±5 min window.
  const clock = { t: Date.now() };
  const context: ForwarderContext = {
    log: silentLogger(),
    now: () => clock.t,
    site: 'v1',
    onHealth: (h) => healths.push(h),
    onOperatorAck: () => {
      throw new Error('the webhook path has no back channel');
    },
  };
  const config = webhookPathSchema.parse({ id: 'platform', type: 'webhook', url: `http://127.0.0.1:${port}/hooks/alarm?token=abc`, secret: SECRET, ...extra });
  const fwd = webhookForwarder.create(config, context);
  forwarders.push(fwd);
  await fwd.start();
  return { fwd, healths, clock };
}

const never = () => new AbortController().signal;

async function waitUntil(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeEach(async () => {
  received = [];
  responders = [reply(200, 'ok')];
  forwarders = [];
  await startServer();
});

afterEach(async () => {
  for (const f of forwarders) await f.stop();
  await stopServer();
});

describe('webhook forwarder', () => {
  it('delivers on 2xx: signed JSON body, Idempotency-Key, configured headers', async () => {
    const { fwd, healths, clock } = await makeForwarder({ headers: { 'X-Api-Key': 'k-1' } });
    const result = await fwd.send(message(), never());
    expect(result).toEqual({ outcome: 'delivered', at: clock.t, detail: 'HTTP 200' });

    expect(received).toHaveLength(1);
    const req = received[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/hooks/alarm?token=abc');
    expect(req.check).toEqual({ ok: true });
    expect(header(req.headers, TIMESTAMP_HEADER)).toBe(String(clock.t));
    expect(header(req.headers, 'idempotency-key')).toBe(alarm.id);
    expect(header(req.headers, 'content-type')).toMatch(/^application\/json/);
    expect(header(req.headers, 'x-api-key')).toBe('k-1');
    const body = JSON.parse(req.body) as Record<string, unknown>;
    expect(body).toMatchObject({ type: 'alarm', site: 'v1', alarmId: alarm.id, account: '1234', seq: 7, kind: 'alarm', code: { cid: 120, sia: 'PA' }, cameraUrl: 'http://cam/3.jpg', attempt: 1 });

    expect(fwd.health()).toMatchObject({ path: 'platform', type: 'webhook', up: true, lastOkAt: clock.t });
    expect(healths).toEqual([]); // it was up from the start: no change to report
  });

  it('treats any 2xx as delivered (204 No Content)', async () => {
    responders = [reply(204)];
    const { fwd } = await makeForwarder();
    expect(await fwd.send(message(), never())).toMatchObject({ outcome: 'delivered', detail: 'HTTP 204' });
  });

  it('500 then 200: retry (path down) then delivered (path up), same key and body apart from attempt', async () => {
    responders = [reply(500, 'database is restarting'), reply(200)];
    const { fwd, healths } = await makeForwarder();
    const first = await fwd.send(message(1), never());
    expect(first.outcome).toBe('retry');
    expect(first.outcome === 'retry' && first.reason).toContain('HTTP 500');
    expect(first.outcome === 'retry' && first.reason).toContain('database is restarting');
    expect(first.outcome === 'retry' && first.reason).not.toContain('token=abc'); // the query may carry a secret
    expect(fwd.health()).toMatchObject({ up: false, reason: expect.stringContaining('HTTP 500') });

    const second = await fwd.send(message(2), never());
    expect(second.outcome).toBe('delivered');
    expect(fwd.health().up).toBe(true);
    expect(healths.map((h) => h.up)).toEqual([false, true]);

    expect(received.map((r) => header(r.headers, 'idempotency-key'))).toEqual([alarm.id, alarm.id]);
    expect(received.every((r) => r.check.ok)).toBe(true);
    const [a, b] = received.map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(a!.attempt).toBe(1);
    expect(b!.attempt).toBe(2);
    expect({ ...a, attempt: 0 }).toEqual({ ...b, attempt: 0 });
  });

  it('400 is rejected with the status and the first 200 characters of the body', async () => {
    const long = `field "seq" is invalid: ${'x'.repeat(400)}`;
    responders = [reply(400, long)];
    const { fwd, healths } = await makeForwarder();
    const result = await fwd.send(message(), never());
    expect(result.outcome).toBe('rejected');
    if (result.outcome !== 'rejected') return;
    expect(result.reason).toContain('HTTP 400');
    expect(result.reason).toContain(long.slice(0, 200));
    expect(result.reason).not.toContain(long.slice(0, 201));
    // The receiver answered: the path itself is up.
    expect(fwd.health().up).toBe(true);
    expect(healths).toEqual([]);
  });

  it('408 and 429 are retried; 401 and a redirect are rejected (and the redirect is not followed)', async () => {
    responders = [reply(408), reply(429, 'slow down'), reply(401, 'bad signature'), reply(302, '', { location: '/elsewhere' })];
    const { fwd } = await makeForwarder();
    expect((await fwd.send(message(1), never())).outcome).toBe('retry');
    const throttled = await fwd.send(message(2), never());
    expect(throttled).toEqual({ outcome: 'retry', reason: expect.stringContaining('HTTP 429') });
    expect(await fwd.send(message(3), never())).toEqual({ outcome: 'rejected', reason: expect.stringContaining('HTTP 401') });
    expect(await fwd.send(message(4), never())).toEqual({ outcome: 'rejected', reason: expect.stringContaining('HTTP 302') });
    expect(received.map((r) => r.url)).toEqual(Array(4).fill('/hooks/alarm?token=abc'));
  });

  it('server down: retry, path down with the detection time; server back: delivered, path up', async () => {
    const { fwd, healths, clock } = await makeForwarder();
    expect((await fwd.send(message(1), never())).outcome).toBe('delivered');
    const okAt = clock.t;

    const samePort = port;
    await stopServer();
    clock.t += 3000;
    const down = await fwd.send(message(2), never());
    expect(down.outcome).toBe('retry');
    expect(down.outcome === 'retry' && down.reason).toMatch(/ECONNREFUSED/);
    const health = fwd.health();
    expect(health).toMatchObject({ up: false, since: okAt + 3000, lastOkAt: okAt, detectionMs: 3000 });
    expect(health.reason).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+\/hooks\/alarm: .*ECONNREFUSED/);
    expect(healths).toHaveLength(1);
    expect(healths[0]).toMatchObject({ up: false, detectionMs: 3000 });

    await startServer(samePort);
    clock.t += 1000;
    expect((await fwd.send(message(3), never())).outcome).toBe('delivered');
    expect(fwd.health()).toMatchObject({ up: true, since: okAt + 4000, lastOkAt: okAt + 4000 });
    expect(fwd.health()).not.toHaveProperty('detectionMs');
    expect(healths.map((h) => h.up)).toEqual([false, true]);
  });

  it('a receiver that does not answer within timeoutMs is a retry and marks the path down', async () => {
    responders = [hang];
    const { fwd } = await makeForwarder({ timeoutMs: 300 });
    const started = Date.now();
    const result = await fwd.send(message(), never());
    const elapsed = Date.now() - started;
    expect(result).toEqual({ outcome: 'retry', reason: expect.stringContaining('within 300 ms') });
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(2000);
    expect(fwd.health()).toMatchObject({ up: false, reason: expect.stringContaining('no answer') });
    expect(received).toHaveLength(1); // the request did reach the receiver
  });

  it("gives up at once when the dispatcher's signal aborts, without blaming the path", async () => {
    responders = [hang];
    const { fwd, healths } = await makeForwarder({ timeoutMs: 10_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const result = await fwd.send(message(), controller.signal);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(result).toEqual({ outcome: 'retry', reason: expect.stringContaining('cancelled') });
    expect(fwd.health().up).toBe(true);
    expect(healths).toEqual([]);
    // An already-aborted signal sends nothing.
    const before = received.length;
    const aborted = AbortSignal.abort();
    expect((await fwd.send(message(2), aborted)).outcome).toBe('retry');
    expect(received.length).toBe(before);
  });

  it('heartbeats: signed {type, site, at} posts while running, path down on 503, none after stop', async () => {
    responders = [reply(200), reply(503, 'maintenance')];
    const { fwd, healths, clock } = await makeForwarder({ heartbeatMs: 80 });
    await waitUntil(() => received.length >= 2, 3000, 'two heartbeats');
    const first = received[0]!;
    expect(first.check).toEqual({ ok: true });
    expect(JSON.parse(first.body)).toEqual({ type: 'heartbeat', site: 'v1', at: clock.t });
    expect(header(first.headers, 'idempotency-key')).toBeUndefined();
    await waitUntil(() => !fwd.health().up, 3000, 'the path to go down on 503');
    expect(healths.at(-1)).toMatchObject({ up: false, reason: expect.stringContaining('HTTP 503'), detectionMs: 0, lastOkAt: clock.t });

    await fwd.stop();
    await new Promise((r) => setTimeout(r, 50)); // a heartbeat in flight at stop is cut
    const count = received.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(received.length).toBe(count);
  });
});

describe('webhook signature (auth/hmac.ts, as a receiver uses it)', () => {
  it('verifies the real request and refuses a tampered body, a wrong secret, a replay and a missing header', async () => {
    const { fwd } = await makeForwarder();
    expect((await fwd.send(message(), never())).outcome).toBe('delivered');
    const req = received[0]!;
    const headers = { signature: header(req.headers, SIGNATURE_HEADER), timestamp: header(req.headers, TIMESTAMP_HEADER) };
    expect(verifySignature(SECRET, req.body, headers)).toEqual({ ok: true });

    const tampered = req.body.replace('"seq":7', '"seq":8');
    expect(tampered).not.toBe(req.body);
    expect(verifySignature(SECRET, tampered, headers)).toEqual({ ok: false, reason: `${SIGNATURE_HEADER} does not match the body` });
    expect(verifySignature(`${SECRET}-other`, req.body, headers)).toMatchObject({ ok: false });
    // The timestamp is signed too: moving it breaks the signature; replaying it later is refused.
    expect(verifySignature(SECRET, req.body, { ...headers, timestamp: String(Number(headers.timestamp) + 1) })).toMatchObject({ ok: false, reason: expect.stringContaining('does not match') });
    expect(verifySignature(SECRET, req.body, headers, Number(headers.timestamp) + 10 * 60_000)).toMatchObject({ ok: false, reason: expect.stringContaining('outside') });
    expect(verifySignature(SECRET, req.body, { timestamp: headers.timestamp })).toMatchObject({ ok: false, reason: expect.stringContaining(SIGNATURE_HEADER) });
  });
});

describe('webhookPathSchema', () => {
  const base = { id: 'platform', type: 'webhook', url: 'https://alarms.example/hook', secret: 'x'.repeat(16) };

  it('applies defaults', () => {
    expect(webhookPathSchema.parse(base)).toEqual({ ...base, timeoutMs: 5000, heartbeatMs: 0 });
  });

  it.each([
    ['a short secret', { secret: 'x'.repeat(15) }, 'secret'],
    ['a non-HTTP url', { url: 'ftp://alarms.example/hook' }, 'url'],
    ['credentials in the url', { url: 'https://u:p@alarms.example/hook' }, 'url'],
    ['an unknown key', { retries: 3 }, ''],
    ['a reserved header', { headers: { 'Idempotency-Key': 'x' } }, 'headers'],
    ['a bad header name', { headers: { 'bad header': 'x' } }, 'headers'],
    ['a header value with a line break', { headers: { 'x-a': 'a\r\nb: c' } }, 'headers'],
    ['a bad id', { id: 'has space' }, 'id'],
  ])('refuses %s', (_what, patch, field) => {
    const result = webhookPathSchema.safeParse({ ...base, ...patch });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path[0] ?? '').toBe(field);
  });
});
