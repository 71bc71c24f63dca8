/**
 * The village file (simulator/villages/*.yaml): which buses exist, which devices hang on them,
 * who lives behind each lock and how lively the village is. Parsed with the gateway's YAML
 * loader so a mistake reads `demo.yaml:42 buses[1].devices[3].unitId: expected 1-247, got 300`.
 *
 * The file is expanded at load time (generators become plain devices) into a `Village`, the one
 * shape the rest of the simulator and `gatewayConfigFor` consume.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ErrorCodes } from '../../gateway/src/errors.js';
import { locationSchema } from '../../gateway/src/config/schema.js';
import { locatedError, parseYamlText, readYamlFile, validateYaml, type ParsedYaml } from '../../gateway/src/config/yaml-source.js';
import type { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import { Rng } from './rng.js';

const idSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'ids use letters, digits, - and _');
const intRange = (min: number, max: number) =>
  z.number().int(`expected an integer ${min}-${max}`).min(min, `expected ${min}-${max}`).max(max, `expected ${min}-${max}`);

export const STANDARD_BAUDS = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] as const;
/** An RS485 segment carries 32 unit loads: the master and at most 31 slaves. */
export const MAX_RTU_SLAVES = 31;

export const accessMethodSchema = z.enum(['fingerprint', 'card', 'id_card', 'face', 'pin', 'temp_code', 'remote', 'key']);
export type AccessMethod = z.infer<typeof accessMethodSchema>;

export const tenantSchema = z
  .object({
    /** User slot in the lock (what the lock reports as last_user). */
    slot: intRange(1, 65535),
    name: z.string().optional(),
    methods: z.array(accessMethodSchema).min(1).default(['fingerprint']),
    /** Card number for card / id_card passes; derived from the slot when omitted. */
    card: z.number().int().min(0).max(0xffffffff).optional(),
  })
  .strict();
export type Tenant = z.infer<typeof tenantSchema>;

const initialValue = z.union([z.number(), z.boolean(), z.string(), z.record(z.string(), z.boolean())]);

const villageDeviceSchema = z
  .object({
    id: idSchema,
    name: z.string().optional(),
    profile: z.string().min(1),
    /** Modbus unit id (rtu / tcp) or board address (raw-serial). TCP and raw-serial default to 1. */
    unitId: intRange(1, 247).optional(),
    location: locationSchema.default({}),
    tenants: z.array(tenantSchema).default([]),
    /** Point values at start, overriding the simulator's defaults. */
    initial: z.record(z.string(), initialValue).default({}),
  })
  .strict();

const villageBusSchema = z
  .object({
    id: idSchema,
    name: z.string().optional(),
    /** rtu: RS485 Modbus RTU line (a pty pair); tcp: Modbus TCP devices, one port each; raw-serial: a vendor protocol line. */
    kind: z.enum(['rtu', 'tcp', 'raw-serial']),
    baud: z
      .number()
      .int()
      .refine((b) => (STANDARD_BAUDS as readonly number[]).includes(b), 'expected a standard baud rate (1200-115200)')
      .default(9600),
    parity: z.enum(['none', 'even', 'odd']).default('none'),
    devices: z.array(villageDeviceSchema).default([]),
  })
  .strict();

/** Events per device per hour. 0 turns one behaviour off. */
const rate = z.number().min(0).max(36_000);
export const ratesSchema = z
  .object({
    /** Tenant comes or goes through a lock (pass, door opens, closes, bolt locks). */
    tenantPass: rate.default(2),
    /** A stranger tries wrong fingerprints at a lock. */
    stranger: rate.default(0.05),
    /** Someone presses an alarm pole's button. */
    polePress: rate.default(0.3),
    tamper: rate.default(0.01),
    lowBattery: rate.default(0.005),
    smoke: rate.default(0.01),
    gas: rate.default(0.01),
    /** Card / ID card / face pass at a building entrance controller. */
    accessPass: rate.default(20),
    motion: rate.default(6),
    doorContact: rate.default(4),
    /** An input of an I/O module changes. */
    ioInput: rate.default(1),
    /** A door behind a raw-serial lock board is opened with the key. */
    lockBoardDoor: rate.default(2),
  })
  .strict();
export type BehaviourRates = z.infer<typeof ratesSchema>;

