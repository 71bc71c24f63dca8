/**
 * Loads and validates every profile in the configured directories at boot. A profile that
 * fails validation is reported with file, line and path; references inside a profile (rules
 * naming points, commands naming frames) are checked here so they cannot fail at run time.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, ShouwangError } from '../errors.js';
import { locatedError, readYamlFile, validateYaml, type ParsedYaml } from '../config/yaml-source.js';
import { checkRuleDefinitions } from './rules.js';
import { isModbusPoint, profileSchema, type Profile } from './schema.js';

export interface LoadedProfile {
  profile: Profile;
  file: string;
}

/** Validate one parsed profile document and normalise it (addresses made 0-based). */
export function profileFromYaml(parsed: ParsedYaml): Profile {
  const profile = validateYaml(parsed, profileSchema, ErrorCodes.PROFILE_INVALID);
  checkReferences(parsed, profile);
  return normalise(profile);
}

function checkReferences(parsed: ParsedYaml, p: Profile): void {
  const pointIds = new Set<string>();
  p.points.forEach((pt, i) => {
    if (pointIds.has(pt.id)) throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['points', i, 'id'], `duplicate point id "${pt.id}"`);
    pointIds.add(pt.id);
    if (isModbusPoint(pt)) {
      if (p.addressBase === 1 && pt.address === 0)
        throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['points', i, 'address'], 'address 0 is invalid with addressBase 1');
      const bitTable = pt.table === 'coil' || pt.table === 'discrete';
      if (bitTable && pt.type !== 'bool')
        throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['points', i, 'type'], `${pt.table} points must be bool, got ${pt.type}`);
    }
    if ((pt.type === 'enum' || pt.type === 'bool') && pt.type === 'enum' && !pt.map)
      throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['points', i, 'map'], 'enum points need a map');
    if (pt.type === 'bitfield' && !pt.bits)
      throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['points', i, 'bits'], 'bitfield points need bits');
    if (pt.decimalsFrom !== undefined && !p.points.some((o) => o.id === pt.decimalsFrom))
      throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['points', i, 'decimalsFrom'], `unknown point "${pt.decimalsFrom}"`);
    if ('frame' in pt && !p.serial?.requests.some((r) => r.id === pt.frame) && !p.serial?.pushes.some((r) => r.id === pt.frame))
      throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['points', i, 'frame'], `no serial request or push "${pt.frame}"`);
  });
  const eventIds = new Set<string>();
  p.events.forEach((ev, i) => {
    if (eventIds.has(ev.id)) throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['events', i, 'id'], `duplicate event id "${ev.id}"`);
    eventIds.add(ev.id);
    if (!pointIds.has(ev.when.point))
      throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['events', i, 'when', 'point'], `unknown point "${ev.when.point}"`);
    for (const other of Object.keys(ev.when.while ?? {}))
      if (!pointIds.has(other)) throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['events', i, 'when', 'while', other], `unknown point "${other}"`);
    ev.fields.forEach((f, j) => {
      if (!pointIds.has(f)) throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['events', i, 'fields', j], `unknown point "${f}"`);
    });
  });
  // Values rules compare against must exist (`becomes: opne` would silently never fire).
  const ruleProblem = checkRuleDefinitions(p)[0];
  if (ruleProblem) throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ruleProblem.path, ruleProblem.message);
  p.commands.forEach((c, i) => {
    if (c.frame !== undefined && !p.serial?.commands.some((f) => f.id === c.frame))
      throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['commands', i, 'frame'], `no serial command "${c.frame}"`);
  });
  const needsModbus = p.transport.some((t) => t === 'modbus-rtu' || t === 'modbus-tcp' || t === 'rtu-over-tcp');
  if (needsModbus && !p.points.some(isModbusPoint))
    throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['transport'], 'a Modbus profile needs points with table and address');
  if (p.transport.includes('raw-serial') && !p.serial)
    throw locatedError(parsed, ErrorCodes.PROFILE_INVALID, ['transport'], 'a raw-serial profile needs a serial block');
}

function normalise(p: Profile): Profile {
  if (p.addressBase === 0) return p;
  const shift = <T extends { address: number }>(x: T): T => ({ ...x, address: x.address - 1 });
  return {
    ...p,
    addressBase: 0,
    identify: p.identify ? shift(p.identify) : undefined,
    points: p.points.map((pt) => (isModbusPoint(pt) ? shift(pt) : pt)),
    commands: p.commands.map((c) => (c.write ? { ...c, write: shift(c.write) } : c)),
  };
}

export function loadProfileFile(file: string): Profile {
  return profileFromYaml(readYamlFile(file, ErrorCodes.PROFILE_INVALID));
}

export class ProfileRegistry {
  private readonly byId = new Map<string, LoadedProfile>();

  /** Load every *.yaml / *.yml in the directories; collects all errors before throwing one. */
  static load(dirs: readonly string[]): ProfileRegistry {
    const reg = new ProfileRegistry();
    const errors: string[] = [];
    for (const dir of dirs) {
      let files: string[];
      try {
        files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
      } catch (err) {
        errors.push(`${dir}: cannot read profile directory (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
        continue;
      }
      for (const f of files) {
        const file = join(dir, f);
        try {
          const profile = loadProfileFile(file);
          const prior = reg.byId.get(profile.id);
          if (prior) throw new ShouwangError(ErrorCodes.PROFILE_INVALID, `${f}: profile id "${profile.id}" already defined in ${prior.file}`);
          reg.byId.set(profile.id, { profile, file });
        } catch (err) {
          errors.push(err instanceof Error ? err.message : String(err));
        }
      }
    }
    if (errors.length > 0) throw new ShouwangError(ErrorCodes.PROFILE_INVALID, errors.join('\n'), { details: { errors } });
    return reg;
  }

  static fromProfiles(profiles: readonly Profile[]): ProfileRegistry {
    const reg = new ProfileRegistry();
    for (const p of profiles) reg.byId.set(p.id, { profile: p, file: `<${p.id}>` });
    return reg;
  }

  get(id: string): Profile {
    const p = this.byId.get(id);
    if (!p) throw new ShouwangError(ErrorCodes.PROFILE_UNKNOWN, `unknown profile "${id}" (known: ${[...this.byId.keys()].join(', ')})`);
    return p.profile;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  list(): LoadedProfile[] {
    return [...this.byId.values()];
  }
}
