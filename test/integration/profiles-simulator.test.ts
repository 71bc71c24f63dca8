/**
 * Every shipped profile, loaded against the simulator: each device is polled through the real
 * transport and every point the gateway can read must decode (a value, quality good). The
 * simulator builds its register images from the same profiles with the codec's encoder, so a
 * point that cannot round-trip through real frames shows up here. The MQTT-native profile is
 * fed a JSON uplink by a real device client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../gateway/src/auth/password.js';
import { isJsonPoint } from '../../gateway/src/profiles/schema.js';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import { connect } from '../helpers/mqtt.js';
import { stopAll, waitFor } from '../helpers/processes.js';
import { startGateway, startVillage, type RunningGateway, type RunningVillage } from '../helpers/village.js';

let village: RunningVillage;
let gw: RunningGateway;
const profiles = ProfileRegistry.load(['device-profiles']);
const devices: Record<string, string> = {
  lock: 'generic-rs485-fingerprint-lock',
  entrance: 'generic-access-controller',
  pole: 'generic-alarm-pole',
  io17: 'generic-17ch-alarm-io',
  contact: 'generic-door-contact',
  pir: 'generic-pir',
  smoke: 'generic-smoke-detector',
  gas: 'generic-gas-detector',
  siren: 'generic-siren-strobe',
  lockboard: 'wkly-lock-board',
};

beforeAll(async () => {
  village = await startVillage({ village: 'test/fixtures/villages/all-profiles.yaml', behaviour: false });
  gw = await startGateway(village, {
    polling: { intervals: { alarm: 0, fast: 300, normal: 300, slow: 300 } },
    edit: (c) => {
      // The MQTT-native door sensor joins as a device client.
      (c.devices as unknown[]).push({ id: 'mqtt-door', profile: 'generic-mqtt-door-sensor' });
      const mqtt = c.mqtt as { users: unknown[] };
      mqtt.users.push({ username: 'mqtt-door', passwordHash: hashPassword('door-pass-123'), role: 'device', device: 'mqtt-door' });
    },
  });
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await village?.stop();
  await stopAll();
});

describe('every shipped profile against the simulator', () => {
  it('covers every profile in device-profiles/', () => {
    const shipped = profiles.list().map((p) => p.profile.id).sort();
    expect([...Object.values(devices), 'generic-mqtt-door-sensor'].sort()).toEqual(shipped);
  });

  for (const [device, profileId] of Object.entries(devices)) {
    it(`${profileId}: every point decodes from real frames`, async () => {
      const profile = profiles.get(profileId);
      // Push-only frame points (carried by unsolicited frames) have no value until a push arrives.
      const pushFrames = new Set(profile.serial?.pushes.map((p) => p.id) ?? []);
      const polled = profile.points.filter((p) => !('frame' in p && pushFrames.has(p.frame)));
      const missing = () => polled.filter((p) => gw.gateway.state.snapshot(device).every((s) => s.point !== p.id)).map((p) => p.id);
      await waitFor(() => missing().length === 0, 15_000, `${device} points`).catch(() => {
        throw new Error(`${device}: points never read: ${missing().join(', ')}`);
      });
      for (const point of gw.gateway.state.snapshot(device)) {
        expect(point.quality, `${device}.${point.point}`).toBe('good');
        expect(point.value, `${device}.${point.point}`).not.toBeNull();
        expect(String(point.value), `${device}.${point.point} decodes to a label, not unknown_N`).not.toMatch(/^unknown_/);
      }
      // What the gateway decoded equals what the simulator holds.
      const truth = await village.control.getPoints(device);
      for (const point of gw.gateway.state.snapshot(device)) {
        if (point.point in truth) expect(point.value, `${device}.${point.point} vs simulator`).toEqual(truth[point.point]);
      }
    });
  }

  it('generic-mqtt-door-sensor: JSON uplink fields decode', async () => {
    const client = await connect(gw.mqttUrl, { username: 'mqtt-door', password: 'door-pass-123', clientId: 'mqtt-door' });
    const profile = profiles.get('generic-mqtt-door-sensor');
    const up = { status: { door: 'open' }, battery: 87, tamper: false, signal: { rssi: -67 } };
    await client.publishAsync('shouwang/profiles/mqtt-door/up', JSON.stringify(up), { qos: 1 });
    const jsonPoints = profile.points.filter(isJsonPoint);
    await waitFor(() => gw.gateway.state.snapshot('mqtt-door').length === jsonPoints.length, 5000, 'mqtt-door points');
    const snap = Object.fromEntries(gw.gateway.state.snapshot('mqtt-door').map((p) => [p.point, p]));
    for (const p of Object.values(snap)) expect(p.quality, p.point).toBe('good');
    expect(snap.door?.value).toBe('open');
    expect(snap.battery?.value).toBe(87);
    expect(snap.tamper?.value).toBe('normal');
    expect(snap.rssi?.value).toBe(-67);
    await client.endAsync();
  });
});