const behaviourSchema = z.union([
  z.enum(['on', 'off']),
  z.boolean(),
  z
    .object({
      enabled: z.boolean().default(true),
      rates: ratesSchema.default(ratesSchema.parse({})),
      /** Seconds a door stays open after a pass (min, max). */
      doorOpenSeconds: z.tuple([z.number().min(0), z.number().min(0)]).default([3, 8]),
    })
    .strict(),
]);

const generatorSchema = z
  .object({
    profile: z.string().min(1),
    /** A number of buildings (named A, B, C...) or their names. */
    buildings: z.union([intRange(1, 200), z.array(z.string().regex(/^[A-Za-z0-9_-]+$/)).min(1)]),
    floors: intRange(1, 99).default(1),
    roomsPerFloor: intRange(1, 99),
    /** Buses filled in order; each takes devices up to its free unit ids (31 slaves on an RTU bus). */
    buses: z.array(idSchema).min(1),
    /** Device id template: {building}, {floor}, {room}, {n} (running number from 1). */
    id: z.string().default('lock-{building}-{room}'),
    tenants: z
      .object({ min: intRange(0, 20).default(1), max: intRange(0, 20).default(3), methods: z.array(accessMethodSchema).min(1).default(['fingerprint', 'card']) })
      .strict()
      .optional(),
    /** Where building A stands; the others are laid out eastwards. */
    origin: z.object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) }).strict().optional(),
  })
  .strict();

export const villageFileSchema = z
  .object({
    site: z
      .object({ id: idSchema, name: z.string().default(''), address: z.string().optional() })
      .strict(),
    /** Seed of the behaviour RNG: the same seed plays the same story. */
    seed: z.number().int().min(0).max(0xffffffff).default(1),
    /** Profile directories, relative to this file. Default: the repository's device-profiles/. */
    profiles: z.array(z.string()).min(1).optional(),
    behaviour: behaviourSchema.default('on'),
    buses: z.array(villageBusSchema).min(1),
    generate: z.array(generatorSchema).default([]),
  })
  .strict();
export type VillageFile = z.infer<typeof villageFileSchema>;

export type BusKind = 'rtu' | 'tcp' | 'raw-serial';
export type Parity = 'none' | 'even' | 'odd';
export type Location = z.infer<typeof locationSchema>;

export interface VillageDevice {
  id: string;
  name: string | undefined;
  profile: string;
  busId: string;
  unitId: number;
  location: Location;
  tenants: Tenant[];
  initial: Record<string, number | boolean | string | Record<string, boolean>>;
  /** Where in the file this device came from (for located errors). */
  sourcePath: ReadonlyArray<string | number>;
}

export interface VillageBus {
  id: string;
  name: string | undefined;
  kind: BusKind;
  baud: number;
  parity: Parity;
  devices: VillageDevice[];
}

export interface VillageBehaviour {
  enabled: boolean;
  rates: BehaviourRates;
  doorOpenSeconds: [number, number];
}

export interface Village {
  file: string;
  site: { id: string; name: string; address: string | undefined };
  seed: number;
  profileDirs: string[];
  behaviour: VillageBehaviour;
  buses: VillageBus[];
  /** Every device of every bus, in file order. */
  devices: VillageDevice[];
  /** The parsed file, to put line numbers on errors found later (unknown profile...). */
  source: ParsedYaml;
}

/** The repository's device-profiles/ (works from sources and from dist/). */
export function defaultProfileDirs(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const dir = resolve(here, up, 'device-profiles');
    if (existsSync(dir)) return [dir];
  }
  return [resolve(here, '../..', 'device-profiles')];
}

export function loadVillageFile(file: string): Village {
  return villageFromParsed(readYamlFile(file, ErrorCodes.CONFIG_INVALID), resolve(file));
}

/** For tests: a village from YAML text (relative profile dirs resolve against `baseDir`). */
export function villageFromText(text: string, file = 'village.yaml', baseDir = process.cwd()): Village {
  return villageFromParsed(parseYamlText(text, file, ErrorCodes.CONFIG_INVALID), resolve(baseDir, file));
}

