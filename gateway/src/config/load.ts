/**
 * Load gateway.yaml: parse, validate with zod, check cross references (buses, profiles,
 * unit ids), freeze. Every error names the file, line and field.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ErrorCodes, ShouwangError } from '../errors.js';
import type { ProfileRegistry } from '../profiles/registry.js';
import { deepFreeze, locatedError, readYamlFile, validateYaml, type ParsedYaml } from './yaml-source.js';
import { gatewayConfigSchema, type GatewayConfig } from './schema.js';

export interface LoadedConfig {
  config: GatewayConfig;
  file: string;
  parsed: ParsedYaml;
}

/** Parse and schema-validate; relative paths (storage, profiles) are resolved against the file's directory. */
export function loadConfigFile(file: string): LoadedConfig {
  // A missing file is a different mistake (wrong path, first run) from a broken one.
  if (!existsSync(file)) throw new ShouwangError(ErrorCodes.CONFIG_NOT_FOUND, `${file}: config file not found`, { details: { file } });
  const parsed = readYamlFile(file, ErrorCodes.CONFIG_INVALID);
  const raw = validateYaml(parsed, gatewayConfigSchema, ErrorCodes.CONFIG_INVALID);
  const base = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const config: GatewayConfig = {
    ...raw,
    storage: { dir: abs(raw.storage.dir) },
    profiles: { dirs: raw.profiles.dirs.map(abs) },
    mqtt: { ...raw.mqtt, usersFile: raw.mqtt.usersFile === undefined ? undefined : abs(raw.mqtt.usersFile) },
  };
  checkStructure(parsed, config);
  return { config: deepFreeze(config), file, parsed };
}

function checkStructure(parsed: ParsedYaml, c: GatewayConfig): void {
  const busIds = new Map<string, number>();
  c.buses.forEach((b, i) => {
    if (busIds.has(b.id)) throw locatedError(parsed, ErrorCodes.CONFIG_INVALID, ['buses', i, 'id'], `duplicate bus id "${b.id}"`);
    busIds.set(b.id, i);
  });
  const deviceIds = new Set<string>();
  const unitIds = new Map<string, string>();
  c.devices.forEach((d, i) => {
    if (deviceIds.has(d.id)) throw locatedError(parsed, ErrorCodes.CONFIG_INVALID, ['devices', i, 'id'], `duplicate device id "${d.id}"`);
    deviceIds.add(d.id);
    if (d.bus === undefined) return;
    const busIndex = busIds.get(d.bus);
    if (busIndex === undefined)
      throw locatedError(parsed, ErrorCodes.CONFIG_INVALID, ['devices', i, 'bus'], `unknown bus "${d.bus}" (buses: ${[...busIds.keys()].join(', ') || 'none'})`);
    const bus = c.buses[busIndex]!;
    if (bus.type !== 'raw-serial' && d.unitId === undefined)
      throw locatedError(parsed, ErrorCodes.CONFIG_INVALID, ['devices', i], `unitId is required on ${bus.type} bus "${bus.id}"`);
    if (d.unitId !== undefined) {
      const key = `${d.bus}/${d.unitId}`;
      const other = unitIds.get(key);
      if (other)
        throw locatedError(parsed, ErrorCodes.CONFIG_INVALID, ['devices', i, 'unitId'], `unit ${d.unitId} on bus "${d.bus}" is already used by "${other}"`);
      unitIds.set(key, d.id);
    }
  });
}

/** Check that every device names a known profile that supports its bus type. */
export function checkDevicesAgainstProfiles(loaded: LoadedConfig, profiles: ProfileRegistry): void {
  const { config, parsed } = loaded;
  const busType = new Map(config.buses.map((b) => [b.id, b.type]));
  const needs = { rtu: 'modbus-rtu', tcp: 'modbus-tcp', 'rtu-over-tcp': 'modbus-rtu', 'raw-serial': 'raw-serial' } as const;
  config.devices.forEach((d, i) => {
    if (!profiles.has(d.profile)) {
      const known = profiles.list().map((p) => p.profile.id);
      const near = closest(d.profile, known);
      const hint = near === undefined ? '' : `did you mean "${near}"? `;
      throw locatedError(parsed, ErrorCodes.CONFIG_INVALID, ['devices', i, 'profile'], `unknown profile "${d.profile}" (${hint}known: ${known.join(', ')})`);
    }
    const p = profiles.get(d.profile);
    const t = d.bus === undefined ? undefined : busType.get(d.bus);
    const want = t === undefined ? 'mqtt' : needs[t];
    const ok = p.transport.includes(want) || (t === 'rtu-over-tcp' && p.transport.includes('rtu-over-tcp'));
    if (!ok)
      throw locatedError(
        parsed,
        ErrorCodes.CONFIG_INVALID,
        ['devices', i, d.bus === undefined ? 'profile' : 'bus'],
        `profile "${d.profile}" speaks ${p.transport.join('/')}, not ${want}`,
      );
  });
}

/** The known id within a few typos of `wanted` (profile ids are long; a dropped letter is the usual mistake). */
function closest(wanted: string, known: readonly string[]): string | undefined {
  let best: { id: string; d: number } | undefined;
  for (const id of known) {
    const d = editDistance(wanted, id);
    if (d <= 3 && (best === undefined || d < best.d)) best = { id, d };
  }
  return best?.id;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
