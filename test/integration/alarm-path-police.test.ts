/**
 * The alarm path to the police, end to end with real parts: a simulated pole press on a 9600-baud
 * pty bus -> gateway polling -> AlarmService -> SQLite outbox -> DC-09 forwarder over TCP ->
 * our DC-09 receiver (ACK) -> alarm `delivered`; then a signed operator acknowledgement to the
 * gateway's HTTP API -> alarm `acknowledged` -> the pole's help-is-coming coil and voice prompt
 * written on the bus, seen by the simulated pole.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signatureHeaders } from '../../gateway/src/auth/hmac.js';
import type { Alarm } from '../../gateway/src/core/types.js';
import { silentLogger } from '../../gateway/src/log.js';
import { startDc09Receiver, type Dc09Receiver, type Dc09ReceivedEvent } from '../../gateway/src/station/dc09-receiver.js';
import { stopAll, waitFor } from '../helpers/processes.js';
import { startGateway, startVillage, type RunningGateway, type RunningVillage } from '../helpers/village.js';

const SECRET = 'ack-secret-for-tests-0123';
let village: RunningVillage;
let gw: RunningGateway;
let receiver: Dc09Receiver;
const received: Dc09ReceivedEvent[] = [];
const transitions: Alarm[] = [];

beforeAll(async () => {
  village = await startVillage({ village: 'test/fixtures/villages/small.yaml', behaviour: false });
  receiver = await startDc09Receiver({ accounts: [{ account: '1234' }], log: silentLogger(), onEvent: (e) => void received.push(e) });
  gw = await startGateway(village, {
    busTimeoutMs: 150,
    polling: { intervals: { alarm: 0, fast: 500, normal: 1000, slow: 5000 } },
    edit: (c) => {
      c.forwarding = {
        paths: [{ id: 'police-dc09', type: 'dc09', transport: 'tcp', host: '127.0.0.1', port: receiver.tcpPort, account: '1234', heartbeatMs: 500 }],
        routes: [{ id: 'police', account: '1234', match: { severity: ['emergency', 'critical'] }, paths: ['police-dc09'] }],
        ackSecret: SECRET,
      };
    },
  });
  gw.gateway.bus.on('alarm', (a) => void transitions.push(a));
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await receiver?.stop();
  await village?.stop();
  await stopAll();
});

async function postAck(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const raw = JSON.stringify(body);
  const res = await fetch(`${gw.gateway.info().http}/api/alarm-acks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signatureHeaders(SECRET, raw), ...headers },
    body: raw,
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('alarm path to the police', () => {
  let alarm: Alarm;
  let seq: number;

  it('a pole press reaches the DC-09 receiver with account, zone, code and coordinates, and the alarm is delivered', async () => {
    // The panic rule fires on the button's edge: the gateway must have read it released first.
    await waitFor(() => (gw.gateway.state.get('pole-1', 'button')?.value === 'released' ? true : undefined), 10_000, 'pole-1 read');
    const { ts: pressedAt } = await village.control.press('pole-1', { holdMs: 800 });
    const event = await waitFor(() => received.find((e) => e.sia?.events.some((ev) => ev.code === 'PA')), 5000, 'SIA PA at the receiver');
    expect(event.account).toBe('1234');
    // pole-1 is the first device of the config: zone 1, area (ri) 1.
    expect(event.sia!.events[0]).toMatchObject({ code: 'PA', address: '1', area: 1 });
    expect(event.location?.lat).toBeCloseTo(22.54, 4);
    expect(event.location?.lon).toBeCloseTo(113.93, 4);
    expect(event.receivedAt.getTime() - pressedAt).toBeLessThan(2000);
    alarm = await waitFor(() => transitions.find((a) => a.device === 'pole-1' && a.rule === 'panic' && a.state === 'delivered'), 5000, 'delivered');
    seq = event.seq;
    const rows = gw.gateway.store.outbox.forAlarm(alarm.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'delivered', deliveredPath: 'police-dc09', account: '1234', seq });
    expect(gw.gateway.store.alarmTransitions(alarm.id).map((t) => t.to)).toEqual(['raised', 'queued', 'sent', 'delivered']);
  });

  it('refuses unsigned, tampered and malformed acknowledgements with a clear reason', async () => {
    const good = { account: '1234', seq, action: 'acknowledged', by: 'officer-li', at: Date.now() };
    const unsigned = await fetch(`${gw.gateway.info().http}/api/alarm-acks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(good) });
    expect(unsigned.status).toBe(401);
    expect(((await unsigned.json()) as { error: { message: string } }).error.message).toMatch(/x-shouwang-timestamp/);
    const tampered = await postAck(good, { 'x-shouwang-signature': `sha256=${'0'.repeat(64)}` });
    expect(tampered.status).toBe(401);
    const bad = await postAck({ ...good, action: 'maybe' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toContain('action');
    const unknown = await postAck({ ...good, seq: 9876 });
    expect(unknown.status).toBe(404);
    expect(gw.gateway.alarms.get(alarm.id)?.state).toBe('delivered');
  });

  it('an operator acknowledgement marks the alarm acknowledged and lights the pole', async () => {
    const since = Date.now();
    const res = await postAck({ account: '1234', seq, action: 'dispatched', by: 'officer-li', note: '民警已出发', at: Date.now() });
    expect(res).toMatchObject({ status: 200, json: { alarmId: alarm.id, state: 'acknowledged' } });
    const light = await village.control.waitForWrite('pole-1', (w) => w.table === 'coil' && w.address === 2 && w.values[0] === 1, { since, timeoutMs: 3000 });
    expect(light.ts - since).toBeLessThan(1000);
    await village.control.waitForWrite('pole-1', (w) => w.table === 'holding' && w.address === 0 && w.values[0] === 2, { since, timeoutMs: 3000 });
    // (The button's release may be logged after it as a `clear` record of the latched alarm.)
    const acked = gw.gateway.store.alarmTransitions(alarm.id).find((t) => t.action === 'transition' && t.to === 'acknowledged');
    expect(acked).toMatchObject({ to: 'acknowledged', by: 'operator:officer-li' });
    // The audit record follows the device's reply, a moment after the simulator saw the write.
    // (A write lost on the bus is tried again; each try has its own record.)
    const audit = await waitFor(() => {
      const list = gw.gateway.store.listAudit({ target: 'pole-1' });
      return list.filter((a) => a.result === 'ok').length >= 2 ? list : undefined;
    }, 3000, 'audit records');
    expect(audit.map((a) => [a.action, a.actor, a.result])).toEqual(
      expect.arrayContaining([
        ['command:help_coming', 'police:officer-li', 'ok'],
        ['command:play_voice', 'police:officer-li', 'ok'],
      ]),
    );
  });

  it('reports the path as up, with NULL heartbeats answered', async () => {
    await waitFor(() => gw.gateway.forwarding.health()[0]?.lastOkAt, 3000, 'heartbeat');
    const res = await fetch(`${gw.gateway.info().http}/api/health`);
    const health = (await res.json()) as { alarmPath: { pending: number; delivered: number; paths: Array<{ path: string; up: boolean }> } };
    expect(health.alarmPath).toMatchObject({ pending: 0, paths: [{ path: 'police-dc09', up: true }] });
    expect(health.alarmPath.delivered).toBeGreaterThanOrEqual(1);
  });
});