function villageFromParsed(parsed: ParsedYaml, absFile: string): Village {
  const raw = validateYaml(parsed, villageFileSchema, ErrorCodes.CONFIG_INVALID);
  const base = dirname(absFile);
  const behaviour = normaliseBehaviour(raw.behaviour);
  const buses: VillageBus[] = raw.buses.map((b, bi) => ({
    id: b.id,
    name: b.name,
    kind: b.kind,
    baud: b.baud,
    parity: b.parity,
    devices: b.devices.map((d, di) => {
      const sourcePath = ['buses', bi, 'devices', di] as const;
      if (d.unitId === undefined && b.kind === 'rtu')
        throw locatedError(parsed, ErrorCodes.CONFIG_INVALID, sourcePath, `unitId is required on rtu bus "${b.id}"`);
      return {
        id: d.id,
        name: d.name,
        profile: d.profile,
        busId: b.id,
        unitId: d.unitId ?? 1,
        location: d.location,
        tenants: d.tenants,
        initial: d.initial,
        sourcePath,
      };
    }),
  }));
  const busIndex = new Map<string, number>();
  buses.forEach((b, i) => {
    if (busIndex.has(b.id)) throw locatedError(parsed, ErrorCodes.CONFIG_INVALID, ['buses', i, 'id'], `duplicate bus id "${b.id}"`);
    busIndex.set(b.id, i);
  });
  raw.generate.forEach((g, gi) => expandGenerator(parsed, g, gi, buses, busIndex, raw.seed));

  const ids = new Set<string>();
  for (const bus of buses) {
    const units = new Map<number, string>();
    for (const d of bus.devices) {
      if (ids.has(d.id)) throw locatedError(parsed, ErrorCodes.CONFIG_INVALID, [...d.sourcePath, 'id'], `duplicate device id "${d.id}"`);
      ids.add(d.id);
      // TCP devices each have their own port, so unit ids may repeat there.
      if (bus.kind === 'tcp') continue;
      const other = units.get(d.unitId);
      if (other !== undefined)
        throw locatedError(parsed, ErrorCodes.CONFIG_INVALID, [...d.sourcePath, 'unitId'], `unit ${d.unitId} on bus "${bus.id}" is already used by "${other}"`);
      units.set(d.unitId, d.id);
    }
    if (bus.kind === 'rtu' && bus.devices.length > MAX_RTU_SLAVES) {
      const i = busIndex.get(bus.id)!;
      throw locatedError(
        parsed,
        ErrorCodes.CONFIG_INVALID,
        ['buses', i, 'devices'],
        `bus "${bus.id}" has ${bus.devices.length} slaves; an RS485 segment carries at most ${MAX_RTU_SLAVES}`,
      );
    }
  }
  const profileDirs = raw.profiles ? raw.profiles.map((p) => (isAbsolute(p) ? p : resolve(base, p))) : defaultProfileDirs();
  return {
    file: absFile,
    site: { id: raw.site.id, name: raw.site.name, address: raw.site.address },
    seed: raw.seed,
    profileDirs,
    behaviour,
    buses,
    devices: buses.flatMap((b) => b.devices),
    source: parsed,
  };
}

function normaliseBehaviour(b: VillageFile['behaviour']): VillageBehaviour {
  const rates = ratesSchema.parse({});
  if (b === 'on' || b === true) return { enabled: true, rates, doorOpenSeconds: [3, 8] };
  if (b === 'off' || b === false) return { enabled: false, rates, doorOpenSeconds: [3, 8] };
  return { enabled: b.enabled, rates: b.rates, doorOpenSeconds: b.doorOpenSeconds };
}

/** Building names for a count: A..Z, then AA, AB... */
export function buildingNames(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = '';
    let k = i;
    do {
      s = String.fromCharCode(65 + (k % 26)) + s;
      k = Math.floor(k / 26) - 1;
    } while (k >= 0);
    out.push(s);
  }
  return out;
}

