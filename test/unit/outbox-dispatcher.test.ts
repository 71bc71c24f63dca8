/**
 * The outbox and its dispatcher with scripted forwarders (unit test: the forwarders are fakes
 * that answer as told; the store is a real SQLite file). Real-socket forwarders are tested in
 * test/integration/forwarder-*.test.ts and the whole path in test/integration/alarm-path-*.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AlarmService, type RaiseInput } from '../../gateway/src/alarms/alarm-service.js';
import { OutboxDispatcher } from '../../gateway/src/alarms/dispatcher.js';
import type { Forwarder, OutboundMessage, PathHealth, SendResult } from '../../gateway/src/alarms/forwarders/types.js';
import { outboxEntriesFor, retrySchema, routeProblems, routeSchema, type RouteConfig } from '../../gateway/src/alarms/routes.js';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import type { Alarm } from '../../gateway/src/core/types.js';
import { silentLogger } from '../../gateway/src/log.js';
import { openStore, type Store } from '../../gateway/src/store/store.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Script = (msg: OutboundMessage, signal: AbortSignal) => Promise<SendResult> | SendResult;

class ScriptedForwarder implements Forwarder {
  readonly type = 'scripted';
  readonly sent: OutboundMessage[] = [];
  up = true;
  constructor(
    readonly path: string,
    public script: Script = () => ({ outcome: 'delivered', at: Date.now() }),
  ) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async send(msg: OutboundMessage, signal: AbortSignal): Promise<SendResult> {
    this.sent.push(msg);
    return this.script(msg, signal);
  }
  health(): PathHealth {
    return { path: this.path, type: this.type, up: this.up, since: 0 };
  }
}

const panic: RaiseInput = {
  device: 'pole-1',
  profile: 'generic-alarm-pole',
  rule: 'panic',
  name: { zh: '紧急求助', en: 'Panic button' },
  code: { cid: 120, sia: 'PA' },
  severity: 'emergency',
  location: { building: 'B3', room: '1F' },
};

function route(over: Partial<RouteConfig> & { id: string }): RouteConfig {
  return routeSchema.parse({ account: '1234', match: {}, paths: ['dc09'], ...over });
}

function setup(opts: { routes: RouteConfig[]; forwarders: Forwarder[]; dir?: string; onAck?: (a: Alarm) => void }) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sw-outbox-'));
  if (!opts.dir) cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const store = openStore({ dir });
  const bus = new EventBus();
  const emitted: Alarm[] = [];
  bus.on('alarm', (a) => void emitted.push(a));
  let dispatcher: OutboxDispatcher | undefined;
  const alarms = new AlarmService({
    store,
    bus,
    site: 'v1',
    log: silentLogger(),
    outbox: { entriesFor: (a) => outboxEntriesFor(a, opts.routes, { zone: 7 }), queued: (rows) => dispatcher?.queued(rows) },
  });
  dispatcher = new OutboxDispatcher({
    store,
    alarms,
    forwarders: new Map(opts.forwarders.map((f) => [f.path, f])),
    routes: opts.routes,
    retry: retrySchema.parse({ initialMs: 5, maxMs: 40 }),
    deviceInfo: () => ({ zone: 7 }),
    log: silentLogger(),
    escalationCheckMs: 10,
    onAcknowledged: opts.onAck,
  });
  const stop = async () => {
    await dispatcher!.stop();
    store.close();
  };
  cleanups.push(stop);
  return { dir, store, alarms, dispatcher, emitted, stop };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const states = (store: Store, id: string) => store.alarmTransitions(id).map((t) => t.to);

describe('outbox', () => {
  it('queues an alarm in the same transaction as its insert, with per-account sequence numbers', () => {
    const { store, alarms } = setup({ routes: [route({ id: 'police' }), route({ id: 'platform', account: 'ABC', paths: ['hook'] })], forwarders: [] });
    const a = alarms.raise(panic);
    expect(a.state).toBe('queued');
    const rows = store.outbox.forAlarm(a.id);
    expect(rows.map((r) => [r.route, r.account, r.seq, r.zone, r.status])).toEqual([
      ['police', '1234', 1, 7, 'pending'],
      ['platform', 'ABC', 1, 7, 'pending'],
    ]);
    const b = alarms.raise({ ...panic, device: 'pole-2' });
    expect(store.outbox.forAlarm(b.id).map((r) => r.seq)).toEqual([2, 2]);
    expect(states(store, a.id)).toEqual(['raised', 'queued']);
  });

  it('wraps sequence numbers from 9999 to 1', () => {
    const { store } = setup({ routes: [], forwarders: [] });
    store.database.prepare(`INSERT INTO outbox_accounts (account, last_seq) VALUES ('1234', 9998)`).run();
    const alarms = ['a', 'b', 'c'].map((id) => {
      const t = Date.now();
      store.insertAlarm(
        { id, site: 'v', device: 'd', profile: 'p', rule: id, name: { zh: 'x', en: 'x' }, code: {}, severity: 'info', kind: 'alarm', latch: false, silent: false, state: 'raised', raisedAt: t, updatedAt: t, fields: {} },
        { by: 't' },
      );
      return store.outbox.enqueue(id, [{ route: 'r', account: '1234', zone: 1, group: 1 }], t)[0]!.seq;
    });
    expect(alarms).toEqual([9999, 1, 2]);
  });

  it('does not queue alarms no route matches', () => {
    const { store, alarms } = setup({ routes: [route({ id: 'police', match: { severity: ['emergency'], kinds: ['alarm'] } })], forwarders: [] });
    const warn = alarms.raise({ ...panic, rule: 'low_battery', severity: 'warning' });
    expect(warn.state).toBe('raised');
    expect(store.outbox.forAlarm(warn.id)).toEqual([]);
  });
});

describe('dispatcher', () => {
  it('delivers on the receiver ACK and records raised -> queued -> sent -> delivered', async () => {
    const dc09 = new ScriptedForwarder('dc09');
    const { store, alarms, dispatcher, emitted } = setup({ routes: [route({ id: 'police' })], forwarders: [dc09] });
    dispatcher.start();
    const a = alarms.raise(panic);
    await until(() => alarms.get(a.id)?.state === 'delivered');
    expect(states(store, a.id)).toEqual(['raised', 'queued', 'sent', 'delivered']);
    expect(emitted.filter((e) => e.id === a.id).map((e) => e.state)).toEqual(['raised', 'queued', 'sent', 'delivered']);
    const row = store.outbox.forAlarm(a.id)[0]!;
    expect(row).toMatchObject({ status: 'delivered', deliveredPath: 'dc09', attempts: 1 });
    expect(dc09.sent[0]).toMatchObject({ account: '1234', seq: 1, zone: 7, group: 1, attempt: 1 });
  });

  it('sends in order per account: a later alarm waits until the head is delivered, retries reuse the seq', async () => {
    let failuresLeft = 3;
    const dc09 = new ScriptedForwarder('dc09', () => (failuresLeft-- > 0 ? { outcome: 'retry', reason: 'no answer' } : { outcome: 'delivered', at: Date.now() }));
    const { store, alarms, dispatcher } = setup({ routes: [route({ id: 'police' })], forwarders: [dc09] });
    dispatcher.start();
    const ids = [1, 2, 3].map((i) => alarms.raise({ ...panic, device: `pole-${i}` }).id);
    await until(() => ids.every((id) => alarms.get(id)?.state === 'delivered'));
    expect(dc09.sent.map((m) => m.seq)).toEqual([1, 1, 1, 1, 2, 3]);
    expect(dc09.sent.map((m) => m.attempt)).toEqual([1, 2, 3, 4, 1, 1]);
    expect(store.outbox.forAlarm(ids[0]!)[0]!.attempts).toBe(4);
  });

  it('goes on the backup path when the primary has not delivered within backupAfterMs', async () => {
    const dc09 = new ScriptedForwarder('dc09', () => ({ outcome: 'retry', reason: 'receiver silent' }));
    const sms = new ScriptedForwarder('sms');
    const { store, alarms, dispatcher } = setup({ routes: [route({ id: 'police', backup: ['sms'], backupAfterMs: 60 })], forwarders: [dc09, sms] });
    dispatcher.start();
    const t0 = Date.now();
    const a = alarms.raise(panic);
    await until(() => alarms.get(a.id)?.state === 'delivered');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    expect(store.outbox.forAlarm(a.id)[0]).toMatchObject({ deliveredPath: 'sms' });
    expect(sms.sent).toHaveLength(1);
    expect(dc09.sent.length).toBeGreaterThanOrEqual(2);
  });

  it('starts the backup while a hanging primary is still in flight once the deadline passes', async () => {
    const dc09 = new ScriptedForwarder('dc09', (_m, signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve({ outcome: 'retry', reason: 'aborted' }))));
    const sms = new ScriptedForwarder('sms');
    const { store, alarms, dispatcher } = setup({ routes: [route({ id: 'police', backup: ['sms'], backupAfterMs: 40 })], forwarders: [dc09, sms] });
    dispatcher.start();
    const a = alarms.raise(panic);
    await until(() => alarms.get(a.id)?.state === 'delivered');
    expect(dc09.sent).toHaveLength(1);
    expect(store.outbox.forAlarm(a.id)[0]!.deliveredPath).toBe('sms');
  });

  it('uses the backup at once when every primary path is down', async () => {
    const dc09 = new ScriptedForwarder('dc09', () => ({ outcome: 'retry', reason: 'down' }));
    dc09.up = false;
    const sms = new ScriptedForwarder('sms');
    const { alarms, dispatcher } = setup({ routes: [route({ id: 'police', backup: ['sms'], backupAfterMs: 60_000 })], forwarders: [dc09, sms] });
    dispatcher.start();
    const a = alarms.raise(panic);
    await until(() => alarms.get(a.id)?.state === 'delivered', 1000);
    expect(sms.sent).toHaveLength(1);
  });

  it('resumes pending alarms after a restart with the same sequence numbers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-outbox-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const down = new ScriptedForwarder('dc09', () => ({ outcome: 'retry', reason: 'down' }));
    const first = setup({ dir, routes: [route({ id: 'police' })], forwarders: [down] });
    first.dispatcher.start();
    const ids = [1, 2].map((i) => first.alarms.raise({ ...panic, device: `pole-${i}` }).id);
    await until(() => down.sent.length >= 2);
    await first.stop();

    const up = new ScriptedForwarder('dc09');
    const second = setup({ dir, routes: [route({ id: 'police' })], forwarders: [up] });
    second.dispatcher.start();
    await until(() => ids.every((id) => second.alarms.get(id)?.state === 'delivered'));
    expect(up.sent.map((m) => [m.alarm.id, m.seq])).toEqual([
      [ids[0], 1],
      [ids[1], 2],
    ]);
  });

  it('forwards restores as restores', async () => {
    const dc09 = new ScriptedForwarder('dc09');
    const { alarms, dispatcher } = setup({ routes: [route({ id: 'police' })], forwarders: [dc09] });
    dispatcher.start();
    alarms.raise({ ...panic, rule: 'tamper', severity: 'critical', code: { cid: 137, sia: 'TA' }, restore: true, restoreSia: 'TR', latch: false });
    const cleared = alarms.clear({ device: 'pole-1', rule: 'tamper' });
    expect(cleared?.restore).toBeDefined();
    await until(() => dc09.sent.length === 2);
    expect(dc09.sent.map((m) => [m.alarm.kind, m.alarm.code.sia, m.seq])).toEqual([
      ['alarm', 'TA', 1],
      ['restore', 'TR', 2],
    ]);
  });

  it('takes an operator acknowledgement by account + seq and calls the follow-up once', async () => {
    const acked: Alarm[] = [];
    const dc09 = new ScriptedForwarder('dc09');
    const { alarms, dispatcher, store } = setup({ routes: [route({ id: 'police' })], forwarders: [dc09], onAck: (a) => acked.push(a) });
    dispatcher.start();
    const a = alarms.raise(panic);
    await until(() => alarms.get(a.id)?.state === 'delivered');
    const ack = { account: '1234', seq: 1, action: 'dispatched' as const, by: 'officer-wang', at: Date.now() };
    expect(dispatcher.operatorAck(ack, 'http')?.state).toBe('acknowledged');
    expect(dispatcher.operatorAck(ack, 'http')?.state).toBe('acknowledged');
    expect(acked).toHaveLength(1);
    expect(store.alarmTransitions(a.id).at(-1)).toMatchObject({ to: 'acknowledged', by: 'operator:officer-wang' });
    expect(dispatcher.operatorAck({ ...ack, seq: 99 }, 'http')).toBeUndefined();
  });

  it('escalates a delivered alarm no operator acknowledges, to the next route with its own account', async () => {
    const dc09 = new ScriptedForwarder('dc09');
    const second = new ScriptedForwarder('dc09-b');
    const routes = [route({ id: 'police', escalation: { afterS: 0.05, to: 'county' } }), route({ id: 'county', account: '9999', match: undefined, paths: ['dc09-b'] })];
    const { alarms, dispatcher, store } = setup({ routes, forwarders: [dc09, second] });
    dispatcher.start();
    const a = alarms.raise(panic);
    await until(() => second.sent.length === 1);
    expect(second.sent[0]).toMatchObject({ account: '9999', seq: 1, route: 'county' });
    expect(store.outbox.forAlarm(a.id).map((r) => [r.route, r.escalation])).toEqual([
      ['police', 0],
      ['county', 1],
    ]);
    expect(dispatcher.stats().escalations).toBe(1);
  });

  it('does not escalate an acknowledged alarm', async () => {
    const dc09 = new ScriptedForwarder('dc09');
    const second = new ScriptedForwarder('dc09-b');
    const routes = [route({ id: 'police', escalation: { afterS: 0.08, to: 'county' } }), route({ id: 'county', account: '9999', match: undefined, paths: ['dc09-b'] })];
    const { alarms, dispatcher } = setup({ routes, forwarders: [dc09, second] });
    dispatcher.start();
    const a = alarms.raise(panic);
    await until(() => alarms.get(a.id)?.state === 'delivered');
    dispatcher.operatorAck({ alarmId: a.id, action: 'acknowledged', by: 'li', at: Date.now() }, 'test');
    await new Promise((r) => setTimeout(r, 150));
    expect(second.sent).toHaveLength(0);
  });
});

describe('route config', () => {
  it('names unknown paths and looping escalation chains', () => {
    const routes = [
      route({ id: 'a', paths: ['dc09', 'nope'], escalation: { afterS: 1, to: 'b' } }),
      route({ id: 'b', escalation: { afterS: 1, to: 'a' } }),
    ];
    const problems = routeProblems(routes, new Set(['dc09']));
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: [0, 'paths', 1], message: 'unknown path "nope" (paths: dc09)' },
        expect.objectContaining({ path: [0, 'escalation', 'to'], message: expect.stringContaining('loops back') }),
      ]),
    );
  });
});
