import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AlarmService, type RaiseInput } from '../../gateway/src/alarms/alarm-service.js';
import { transitionProblem } from '../../gateway/src/alarms/lifecycle.js';
import { ULID_PATTERN, ulidFactory, ulidTime } from '../../gateway/src/alarms/ulid.js';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import type { Alarm } from '../../gateway/src/core/types.js';
import { isShouwangError } from '../../gateway/src/errors.js';
import { silentLogger } from '../../gateway/src/log.js';
import type { EventDef } from '../../gateway/src/profiles/schema.js';
import { openStore, type Store } from '../../gateway/src/store/store.js';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(opts: { dir?: string; now?: { t: number } } = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sw-alarm-'));
  if (!opts.dir) dirs.push(dir);
  const store = openStore({ dir });
  stores.push(store);
  const bus = new EventBus((event, err) => {
    throw new Error(`listener for ${event} failed: ${String(err)}`);
  });
  const now = opts.now ?? { t: 1_700_000_000_000 };
  const emitted: Alarm[] = [];
  bus.on('alarm', (a) => {
    emitted.push(a);
  });
  const service = new AlarmService({ store, bus, site: 'village-1', log: silentLogger(), clock: () => now.t });
  return { dir, store, bus, service, emitted, now };
}

const panic: RaiseInput = {
  device: 'pole-1',
  profile: 'generic-alarm-pole',
  rule: 'panic',
  name: { zh: '紧急求助', en: 'Panic button' },
  code: { cid: 120, sia: 'PA' },
  severity: 'emergency',
  location: { building: 'B3' },
  fields: { button: 'pressed' },
};

const tamper: RaiseInput = {
  device: 'pole-1',
  profile: 'generic-alarm-pole',
  rule: 'tamper',
  name: { zh: '防拆', en: 'Tamper' },
  code: { cid: 137, sia: 'TA' },
  severity: 'critical',
  restore: true,
  restoreSia: 'TR',
};

