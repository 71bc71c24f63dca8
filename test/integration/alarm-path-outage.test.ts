/**
 * The alarm path when the network to the police fails, with real parts:
 *
 * - Receiver outage: the DC-09 receiver is stopped while alarms keep coming, then started again
 *   on the same port. Every alarm is delivered, once, in order. Time is scaled: the retry cap is
 *   100 ms instead of 30 s, so the 4 s outage is ~40 backoff rounds (at production settings that
 *   many rounds take ~20 minutes).
 * - Backup path: the DC-09 path points at a port nobody listens on (the IP path is cut); a pole
 *   press in the simulated village goes out as an SMS through the simulator's virtual GSM modem.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AlarmForwarding } from '../../gateway/src/alarms/alarm-forwarding.js';
import { AlarmService } from '../../gateway/src/alarms/alarm-service.js';
import { forwardingSchema } from '../../gateway/src/alarms/forwarding-config.js';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import type { Alarm, PathHealth } from '../../gateway/src/core/types.js';
import { silentLogger } from '../../gateway/src/log.js';
import { startDc09Receiver, type Dc09Receiver, type Dc09ReceivedEvent } from '../../gateway/src/station/dc09-receiver.js';
import { openStore } from '../../gateway/src/store/store.js';
import { sleep, stopAll, waitFor } from '../helpers/processes.js';
import { startGateway, startVillage } from '../helpers/village.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await stopAll();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('receiver outage', () => {
  it('delivers every alarm raised during the outage, once and in order, when the receiver is back', async () => {
    const received: Dc09ReceivedEvent[] = [];
    const port = await freePort();
    const startRx = () => startDc09Receiver({ tcpPort: port, accounts: [{ account: '1234' }], log: silentLogger(), onEvent: (e) => void received.push(e) });
    let receiver: Dc09Receiver = await startRx();
    const dir = mkdtempSync(join(tmpdir(), 'sw-outage-'));
    const store = openStore({ dir });
    const bus = new EventBus();
    const health: PathHealth[] = [];
    bus.on('path', (h) => void health.push(h));
    const forwarding = new AlarmForwarding({
      config: forwardingSchema.parse({
        paths: [{ id: 'police', type: 'dc09', transport: 'tcp', host: '127.0.0.1', port, account: '1234', heartbeatMs: 200, ackTimeoutMs: 300, failAfter: 2 }],
        routes: [{ id: 'police', account: '1234', match: {}, paths: ['police'] }],
        retry: { initialMs: 20, maxMs: 100 },
      }),
      site: 'v',
      store,
      bus,
      log: silentLogger(),
      deviceInfo: () => ({ zone: 3 }),
      onAcknowledged: () => {},
    });
    const alarms = new AlarmService({ store, bus, site: 'v', log: silentLogger(), outbox: forwarding.outboxHook });
    await forwarding.start(alarms);
    cleanups.push(async () => {
      await forwarding.stop();
      store.close();
      await receiver.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const raise = (i: number): Alarm =>
      alarms.raise({ device: `pole-${i}`, profile: 'generic-alarm-pole', rule: 'panic', name: { zh: '紧急求助', en: 'Panic' }, code: { cid: 120, sia: 'PA' }, severity: 'emergency' });

    const before = [raise(1), raise(2)];
    await waitFor(() => (before.every((a) => alarms.get(a.id)?.state === 'delivered') ? true : undefined), 5000, 'delivered before the outage');

    await receiver.stop();
    const during: Alarm[] = [];
    for (let i = 3; i <= 12; i++) {
      during.push(raise(i));
      await sleep(400);
    }
    await waitFor(() => health.find((h) => !h.up), 5000, 'path loss detected');
    expect(during.every((a) => alarms.get(a.id)?.state !== 'delivered')).toBe(true);
    const lost = health.find((h) => !h.up)!;
    expect(lost.detectionMs).toBeGreaterThan(0);
    expect(lost.detectionMs).toBeLessThan(2000);

    // Losing the path is itself an event in the store's history, with its detection time.
    const lostEvent = store.listEvents({ device: 'gateway' }).find((e) => e.event === 'alarm_path_lost');
    expect(lostEvent?.fields).toMatchObject({ path: 'police', detectionMs: lost.detectionMs });

    receiver = await startRx();
    await waitFor(() => (during.every((a) => alarms.get(a.id)?.state === 'delivered') ? true : undefined), 10_000, 'all delivered after the outage');
    expect(health.at(-1)?.up).toBe(true);

    // In order, once each: the receiver's accepted messages carry seq 1..12 in order.
    expect(received.map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const zones = received.map((e) => e.sia?.events[0]?.code);
    expect(zones.every((c) => c === 'PA')).toBe(true);
    const rows = [...before, ...during].map((a) => store.outbox.forAlarm(a.id)[0]!);
    expect(rows.every((r) => r.status === 'delivered' && r.deliveredPath === 'police')).toBe(true);
    // The head of the line retried through the outage; the rows behind it waited their turn.
    expect(rows[2]!.attempts).toBeGreaterThan(1);
  }, 60_000);
});

describe('escalation', () => {
  it('an alarm no police operator acknowledges in time goes up the chain to the next receiver', async () => {
    const station: Dc09ReceivedEvent[] = [];
    const county: Dc09ReceivedEvent[] = [];
    const rxStation = await startDc09Receiver({ accounts: [{ account: '1234' }], log: silentLogger(), onEvent: (e) => void station.push(e) });
    const rxCounty = await startDc09Receiver({ accounts: [{ account: '9001' }], log: silentLogger(), onEvent: (e) => void county.push(e) });
    const dir = mkdtempSync(join(tmpdir(), 'sw-escalate-'));
    const store = openStore({ dir });
    const bus = new EventBus();
    const forwarding = new AlarmForwarding({
      config: forwardingSchema.parse({
        paths: [
          { id: 'station', type: 'dc09', transport: 'tcp', host: '127.0.0.1', port: rxStation.tcpPort, heartbeatMs: 0 },
          { id: 'county', type: 'dc09', transport: 'udp', host: '127.0.0.1', port: rxCounty.udpPort, heartbeatMs: 0 },
        ],
        routes: [
          { id: 'police', account: '1234', match: { severity: ['emergency'] }, paths: ['station'], escalation: { afterS: 0.5, to: 'county' } },
          { id: 'county', account: '9001', paths: ['county'] },
        ],
      }),
      site: 'v',
      store,
      bus,
      log: silentLogger(),
      deviceInfo: () => ({ zone: 8 }),
      onAcknowledged: () => {},
    });
    const alarms = new AlarmService({ store, bus, site: 'v', log: silentLogger(), outbox: forwarding.outboxHook });
    await forwarding.start(alarms);
    cleanups.push(async () => {
      await forwarding.stop();
      store.close();
      await rxStation.stop();
      await rxCounty.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const panic = { profile: 'generic-alarm-pole', rule: 'panic', name: { zh: '紧急求助', en: 'Panic' }, code: { cid: 120, sia: 'PA' }, severity: 'emergency' as const };
    const ignored = alarms.raise({ ...panic, device: 'pole-1' });
    const answered = alarms.raise({ ...panic, device: 'pole-2' });
    await waitFor(() => (station.length === 2 ? true : undefined), 3000, 'both at the station');
    // The station acknowledges one of them in time; nobody answers the other.
    forwarding.operatorAck({ alarmId: answered.id, action: 'acknowledged', by: 'duty-officer', at: Date.now() }, 'test');
    await waitFor(() => (county.length === 1 ? true : undefined), 5000, 'escalated to the county');
    await sleep(800);
    expect(county).toHaveLength(1);
    expect(county[0]).toMatchObject({ account: '9001', seq: 1 });
    expect(store.outbox.forAlarm(ignored.id).map((r) => [r.route, r.escalation, r.status])).toEqual([
      ['police', 0, 'delivered'],
      ['county', 1, 'delivered'],
    ]);
    expect(store.outbox.forAlarm(answered.id).map((r) => r.route)).toEqual(['police']);
  }, 30_000);
});

describe('backup path', () => {
  it('with the IP path cut, a pole press goes out by SMS through the virtual modem', async () => {
    const village = await startVillage({ village: 'test/fixtures/villages/small.yaml', behaviour: false });
    cleanups.push(() => village.stop());
    expect(village.endpoints.modem, 'the simulator needs socat for its virtual modem').toBeDefined();
    const deadPort = await freePort();
    const gw = await startGateway(village, {
      ...(process.env.SW_TEST_LOG ? { logLevel: process.env.SW_TEST_LOG } : {}),
      busTimeoutMs: 150,
      polling: { intervals: { alarm: 0, fast: 1000, normal: 2000, slow: 10_000 } },
      edit: (c) => {
        c.forwarding = {
          paths: [
            { id: 'police-dc09', type: 'dc09', transport: 'tcp', host: '127.0.0.1', port: deadPort, account: '1234', heartbeatMs: 300, ackTimeoutMs: 300 },
            { id: 'sms', type: 'sms', port: village.endpoints.modem, numbers: ['+8610000000110'], heartbeatMs: 0, timeoutMs: 5000 },
          ],
          routes: [{ id: 'police', account: '1234', match: { severity: ['emergency'] }, paths: ['police-dc09'], backup: ['sms'], backupAfterMs: 1500 }],
          retry: { initialMs: 100, maxMs: 500 },
        };
      },
    });
    cleanups.push(() => gw.stop());
    // The panic rule fires on the button's edge: the gateway must have read it released first.
    await waitFor(() => (gw.gateway.state.get('pole-2', 'button')?.value === 'released' ? true : undefined), 10_000, 'pole-2 read');
    const { ts: pressedAt } = await village.control.press('pole-2', { holdMs: 800 });
    const sms = await waitFor(async () => (await village.control.modemMessages()).find((m) => m.text.includes('PA')), 15_000, 'SMS at the modem');
    expect(sms.to).toBe('+8610000000110');
    expect(sms.text).toMatch(/^SHOUWANG ALARM PA .*acct 1234 seq 0001 .*pole-2/);
    // The DC-09 heartbeats had already found the IP path down, so the backup went at once
    // instead of waiting backupAfterMs for a primary known to be dead.
    expect(sms.at - pressedAt).toBeLessThan(1500);
    const alarm = await waitFor(() => gw.gateway.alarms.list({ device: 'pole-2' }).find((a) => a.state === 'delivered'), 5000, 'delivered');
    expect(gw.gateway.store.outbox.forAlarm(alarm.id)[0]).toMatchObject({ status: 'delivered', deliveredPath: 'sms' });
    expect(gw.gateway.forwarding.health().find((h) => h.path === 'police-dc09')?.up).toBe(false);
  }, 60_000);
});
