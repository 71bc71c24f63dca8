import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashPassword } from '../../gateway/src/auth/password.js';
import { mqttUserSchema, type MqttUserConfig } from '../../gateway/src/config/schema.js';
import { loadMqttAccounts } from '../../gateway/src/sinks/mqtt/users.js';

const FAST = { N: 1024, r: 8, p: 1 };
const hash = hashPassword('pw', FAST);
const user = (over: Partial<MqttUserConfig>): MqttUserConfig => mqttUserSchema.parse({ username: 'u', passwordHash: hash, role: 'app', ...over });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sw-users-'));
  dirs.push(d);
  return d;
}

describe('MQTT accounts', () => {
  it('loads config users and a users file given as a bare YAML list or as { users: [...] } (JSON too)', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'list.yaml'), `- { username: red, passwordHash: "${hash}", role: nodered }\n`);
    writeFileSync(join(dir, 'wrapped.json'), JSON.stringify({ users: [{ username: 'door-7', passwordHash: hash, role: 'device', device: 'door-7' }] }));
    const a = loadMqttAccounts({ users: [user({ username: 'admin', role: 'admin' })], usersFile: 'list.yaml' }, { baseDir: dir });
    expect([...a.keys()]).toEqual(['admin', 'red']);
    expect(a.get('red')).toMatchObject({ role: 'nodered', source: 'list.yaml[0]' });
    const b = loadMqttAccounts({ users: [], usersFile: join(dir, 'wrapped.json') });
    expect(b.get('door-7')).toMatchObject({ role: 'device', device: 'door-7' });
  });

  it('a users file that does not exist yet is allowed (first run) and logged', () => {
    const warnings: string[] = [];
    const log = { warn: (_o: unknown, msg: string) => warnings.push(msg) } as unknown as import('../../gateway/src/log.js').Logger;
    const a = loadMqttAccounts({ users: [], usersFile: 'missing.yaml' }, { baseDir: tempDir(), log });
    expect(a.size).toBe(0);
    expect(warnings[0]).toMatch(/does not exist yet/);
  });

  it('a malformed hash is a boot error naming where the user was defined', () => {
    expect(() => loadMqttAccounts({ users: [user({ username: 'x', passwordHash: 'scrypt$1$2$3' })] })).toThrow(
      /mqtt\.users\[0\] \(user "x"\): malformed password hash/,
    );
  });

  it('an invalid users file is reported with file and line', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.yaml'), `- username: a\n  passwordHash: "${hash}"\n  role: superuser\n`);
    expect(() => loadMqttAccounts({ users: [], usersFile: 'bad.yaml' }, { baseDir: dir })).toThrow(/bad\.yaml:3 \[0\]\.role/);
  });

  it('refuses duplicates, device users without a device, reserved device ids and bad filters', () => {
    expect(() => loadMqttAccounts({ users: [user({}), user({})] })).toThrow(/duplicate MQTT user "u" \(already defined in mqtt\.users\[0\]\)/);
    expect(() => loadMqttAccounts({ users: [user({ role: 'device' })] })).toThrow(/role device needs `device/);
    expect(() => loadMqttAccounts({ users: [user({ role: 'device', device: 'alarm' })] })).toThrow(/reserved/);
    expect(() => loadMqttAccounts({ users: [user({ publish: ['a/#/b'] })] })).toThrow(/publish\[0\] "a\/#\/b" is not a valid MQTT topic filter/);
  });
});
