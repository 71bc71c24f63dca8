/**
 * MQTT client accounts: `mqtt.users` from the gateway config plus `mqtt.usersFile` (YAML or
 * JSON: either a bare list of users or `{ users: [...] }` as `shouwang passwd --add` writes it). Everything is checked at
 * load — hash format, device role naming its device, duplicates — so a typo is a boot error
 * naming the file and entry, not a mysterious login failure later.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { mqttUserSchema, mqttUsersFileSchema, type MqttConfig, type MqttUserConfig } from '../../config/schema.js';
import { readYamlFile, validateYaml } from '../../config/yaml-source.js';
import { ErrorCodes, ShouwangError, errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { parsePasswordHash } from '../../auth/password.js';
import { RESERVED_DEVICE_IDS } from './topics.js';
import { isValidFilter } from './topic-filter.js';

export interface MqttAccount extends MqttUserConfig {
  /** Where the account was defined, for log lines and errors. */
  source: string;
}

const usersFileSchema = z.array(mqttUserSchema);

export function resolvePath(path: string, baseDir: string | undefined): string {
  return isAbsolute(path) ? path : resolve(baseDir ?? process.cwd(), path);
}

function checkAccount(user: MqttUserConfig, source: string): void {
  const fail = (msg: string) =>
    new ShouwangError(ErrorCodes.CONFIG_INVALID, `${source} (user "${user.username}"): ${msg}`, { details: { source, username: user.username } });
  try {
    parsePasswordHash(user.passwordHash);
  } catch (err) {
    throw fail(errorMessage(err));
  }
  if (user.role === 'device') {
    if (user.device === undefined) throw fail('role device needs `device: <device id>` (the device this client is)');
    if (RESERVED_DEVICE_IDS.includes(user.device)) throw fail(`"${user.device}" is reserved for gateway topics and cannot be a device id`);
  }
  for (const [field, filters] of [['publish', user.publish], ['subscribe', user.subscribe]] as const) {
    filters.forEach((f, i) => {
      if (!isValidFilter(f)) throw fail(`${field}[${i}] "${f}" is not a valid MQTT topic filter`);
    });
  }
}

/**
 * Load and check every account. A configured usersFile that does not exist yet is allowed (first
 * run, before `shouwang passwd --add`) and logged; an unreadable or invalid one is an error.
 */
export function loadMqttAccounts(config: Pick<MqttConfig, 'users' | 'usersFile'>, opts: { baseDir?: string; log?: Logger } = {}): Map<string, MqttAccount> {
  const accounts = new Map<string, MqttAccount>();
  const add = (user: MqttUserConfig, source: string) => {
    checkAccount(user, source);
    const existing = accounts.get(user.username);
    if (existing) {
      throw new ShouwangError(
        ErrorCodes.CONFIG_INVALID,
        `${source}: duplicate MQTT user "${user.username}" (already defined in ${existing.source})`,
        { details: { source, username: user.username } },
      );
    }
    accounts.set(user.username, { ...user, source });
  };
  config.users.forEach((u, i) => add(u, `mqtt.users[${i}]`));
  if (config.usersFile !== undefined) {
    const file = resolvePath(config.usersFile, opts.baseDir);
    if (!existsSync(file)) {
      opts.log?.warn({ file }, 'mqtt.usersFile does not exist yet; no accounts loaded from it');
    } else {
      const parsed = readYamlFile(file, ErrorCodes.CONFIG_INVALID);
      if (Array.isArray(parsed.data)) {
        validateYaml(parsed, usersFileSchema, ErrorCodes.CONFIG_INVALID).forEach((u, i) => add(u, `${parsed.file}[${i}]`));
      } else if (parsed.data !== null && parsed.data !== undefined) {
        validateYaml(parsed, mqttUsersFileSchema, ErrorCodes.CONFIG_INVALID).users.forEach((u, i) => add(u, `${parsed.file} users[${i}]`));
      }
    }
  }
  return accounts;
}
