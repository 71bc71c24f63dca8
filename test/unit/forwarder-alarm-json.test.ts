/**
 * The JSON body shared by the webhook and MQTT uplink paths: every documented key present, in the
 * documented order, absent values as null, identical across retries except `attempt`.
 */
import { describe, expect, it } from 'vitest';
import type { Alarm } from '../../gateway/src/core/types.js';
import { alarmJson, alarmJsonBody, heartbeatJson } from '../../gateway/src/alarms/forwarders/alarm-json.js';
import type { OutboundMessage } from '../../gateway/src/alarms/forwarders/types.js';
import { alarmFixture } from '../helpers/alarm-fixture.js';

const alarm: Alarm = alarmFixture({
  site: 'village-1',
  updatedAt: 1718000000500,
  location: { building: 'B7', room: '301', lat: 22.54, lon: 114.05 },
  fields: { button: 'pressed', battery: 3.6 },
});

const message: OutboundMessage = {
  outboxId: 17,
  route: 'police',
  account: '1234',
  seq: 42,
  alarm,
  zone: 3,
  group: 1,
  cameraUrl: 'https://cam.example/snap/3.jpg',
  attempt: 1,
  queuedAt: 1718000000600,
};

describe('alarm JSON body', () => {
  it('carries every documented key, in the documented order, with the message values', () => {
    const text = alarmJson(message);
    expect(Object.keys(JSON.parse(text))).toEqual([
      'type', 'site', 'alarmId', 'account', 'seq', 'kind', 'state', 'device', 'profile', 'rule',
      'name', 'code', 'severity', 'silent', 'latch', 'raisedAt', 'location', 'cameraUrl', 'fields', 'attempt',
    ]);
    expect(JSON.parse(text)).toEqual({
      type: 'alarm',
      site: 'village-1',
      alarmId: '01J9ZK3W8N4Q6T2V5X7Y9A1B3C',
      account: '1234',
      seq: 42,
      kind: 'alarm',
      state: 'queued',
      device: 'pole-3',
      profile: 'generic-alarm-pole',
      rule: 'panic',
      name: { zh: '紧急求助', en: 'Panic' },
      code: { cid: 120, sia: 'PA' },
      severity: 'emergency',
      silent: false,
      latch: true,
      raisedAt: 1718000000000,
      location: { building: 'B7', room: '301', lat: 22.54, lon: 114.05 },
      cameraUrl: 'https://cam.example/snap/3.jpg',
      fields: { button: 'pressed', battery: 3.6 },
      attempt: 1,
    });
  });

  it('does not leak outbox internals (outboxId, route, zone, group, queuedAt, updatedAt)', () => {
    const body = JSON.parse(alarmJson(message)) as Record<string, unknown>;
    for (const key of ['outboxId', 'route', 'zone', 'group', 'queuedAt', 'updatedAt', 'id']) expect(body).not.toHaveProperty(key);
  });

  it('writes absent optional values as null so receivers can rely on every key', () => {
    const bare: OutboundMessage = { ...message, cameraUrl: undefined, alarm: { ...alarm, location: undefined } };
    const body = JSON.parse(alarmJson(bare)) as Record<string, unknown>;
    expect(body.location).toBeNull();
    expect(body.cameraUrl).toBeNull();
    expect(body).not.toHaveProperty('restores');
  });

  it('leaves a code the alarm does not have out of `code` (not null)', () => {
    const cidOnly = JSON.parse(alarmJson({ ...message, alarm: { ...alarm, code: { cid: 121 } } })) as Record<string, unknown>;
    expect(cidOnly.code).toEqual({ cid: 121 });
    const siaOnly = JSON.parse(alarmJson({ ...message, alarm: { ...alarm, code: { sia: 'HA' } } })) as Record<string, unknown>;
    expect(siaOnly.code).toEqual({ sia: 'HA' });
  });

  it('puts `restores` (before `attempt`) only on a restore', () => {
    const restore: OutboundMessage = {
      ...message,
      alarm: { ...alarm, id: '01J9ZK4000000000000000000R', kind: 'restore', code: { cid: 383, sia: 'TR' }, restores: alarm.id },
    };
    const body = alarmJsonBody(restore);
    expect(body.kind).toBe('restore');
    expect(body.restores).toBe(alarm.id);
    expect(Object.keys(body).slice(-2)).toEqual(['restores', 'attempt']);
  });

  it('is byte-identical across retries except for `attempt`', () => {
    const first = alarmJson(message);
    const third = alarmJson({ ...message, attempt: 3 });
    expect(third).not.toBe(first);
    expect(third.replace('"attempt":3', '"attempt":1')).toBe(first);
  });

  it('serialises Chinese names and odd field values as valid JSON', () => {
    const odd: OutboundMessage = { ...message, alarm: { ...alarm, name: { zh: '门被撬"开\n', en: 'Door\u2028forced' }, fields: { flags: { a: true }, none: null } } };
    const body = JSON.parse(alarmJson(odd)) as { name: { zh: string; en: string }; fields: unknown };
    expect(body.name.zh).toBe('门被撬"开\n');
    expect(body.name.en).toBe('Door\u2028forced');
    expect(body.fields).toEqual({ flags: { a: true }, none: null });
  });

  it('builds the heartbeat document', () => {
    expect(JSON.parse(heartbeatJson('village-1', 1718000001234))).toEqual({ type: 'heartbeat', site: 'village-1', at: 1718000001234 });
  });
});
