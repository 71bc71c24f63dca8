/**
 * Village files: schema errors name file:line, generators expand into devices placed on buses
 * (never more than 31 slaves per RTU bus), the shipped villages load against the shipped
 * profiles, and gatewayConfigFor produces a config the gateway accepts.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gatewayConfigSchema } from '../../gateway/src/config/schema.js';
import { isShouwangError } from '../../gateway/src/errors.js';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import type { SimEndpoints } from '../../simulator/src/control-types.js';
import { gatewayConfigFor } from '../../simulator/src/gateway-config.js';
import { buildingNames, checkVillageProfiles, loadVillageFile, villageFromText } from '../../simulator/src/village-schema.js';

const repo = new URL('../..', import.meta.url).pathname;
const villages = join(repo, 'simulator/villages');
const profiles = ProfileRegistry.load([join(repo, 'device-profiles')]);

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isShouwangError(e)) return e.message;
    throw e;
  }
  throw new Error('expected an error');
}

describe('village file', () => {
  it('reports schema errors with file and line', () => {
    const text = ['site: { id: v }', 'buses:', '  - id: b1', '    kind: rtu', '    devices:', '      - { id: d1, profile: generic-alarm-pole, unitId: 300 }'].join('\n');
    expect(errorOf(() => villageFromText(text, 'bad.yaml'))).toMatch(/^bad\.yaml:6 buses\[0\]\.devices\[0\]\.unitId: expected 1-247, got 300/);
    const baud = ['site: { id: v }', 'buses:', '  - { id: b1, kind: rtu, baud: 9601 }'].join('\n');
    expect(errorOf(() => villageFromText(baud, 'baud.yaml'))).toMatch(/baud\.yaml:3 buses\[0\]\.baud: expected a standard baud rate/);
  });

  it('rejects duplicate unit ids and more than 31 slaves on an RTU bus', () => {
    const dup = ['site: { id: v }', 'buses:', '  - id: b1', '    kind: rtu', '    devices:', '      - { id: a, profile: p, unitId: 4 }', '      - { id: b, profile: p, unitId: 4 }'].join('\n');
    expect(errorOf(() => villageFromText(dup, 'dup.yaml'))).toMatch(/dup\.yaml:7 .*unit 4 on bus "b1" is already used by "a"/);
    const many = ['site: { id: v }', 'buses: [{ id: b1, kind: rtu }, { id: b2, kind: rtu }]', 'generate:', '  - { profile: p, buildings: 2, floors: 2, roomsPerFloor: 8, buses: [b1] }'].join('\n');
    expect(errorOf(() => villageFromText(many, 'many.yaml'))).toMatch(/many\.yaml:4 generate\[0\]\.buses: not enough room for 32 devices/);
  });

  it('expands a generator over buses in order, 31 slaves each, with locations and seeded tenants', () => {
    const text = [
      'site: { id: v }',
      'seed: 3',
      'buses: [{ id: b1, kind: rtu, devices: [{ id: pole, profile: p, unitId: 1 }] }, { id: b2, kind: rtu }]',
      'generate:',
      '  - profile: generic-rs485-fingerprint-lock',
      '    buildings: 4',
      '    floors: 2',
      '    roomsPerFloor: 5',
      '    buses: [b1, b2]',
      '    tenants: { min: 1, max: 3, methods: [fingerprint, card] }',
      '    origin: { lat: 22.5, lon: 113.9 }',
    ].join('\n');
    const v = villageFromText(text);
    expect(v.buses[0]!.devices).toHaveLength(31);
    expect(v.buses[1]!.devices).toHaveLength(10); // 1 pole + 30 locks (A-C) on b1, D on b2
    expect(v.buses[0]!.devices[1]).toMatchObject({ id: 'lock-A-101', unitId: 2, location: { building: 'A', floor: '1', room: '101' } });
    expect(v.buses[1]!.devices[0]).toMatchObject({ id: 'lock-D-101', unitId: 1, location: { building: 'D', floor: '1', room: '101' } });
    for (const d of v.devices.slice(1)) {
      expect(d.tenants.length).toBeGreaterThanOrEqual(1);
      expect(d.tenants.length).toBeLessThanOrEqual(3);
      expect(d.location.lat).toBeGreaterThan(22.4);
    }
    // The same seed gives the same tenants; another seed, other tenants.
    expect(villageFromText(text).devices.map((d) => d.tenants)).toEqual(v.devices.map((d) => d.tenants));
    expect(villageFromText(text.replace('seed: 3', 'seed: 4')).devices.map((d) => d.tenants)).not.toEqual(v.devices.map((d) => d.tenants));
  });

  it('names buildings A..Z then AA', () => {
    expect(buildingNames(28).slice(24)).toEqual(['Y', 'Z', 'AA', 'AB']);
  });

  it('names the device line when a profile is unknown or speaks another transport', () => {
    const text = ['site: { id: v }', 'buses:', '  - id: b1', '    kind: rtu', '    devices:', '      - { id: d1, profile: no-such-profile, unitId: 1 }'].join('\n');
    expect(errorOf(() => checkVillageProfiles(villageFromText(text, 'p.yaml'), profiles))).toMatch(/^p\.yaml:6 .*unknown profile "no-such-profile"/);
    const wrong = ['site: { id: v }', 'buses:', '  - id: b1', '    kind: tcp', '    devices:', '      - { id: d1, profile: generic-pir }'].join('\n');
    expect(errorOf(() => checkVillageProfiles(villageFromText(wrong, 'w.yaml'), profiles))).toMatch(/w\.yaml:6 .*speaks modbus-rtu, not modbus-tcp/);
  });
});

describe('shipped villages', () => {
  it.each(['demo.yaml', 'bench-9600.yaml', 'bench-115200.yaml', 'footprint-500.yaml'])('%s loads against the shipped profiles', (file) => {
    const v = loadVillageFile(join(villages, file));
    checkVillageProfiles(v, profiles);
    for (const b of v.buses) if (b.kind === 'rtu') expect(b.devices.length).toBeLessThanOrEqual(31);
  });

  it('demo: a lively village of dozens of locks on several 9600 buses, TCP devices and a lock board', () => {
    const v = loadVillageFile(join(villages, 'demo.yaml'));
    const kinds = new Map<string, number>();
    for (const d of v.devices) kinds.set(profiles.get(d.profile).kind, (kinds.get(profiles.get(d.profile).kind) ?? 0) + 1);
    expect(kinds.get('door-lock')).toBeGreaterThanOrEqual(36);
    for (const k of ['access-controller', 'alarm-pole', 'door-contact', 'pir', 'smoke-detector', 'gas-detector', 'siren', 'io-module', 'lock-board'])
      expect(kinds.get(k), k).toBeGreaterThanOrEqual(1);
    const rtu = v.buses.filter((b) => b.kind === 'rtu');
    expect(rtu.length).toBeGreaterThanOrEqual(3);
    // Lock, entrance and safety lines run at 9600 like most installed RS485; the fire line at 19200.
    expect(rtu.filter((b) => b.baud === 9600).length).toBeGreaterThanOrEqual(3);
    expect(rtu.every((b) => b.baud === 9600 || b.baud === 19200)).toBe(true);
    expect(v.buses.some((b) => b.kind === 'tcp' && b.devices.length > 0)).toBe(true);
    expect(v.buses.find((b) => b.kind === 'raw-serial')?.devices[0]?.profile).toBe('wkly-lock-board');
    expect(v.behaviour.enabled).toBe(true);
    // Visibly alive: some passes a minute, a pole press every few minutes.
    const locks = kinds.get('door-lock')!;
    const perMinute = (locks * v.behaviour.rates.tenantPass + kinds.get('access-controller')! * v.behaviour.rates.accessPass) / 60;
    expect(perMinute).toBeGreaterThan(1);
    const pressesPerHour = kinds.get('alarm-pole')! * v.behaviour.rates.polePress;
    expect(60 / pressesPerHour).toBeGreaterThanOrEqual(2);
    expect(60 / pressesPerHour).toBeLessThanOrEqual(10);
  });

  it('benches: 31 slaves on one bus (9600: 8 poles), 31 poles at 115200, 500 TCP devices; still villages for benches', () => {
    const b9600 = loadVillageFile(join(villages, 'bench-9600.yaml'));
    expect(b9600.buses).toHaveLength(1);
    expect(b9600.buses[0]).toMatchObject({ kind: 'rtu', baud: 9600 });
    expect(b9600.devices).toHaveLength(31);
    expect(b9600.devices.filter((d) => d.profile === 'generic-alarm-pole')).toHaveLength(8);
    expect(b9600.behaviour.enabled).toBe(false);
    const b115 = loadVillageFile(join(villages, 'bench-115200.yaml'));
    expect(b115.buses[0]).toMatchObject({ kind: 'rtu', baud: 115200 });
    expect(b115.devices.filter((d) => d.profile === 'generic-alarm-pole')).toHaveLength(31);
    expect(b115.behaviour.enabled).toBe(false);
    const fp = loadVillageFile(join(villages, 'footprint-500.yaml'));
    expect(fp.devices).toHaveLength(500);
    expect(fp.buses.every((b) => b.kind === 'tcp')).toBe(true);
  });
});

describe('gatewayConfigFor', () => {
  it('gives the gateway the same buses, devices, unit ids and locations the simulator plays', () => {
    const v = loadVillageFile(join(villages, 'demo.yaml'));
    const endpoints: SimEndpoints = {
      buses: v.buses
        .filter((b) => b.kind !== 'tcp')
        .map((b) =>
          b.kind === 'rtu'
            ? { id: b.id, type: 'rtu' as const, path: `/tmp/x/${b.id}`, baud: b.baud, parity: b.parity }
            : { id: b.id, type: 'raw-serial' as const, path: `/tmp/x/${b.id}`, baud: b.baud, parity: b.parity },
        ),
      tcpDevices: v.buses
        .filter((b) => b.kind === 'tcp')
        .flatMap((b) => b.devices.map((d, i) => ({ id: d.id, bus: b.id, type: 'tcp' as const, host: '127.0.0.1', port: 20000 + i, unitId: d.unitId }))),
      control: 'http://127.0.0.1:1',
      lines: 'pty',
      unavailable: [],
      runDir: '/tmp/x',
    };
    const cfg = gatewayConfigSchema.parse(gatewayConfigFor(v, endpoints));
    expect(cfg.site).toMatchObject({ id: 'xinan', name: '新安村' });
    expect(cfg.devices).toHaveLength(v.devices.length);
    for (const d of v.devices) {
      const g = cfg.devices.find((x) => x.id === d.id)!;
      expect(g.profile).toBe(d.profile);
      expect(g.unitId).toBe(d.unitId);
      expect(g.location).toEqual(d.location);
      const bus = cfg.buses.find((b) => b.id === g.bus)!;
      if (bus.type === 'tcp') expect(bus.port).toBe(endpoints.tcpDevices.find((t) => t.id === d.id)!.port);
      else expect(bus.id).toBe(d.busId);
    }
    const locks1 = cfg.buses.find((b) => b.id === 'rs485-locks-1')!;
    expect(locks1).toMatchObject({ type: 'rtu', path: '/tmp/x/rs485-locks-1', baudRate: 9600, parity: 'none' });
  });
});
