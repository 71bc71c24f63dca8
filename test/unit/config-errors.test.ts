/**
 * gateway.yaml errors as a technician sees them: `gateway.yaml:<line> <path>: <message>`. Each
 * fixture directory under test/fixtures/config/ holds one gateway.yaml with one mistake; every
 * expected line number is also checked against the fixture's text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDevicesAgainstProfiles, loadConfigFile } from '../../gateway/src/config/load.js';
import { ErrorCodes, isShouwangError, type ShouwangError } from '../../gateway/src/errors.js';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';

const fixtures = join(import.meta.dirname, '../fixtures/config');
const profiles = ProfileRegistry.load([join(import.meta.dirname, '../../device-profiles')]);
const fixture = (name: string) => join(fixtures, name, 'gateway.yaml');

function errorOf(fn: () => unknown): ShouwangError {
  try {
    fn();
  } catch (err) {
    if (isShouwangError(err)) return err;
    throw err;
  }
  throw new Error('expected a ShouwangError, nothing was thrown');
}

/** Load (and cross-check) one fixture and expect exactly this message, with `lineHas` on that line. */
function expectConfigError(name: string, message: string, lineHas: string): void {
  const err = errorOf(() => checkDevicesAgainstProfiles(loadConfigFile(fixture(name)), profiles));
  expect(err.code).toBe(ErrorCodes.CONFIG_INVALID);
  expect(err.message).toBe(message);
  const line = Number(/^gateway\.yaml:(\d+) /.exec(message)![1]);
  expect(readFileSync(fixture(name), 'utf8').split('\n')[line - 1], `line ${line}`).toContain(lineHas);
}

describe('gateway.yaml errors name the line and the field', () => {
  it('a unit id out of range', () => {
    expectConfigError('unit-id-out-of-range', 'gateway.yaml:13 devices[3].unitId: expected 1-247, got 300', 'unitId: 300');
  });

  it('a device on an unknown bus, listing the buses there are', () => {
    expectConfigError('unknown-bus', 'gateway.yaml:9 devices[1].bus: unknown bus "line-c" (buses: line-a, line-b)', 'bus: line-c');
  });

  it('a unit id used twice on one bus (the same id on another bus is fine)', () => {
    expectConfigError('duplicate-unit-id', 'gateway.yaml:10 devices[2].unitId: unit 1 on bus "line-a" is already used by "lock-101"', 'smoke-101');
  });

  it('an unknown profile, with the likely intended one', () => {
    const err = errorOf(() => checkDevicesAgainstProfiles(loadConfigFile(fixture('unknown-profile')), profiles));
    expect(err.message).toMatch(
      /^gateway\.yaml:6 devices\[1\]\.profile: unknown profile "generic-rs485-fingerprint-lok" \(did you mean "generic-rs485-fingerprint-lock"\? known: generic-17ch-alarm-io, .*wkly-lock-board\)$/,
    );
    // Without the registry check the file itself is valid: profiles are a second step.
    expect(() => loadConfigFile(fixture('unknown-profile'))).not.toThrow();
  });

  it('a profile that cannot speak the bus type', () => {
    expectConfigError('wrong-transport', 'gateway.yaml:5 devices[0].bus: profile "wkly-lock-board" speaks raw-serial, not modbus-rtu', 'board-1');
  });

  it('a Modbus device without a unit id', () => {
    expectConfigError('missing-unit-id', 'gateway.yaml:5 devices[0]: unitId is required on rtu bus "line-a"', 'lock-101');
  });

  it('a duplicate device id', () => {
    expectConfigError('duplicate-device-id', 'gateway.yaml:6 devices[1].id: duplicate device id "lock-101"', 'unitId: 2');
  });

  it('a refinement failure shows the value (non-standard baud rate)', () => {
    expectConfigError('bad-baud', 'gateway.yaml:6 buses[0].baudRate: expected a standard baud rate (1200-115200), got 9601', 'baudRate: 9601');
  });

  it('a YAML syntax error, with its line', () => {
    const err = errorOf(() => loadConfigFile(fixture('syntax-error')));
    expect(err.code).toBe(ErrorCodes.CONFIG_INVALID);
    const first = err.message.split('\n')[0];
    expect(first).toBe('gateway.yaml:7 YAML syntax: Sequence item without - indicator');
    expect(readFileSync(fixture('syntax-error'), 'utf8').split('\n')[6]).toBe('   bus: line-a');
  });

  it('a key given twice in one mapping', () => {
    const err = errorOf(() => loadConfigFile(fixture('duplicate-key')));
    expect(err.message).toBe('gateway.yaml:9 YAML syntax: Map keys must be unique');
  });

  it('a missing file is CONFIG_NOT_FOUND, not a validation error', () => {
    const err = errorOf(() => loadConfigFile(join(fixtures, 'no-such-dir', 'gateway.yaml')));
    expect(err.code).toBe(ErrorCodes.CONFIG_NOT_FOUND);
    expect(err.message).toBe(`${join(fixtures, 'no-such-dir', 'gateway.yaml')}: config file not found`);
  });
});

describe('a valid gateway.yaml', () => {
  const loaded = loadConfigFile(fixture('valid'));

  it('loads, passes the profile cross-check and resolves relative paths against its own directory', () => {
    expect(() => checkDevicesAgainstProfiles(loaded, profiles)).not.toThrow();
    expect(loaded.config.storage.dir).toBe(join(fixtures, 'valid', 'data'));
    expect(loaded.config.profiles.dirs).toEqual([join(import.meta.dirname, '../../device-profiles')]);
    expect(loaded.config.devices.map((d) => d.id)).toEqual(['lock-101', 'lock-102', 'pole-east', 'board-1', 'io-1', 'door-gate']);
  });

  it('applies defaults and converts durations', () => {
    const [line, , lan] = loaded.config.buses;
    expect(line).toMatchObject({ type: 'rtu', baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1, timeout: 300 });
    expect(lan).toMatchObject({ type: 'tcp', timeout: 500 });
    expect(line!.polling.intervals).toEqual({ alarm: 0, fast: 1000, normal: 5000, slow: 60_000 });
    expect(loaded.config.devices[0]!.location).toEqual({ building: 'A', room: '101' });
    expect(loaded.config.devices[5]!.enabled).toBe(true);
  });

  it('is frozen: no module can change what another reads', () => {
    expect(Object.isFrozen(loaded.config)).toBe(true);
    expect(Object.isFrozen(loaded.config.devices[0])).toBe(true);
    expect(() => {
      (loaded.config.devices as unknown as unknown[]).push({});
    }).toThrow(TypeError);
  });

  it('an MQTT-native device may only use an MQTT profile', () => {
    const bad = { ...loaded, config: { ...loaded.config, devices: [{ ...loaded.config.devices[5]!, profile: 'generic-pir' }] } };
    const err = errorOf(() => checkDevicesAgainstProfiles(bad, profiles));
    expect(err.message).toMatch(/devices\[0\]\.profile: profile "generic-pir" speaks modbus-rtu, not mqtt$/);
  });
});