describe('ULID ids', () => {
  it('are 26 Crockford characters, unique, and sort by time even within one millisecond', () => {
    const clock = { t: 1_700_000_000_000 };
    const next = ulidFactory(() => clock.t);
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) {
      if (i % 100 === 0) clock.t += 1;
      ids.push(next());
    }
    expect(ids.every((id) => ULID_PATTERN.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(ulidTime(ids[0]!)).toBe(1_700_000_000_001);
  });

  it('stay ordered when the clock steps backwards', () => {
    const clock = { t: 2_000 };
    const next = ulidFactory(() => clock.t);
    const a = next();
    clock.t = 1_000;
    const b = next();
    expect(b > a).toBe(true);
  });
});

describe('alarm lifecycle rules', () => {
  it('allows forward moves (skipping allowed) and reset from anywhere; refuses backward and after reset', () => {
    expect(transitionProblem('raised', 'queued')).toBeUndefined();
    expect(transitionProblem('raised', 'delivered')).toBeUndefined();
    expect(transitionProblem('sent', 'reset')).toBeUndefined();
    expect(transitionProblem('delivered', 'sent')).toMatch(/back/);
    expect(transitionProblem('queued', 'queued')).toMatch(/already/);
    expect(transitionProblem('reset', 'acknowledged')).toMatch(/already reset/);
  });
});

describe('AlarmService', () => {
  it('raise builds a complete alarm, stores it before emitting, and emits it once', () => {
    const { service, store, bus } = setup();
    let storedWhenEmitted: Alarm | undefined;
    bus.on('alarm', (a) => {
      storedWhenEmitted = store.getAlarm(a.id)?.alarm;
    });
    const a = service.raise(panic);
    expect(a).toMatchObject({
      site: 'village-1',
      device: 'pole-1',
      rule: 'panic',
      kind: 'alarm',
      latch: true, // emergency defaults to latching
      silent: false,
      state: 'raised',
      raisedAt: 1_700_000_000_000,
      code: { cid: 120, sia: 'PA' },
      location: { building: 'B3' },
      fields: { button: 'pressed' },
    });
    expect(a.id).toMatch(ULID_PATTERN);
    expect(storedWhenEmitted).toEqual(a);
  });

  it('a store failure means no emit: nobody hears of an alarm that was not persisted', () => {
    const { service, store, emitted } = setup();
    store.close();
    expect(() => service.raise(panic)).toThrow(/store is closed/);
    expect(emitted).toHaveLength(0);
  });

  it('latched: a re-trigger while active creates no duplicate, and the clear does not reset it', () => {
    const { service, emitted, now } = setup();
    const a = service.raise(panic);
    now.t += 1000;
    const again = service.raise(panic);
    expect(again.id).toBe(a.id);
    expect(service.active().map((x) => x.id)).toEqual([a.id]);
    now.t += 1000;
    const cleared = service.clear({ device: 'pole-1', rule: 'panic' });
    expect(cleared).toMatchObject({ ended: false });
    expect(cleared?.restore).toBeUndefined();
    expect(service.get(a.id)?.state).toBe('raised');
    expect(service.active()).toHaveLength(1);
    expect(emitted.map((x) => `${x.id}:${x.state}`)).toEqual([`${a.id}:raised`]);
    expect(service.record(a.id)).toMatchObject({ retriggers: 1, conditionActive: false });
    expect(service.history(a.id).map((t) => t.action)).toEqual(['raise', 'retrigger', 'clear']);
    // A clear when the condition has already cleared changes nothing.
    expect(service.clear({ device: 'pole-1', rule: 'panic' })).toBeUndefined();
  });

  it('latched: only a person resetting ends it; then the rule can raise a new alarm', () => {
    const { service, emitted, now } = setup();
    const a = service.raise(panic);
    now.t += 5000;
    expect(() => service.reset(a.id, { by: '' })).toThrow(/must name the person/);
    const r = service.reset(a.id, { by: 'warden-li', note: 'false alarm, child pressed it' });
    expect(r).toMatchObject({ id: a.id, state: 'reset', updatedAt: now.t });
    expect(service.active()).toHaveLength(0);
    expect(emitted.map((x) => x.state)).toEqual(['raised', 'reset']);
    expect(service.history(a.id).at(-1)).toMatchObject({ from: 'raised', to: 'reset', by: 'warden-li', note: 'false alarm, child pressed it' });
    const b = service.raise(panic);
    expect(b.id).not.toBe(a.id);
    expect(() => service.reset(a.id, { by: 'warden-li' })).toThrow(/already reset/);
  });

  it('non-latched with restore: the clear produces a restore alarm and ends the original, persisted before emit', () => {
    const { service, store, bus, emitted, now } = setup();
    const a = service.raise(tamper);
    expect(a.latch).toBe(false);
    const seenInStore: string[] = [];
    bus.on('alarm', (x) => {
      seenInStore.push(`${x.id}:${store.getAlarm(x.id)?.alarm.state}`);
    });
    now.t += 3000;
    const res = service.clear({ device: 'pole-1', rule: 'tamper', fields: { tamper: 'normal' } })!;
    expect(res.ended).toBe(true);
    expect(res.alarm).toMatchObject({ id: a.id, state: 'reset' });
    expect(res.restore).toMatchObject({
      kind: 'restore',
      restores: a.id,
      state: 'raised',
      latch: false,
      code: { cid: 137, sia: 'TR' },
      fields: { tamper: 'normal' },
      raisedAt: now.t,
    });
    expect(res.restore!.id > a.id).toBe(true);
    expect(emitted.map((x) => `${x.kind}:${x.state}`)).toEqual(['alarm:raised', 'restore:raised', 'alarm:reset']);
    expect(seenInStore).toEqual([`${res.restore!.id}:raised`, `${a.id}:reset`]);
    expect(service.active()).toHaveLength(0);
    expect(service.history(a.id).at(-1)).toMatchObject({ to: 'reset', note: `restored by ${res.restore!.id}` });
  });

  it('non-latched without restore: the clear just ends it', () => {
    const { service, emitted } = setup();
    const a = service.raise({ ...panic, rule: 'motion', severity: 'warning', latch: false });
    const res = service.clear({ device: 'pole-1', rule: 'motion' })!;
    expect(res).toMatchObject({ ended: true, alarm: { id: a.id, state: 'reset' } });
    expect(res.restore).toBeUndefined();
    expect(emitted.map((x) => x.state)).toEqual(['raised', 'reset']);
  });

  it('latched with restore: the receiver gets a restore, but the alarm stays latched until reset', () => {
    const { service } = setup();
    const a = service.raise({ ...panic, rule: 'smoke', code: { cid: 111, sia: 'FA' }, restore: true, restoreSia: 'FH' });
    const res = service.clear({ device: 'pole-1', rule: 'smoke' })!;
    expect(res.ended).toBe(false);
    expect(res.restore).toMatchObject({ kind: 'restore', restores: a.id, code: { cid: 111, sia: 'FH' } });
    expect(service.active().map((x) => x.id)).toEqual([a.id]);
    // Fires again and clears again: one more restore, still one alarm.
    service.raise({ ...panic, rule: 'smoke' });
    const res2 = service.clear({ device: 'pole-1', rule: 'smoke' })!;
    expect(res2.restore?.id).not.toBe(res.restore?.id);
    expect(service.active()).toHaveLength(1);
  });

  it('clear of a rule without an active alarm does nothing', () => {
    const { service, emitted } = setup();
    expect(service.clear({ device: 'pole-1', rule: 'panic' })).toBeUndefined();
    expect(emitted).toHaveLength(0);
  });

  it('transition follows raised -> queued -> sent -> delivered -> acknowledged -> reset, in order', () => {
    const { service, emitted } = setup();
    const a = service.raise(panic);
    for (const to of ['queued', 'sent', 'delivered', 'acknowledged'] as const) service.transition(a.id, to, { by: 'outbox' });
    expect(service.get(a.id)?.state).toBe('acknowledged');
    let err: unknown;
    try {
      service.transition(a.id, 'sent', { by: 'outbox' });
    } catch (e) {
      err = e;
    }
    expect(isShouwangError(err, 'SW_ERR_ALARM_STATE')).toBe(true);
    expect((err as Error).message).toMatch(/acknowledged -> sent/);
    service.reset(a.id, { by: 'officer-wang' });
    expect(emitted.map((x) => x.state)).toEqual(['raised', 'queued', 'sent', 'delivered', 'acknowledged', 'reset']);
    expect(service.history(a.id).map((t) => t.to)).toEqual(['raised', 'queued', 'sent', 'delivered', 'acknowledged', 'reset']);
  });

  it('transition of an unknown alarm -> ALARM_UNKNOWN', () => {
    const { service } = setup();
    expect(() => service.transition('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'queued', { by: 'outbox' })).toThrow(
      expect.objectContaining({ code: 'SW_ERR_ALARM_UNKNOWN' }),
    );
  });

  it('restore alarms can be moved along the delivery lifecycle', () => {
    const { service } = setup();
    service.raise(tamper);
    const { restore } = service.clear({ device: 'pole-1', rule: 'tamper' })!;
    expect(service.transition(restore!.id, 'queued', { by: 'outbox' }).state).toBe('queued');
  });

  it('after a restart, active (latched) alarms are reloaded and still deduplicate re-triggers', () => {
    const first = setup();
    const a = first.service.raise(panic);
    first.service.transition(a.id, 'queued', { by: 'outbox' });
    first.service.raise(tamper);
    first.service.clear({ device: 'pole-1', rule: 'tamper' });
    first.store.close();

    const second = setup({ dir: first.dir });
    expect(second.service.active().map((x) => ({ id: x.id, state: x.state }))).toEqual([{ id: a.id, state: 'queued' }]);
    expect(second.service.raise(panic).id).toBe(a.id);
    expect(second.emitted).toHaveLength(0);
    second.service.reset(a.id, { by: 'warden-li' });
    expect(second.service.active()).toHaveLength(0);
  });

  it('list filters by device, since and limit, newest first', () => {
    const { service, now } = setup();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      now.t += 1000;
      ids.push(service.raise({ ...panic, device: `pole-${i % 2}`, rule: `r${i}` }).id);
    }
    expect(service.list().map((a) => a.id)).toEqual([...ids].reverse());
    expect(service.list({ device: 'pole-1' }).map((a) => a.id)).toEqual([ids[3], ids[1]]);
    expect(service.list({ since: now.t - 1000, limit: 1 }).map((a) => a.id)).toEqual([ids[3]]);
  });

  it('handleFiring maps rules-engine firings (start raises, clear clears, non-alarm events ignored)', () => {
    const { service } = setup();
    const def: EventDef = {
      id: 'tamper',
      name: { zh: '防拆', en: 'Tamper' },
      when: { point: 'tamper', becomes: 'tampered' },
      kind: 'device',
      fields: ['tamper'],
      alarm: { cid: 137, sia: 'TA', siaRestore: 'TR', severity: 'critical', restore: true },
    };
    const dev = { id: 'lock-9', profile: 'generic-rs485-fingerprint-lock', location: { room: '301' } };
    const a = service.handleFiring({ def, phase: 'start', ts: 10, fields: { tamper: 'tampered' }, alarm: def.alarm }, dev)!;
    expect(a).toMatchObject({ device: 'lock-9', rule: 'tamper', latch: false, raisedAt: 10, location: { room: '301' }, code: { cid: 137, sia: 'TA' } });
    const ended = service.handleFiring({ def, phase: 'clear', ts: 20, fields: { tamper: 'normal' } }, dev)!;
    expect(ended).toMatchObject({ id: a.id, state: 'reset' });
    const restores = service.list({ device: 'lock-9' }).filter((x) => x.kind === 'restore');
    expect(restores).toHaveLength(1);
    expect(restores[0]).toMatchObject({ restores: a.id, code: { sia: 'TR' } });
    const plain: EventDef = { ...def, id: 'pass', alarm: undefined };
    expect(service.handleFiring({ def: plain, phase: 'start', ts: 30, fields: {} }, dev)).toBeUndefined();
  });
});