function expandGenerator(
  parsed: ParsedYaml,
  g: VillageFile['generate'][number],
  gi: number,
  buses: VillageBus[],
  busIndex: Map<string, number>,
  seed: number,
): void {
  const targets = g.buses.map((id, i) => {
    const idx = busIndex.get(id);
    if (idx === undefined)
      throw locatedError(parsed, ErrorCodes.CONFIG_INVALID, ['generate', gi, 'buses', i], `unknown bus "${id}" (buses: ${[...busIndex.keys()].join(', ')})`);
    return buses[idx]!;
  });
  const rng = new Rng(seed).fork(`generate-${gi}`);
  const names = Array.isArray(g.buildings) ? g.buildings : buildingNames(g.buildings);
  let target = 0;
  let n = 0;
  names.forEach((building, bi) => {
    for (let floor = 1; floor <= g.floors; floor++) {
      for (let r = 1; r <= g.roomsPerFloor; r++) {
        n++;
        const room = `${floor}${String(r).padStart(2, '0')}`;
        const id = g.id.replaceAll('{building}', building).replaceAll('{floor}', String(floor)).replaceAll('{room}', room).replaceAll('{n}', String(n));
        if (!idSchema.safeParse(id).success)
          throw locatedError(parsed, ErrorCodes.CONFIG_INVALID, ['generate', gi, 'id'], `template makes "${id}", not a valid device id`);
        // Find the next bus with a free unit id.
        let placed: { bus: VillageBus; unitId: number } | undefined;
        while (target < targets.length && !placed) {
          const bus = targets[target]!;
          const unitId = freeUnit(bus);
          if (unitId === undefined) target++;
          else placed = { bus, unitId };
        }
        if (!placed)
          throw locatedError(
            parsed,
            ErrorCodes.CONFIG_INVALID,
            ['generate', gi, 'buses'],
            `not enough room for ${names.length * g.floors * g.roomsPerFloor} devices on ${g.buses.join(', ')} (at most ${MAX_RTU_SLAVES} slaves per rtu bus)`,
          );
        const tenants: Tenant[] = [];
        if (g.tenants) {
          const count = rng.int(g.tenants.min, Math.max(g.tenants.min, g.tenants.max));
          for (let slot = 1; slot <= count; slot++) {
            const k = rng.int(1, g.tenants.methods.length);
            const methods = [...g.tenants.methods].sort(() => rng.next() - 0.5).slice(0, k);
            tenants.push({ slot, methods });
          }
        }
        const location: Location = { building, floor: String(floor), room };
        if (g.origin) {
          location.lat = Number((g.origin.lat + (r - 1) * 0.00002).toFixed(6));
          location.lon = Number((g.origin.lon + bi * 0.0004 + (floor - 1) * 0.000005).toFixed(6));
        }
        placed.bus.devices.push({
          id,
          name: undefined,
          profile: g.profile,
          busId: placed.bus.id,
          unitId: placed.unitId,
          location,
          tenants,
          initial: {},
          sourcePath: ['generate', gi],
        });
      }
    }
  });
}

function freeUnit(bus: VillageBus): number | undefined {
  if (bus.kind === 'tcp') return 1;
  if (bus.kind === 'rtu' && bus.devices.length >= MAX_RTU_SLAVES) return undefined;
  const used = new Set(bus.devices.map((d) => d.unitId));
  for (let u = 1; u <= 247; u++) if (!used.has(u)) return u;
  return undefined;
}

/** Transport a profile must support for a device on a bus of this kind. */
export const transportForBusKind = { rtu: 'modbus-rtu', tcp: 'modbus-tcp', 'raw-serial': 'raw-serial' } as const;

/** Check every device's profile exists and speaks its bus; errors point at the device's line. */
export function checkVillageProfiles(village: Village, profiles: ProfileRegistry): void {
  for (const bus of village.buses) {
    for (const d of bus.devices) {
      if (!profiles.has(d.profile)) {
        const known = profiles.list().map((p) => p.profile.id);
        throw locatedError(
          village.source,
          ErrorCodes.CONFIG_INVALID,
          [...d.sourcePath, 'profile'],
          `unknown profile "${d.profile}" for device "${d.id}" (known: ${known.join(', ') || 'none'})`,
        );
      }
      const p = profiles.get(d.profile);
      const want = transportForBusKind[bus.kind];
      const ok = p.transport.includes(want) || (bus.kind === 'rtu' && p.transport.includes('rtu-over-tcp'));
      if (!ok)
        throw locatedError(
          village.source,
          ErrorCodes.CONFIG_INVALID,
          d.sourcePath,
          `device "${d.id}": profile "${d.profile}" speaks ${p.transport.join('/')}, not ${want}`,
        );
    }
  }
}
