/**
 * `shouwang validate`: load the config, every profile and cross-check devices against
 * profiles WITHOUT opening a port or a socket. Collects the problems of the config and of the
 * profiles together, so one run shows everything that needs fixing.
 */
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { checkDevicesAgainstProfiles, loadConfigFile, type LoadedConfig } from '../config/load.js';
import type { BusConfig } from '../config/schema.js';
import { readYamlFile } from '../config/yaml-source.js';
import { ErrorCodes, isShouwangError, ShouwangError } from '../errors.js';
import { ProfileRegistry } from '../profiles/registry.js';
import type { CliOutput } from './io.js';
import { profileDirsOrDefault } from './paths.js';

export interface ValidateOptions {
  config?: string;
  profiles?: string[];
}

/** `profiles.dirs` of a config that failed validation, resolved like loadConfigFile does (default: device-profiles next to it). */
function profileDirsOfBrokenConfig(file: string): string[] {
  const base = dirname(resolve(file));
  let dirs: unknown;
  try {
    const data = readYamlFile(file, ErrorCodes.CONFIG_INVALID).data as { profiles?: { dirs?: unknown } } | null;
    dirs = data?.profiles?.dirs;
  } catch {
    // unreadable or not YAML: already reported; fall back to the default
  }
  const list = Array.isArray(dirs) && dirs.length > 0 && dirs.every((d) => typeof d === 'string') ? (dirs as string[]) : ['device-profiles'];
  return list.map((d) => (isAbsolute(d) ? d : resolve(base, d)));
}

/** Problem lines of a thrown error (`file:line path: message`, one per line). */
function problemLines(err: unknown): string[] {
  if (isShouwangError(err)) return err.message.split('\n').filter((l) => l.trim() !== '');
  throw err;
}

function busSummary(b: BusConfig): string {
  switch (b.type) {
    case 'rtu':
    case 'raw-serial':
      return `${b.id} (${b.type} ${b.path} ${b.baudRate})`;
    case 'rtu-over-tcp':
    case 'tcp':
      return `${b.id} (${b.type} ${b.host}:${b.port})`;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Throws a ShouwangError listing every problem; prints an OK summary otherwise. */
export function runValidate(opts: ValidateOptions, io: CliOutput): void {
  const problems: string[] = [];
  let loaded: LoadedConfig | undefined;
  if (opts.config !== undefined) {
    try {
      loaded = loadConfigFile(opts.config);
    } catch (err) {
      problems.push(...problemLines(err));
    }
  }
  // Profiles: --profiles wins; else the config's dirs (read leniently when the config itself is
  // invalid, so its profile problems are still reported); else the shipped ones.
  let dirs: string[];
  if (opts.profiles && opts.profiles.length > 0) dirs = profileDirsOrDefault(opts.profiles);
  else if (loaded) dirs = [...loaded.config.profiles.dirs];
  else if (opts.config !== undefined) dirs = profileDirsOfBrokenConfig(opts.config);
  else dirs = profileDirsOrDefault(undefined);
  let registry: ProfileRegistry | undefined;
  try {
    registry = ProfileRegistry.load(dirs);
  } catch (err) {
    problems.push(...problemLines(err));
  }
  if (loaded && registry) {
    try {
      checkDevicesAgainstProfiles(loaded, registry);
    } catch (err) {
      problems.push(...problemLines(err));
    }
  }
  if (problems.length > 0) {
    const what = opts.config === undefined ? 'profiles' : 'config';
    throw new ShouwangError(
      opts.config === undefined ? ErrorCodes.PROFILE_INVALID : ErrorCodes.CONFIG_INVALID,
      `${problems.join('\n')}\n${what} invalid: ${plural(problems.length, 'problem')} (nothing was started)`,
    );
  }

  const profiles = registry!.list();
  const shown = (d: string) => relative(process.cwd(), d) || '.';
  const lines: string[] = [];
  lines.push(`OK ${opts.config ?? '(profiles only)'}`);
  lines.push(`  profiles  ${plural(profiles.length, 'profile')} from ${dirs.map(shown).join(', ')}`);
  if (loaded) {
    const c = loaded.config;
    const enabled = c.devices.filter((d) => d.enabled).length;
    const perBus = c.buses.map((b) => `${c.devices.filter((d) => d.bus === b.id).length} on ${b.id}`);
    const mqttNative = c.devices.filter((d) => d.bus === undefined).length;
    if (mqttNative > 0) perBus.push(`${mqttNative} over MQTT`);
    lines.push(`  site      ${c.site.id}${c.site.name ? ` (${c.site.name})` : ''}`);
    lines.push(`  buses     ${c.buses.length}${c.buses.length ? `: ${c.buses.map(busSummary).join(', ')}` : ''}`);
    lines.push(`  devices   ${c.devices.length} (${enabled} enabled)${perBus.length ? `: ${perBus.join(', ')}` : ''}`);
  }
  io.out(lines.join('\n'));
}
