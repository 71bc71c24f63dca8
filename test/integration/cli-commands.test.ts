/**
 * The CLI as a process: validate, profiles, schema, passwd, and the exit-code contract
 * (0 ok, 1 failure with a message and no stack, 2 usage error).
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { verifyPassword } from '../../gateway/src/auth/password.js';
import { mqttUsersFileSchema } from '../../gateway/src/config/schema.js';
import { loadMqttAccounts } from '../../gateway/src/sinks/mqtt/users.js';
import { repoRoot, runCli, tempTree, TEST_PROFILES } from './cli-run.js';

const dirs: string[] = [];
function tree(files: Record<string, string>): string {
  const d = tempTree(files);
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const GOOD = `site: { id: test-site, name: 测试村 }
profiles: { dirs: [profiles] }
buses:
  - { id: line1, type: rtu, path: /dev/ttyUSB0, baudRate: 9600, timeout: 200ms }
  - { id: lan, type: tcp, host: 127.0.0.1, port: 502 }
devices:
  - { id: lock-1, profile: test-lock, bus: line1, unitId: 1 }
  - { id: pole-1, profile: test-pole, bus: line1, unitId: 2, enabled: false }
  - { id: lock-2, profile: test-lock, bus: lan, unitId: 1 }
`;

const BAD = `site: { id: test-site }
profiles: { dirs: [profiles] }
buses:
  - id: line1
    type: rtu
    path: /dev/ttyUSB0
    baudRate: 9601
    timeout: soon
devices:
  - id: lock-1
    profile: test-lock
    bus: line1
    unitId: 300
`;

const BAD_REF = `site: { id: test-site }
profiles: { dirs: [profiles] }
buses:
  - { id: line1, type: rtu, path: /dev/ttyUSB0 }
devices:
  - { id: lock-1, profile: test-lock, bus: line1, unitId: 1 }
  - { id: x-1, profile: no-such-profile, bus: line1, unitId: 2 }
`;

const BROKEN_PROFILE = `id: broken
name: { zh: 坏, en: Broken }
kind: door-lock
transport: [modbus-rtu]
points:
  - { id: door, table: discrete, address: 0, type: bool }
  - { id: door_2, table: holdings, address: 1, type: bool }
`;

describe('shouwang validate', () => {
  it('prints a short OK summary for a good config (exit 0)', async () => {
    const d = tree({ ...TEST_PROFILES, 'gateway.yaml': GOOD });
    const r = await runCli(['validate', '--config', 'gateway.yaml'], { cwd: d });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'OK gateway.yaml',
      '  profiles  3 profiles from profiles',
      '  site      test-site (测试村)',
      '  buses     2: line1 (rtu /dev/ttyUSB0 9600), lan (tcp 127.0.0.1:502)',
      '  devices   3 (2 enabled): 2 on line1, 1 on lan',
      '',
    ]);
  });

  it('prints every schema problem as file:line path: message and exits 1', async () => {
    const d = tree({ ...TEST_PROFILES, 'gateway.yaml': BAD });
    const r = await runCli(['validate', '--config', 'gateway.yaml'], { cwd: d });
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    // (the wording of zod-level messages belongs to config/; the location is what this command adds)
    expect(lines.some((l) => l.startsWith('gateway.yaml:7 buses[0].baudRate: expected a standard baud rate (1200-115200)'))).toBe(true);
    expect(lines).toContain('gateway.yaml:13 devices[0].unitId: expected 1-247, got 300');
    expect(lines.some((l) => l.startsWith('gateway.yaml:8 buses[0].timeout: '))).toBe(true);
    expect(lines.at(-1)).toBe('config invalid: 3 problems (nothing was started)');
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports cross-reference and profile problems with their lines too', async () => {
    const d = tree({ ...TEST_PROFILES, 'gateway.yaml': BAD_REF });
    const r = await runCli(['validate', '--config', 'gateway.yaml'], { cwd: d });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('gateway.yaml:7 devices[1].profile: unknown profile "no-such-profile" (known: test-io, test-lock, test-pole)\n');

    const p = tree({ ...TEST_PROFILES, 'profiles/broken.yaml': BROKEN_PROFILE, 'gateway.yaml': GOOD });
    const both = await runCli(['validate', '--config', 'gateway.yaml'], { cwd: p });
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('broken.yaml:7 points[1].table: expected one of "coil"|"discrete"|"input"|"holding", got "holdings"\n');
  });

  it('without --config validates only the profiles', async () => {
    const d = tree(TEST_PROFILES);
    const ok = await runCli(['validate', '--profiles', join(d, 'profiles')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^OK \(profiles only\)\n {2}profiles {2}3 profiles from /);
    const b = tree({ 'profiles/broken.yaml': BROKEN_PROFILE });
    const bad = await runCli(['validate', '--profiles', join(b, 'profiles')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('broken.yaml:7 points[1].table:');
    expect(bad.stderr).toContain('profiles invalid: 1 problem (nothing was started)');
  });

  it('the shipped example config is valid against the shipped profiles', async () => {
    const r = await runCli(['validate', '--config', 'gateway.example.yaml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK gateway\.example\.yaml/);
  });
});

describe('shouwang profiles', () => {
  it('list prints a table (zh before en) and --json the same ids', async () => {
    const d = tree(TEST_PROFILES);
    const r = await runCli(['profiles', 'list', '--profiles', join(d, 'profiles')]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^id\s+kind\s+名称\s+name\s+transports$/);
    expect(lines.slice(2, 5).map((l) => l.split(/\s{2,}/))).toEqual([
      ['test-io', 'io-module', '报警模块', 'IO module', 'modbus-rtu, modbus-tcp'],
      ['test-lock', 'door-lock', '测试门锁', 'Test lock', 'modbus-rtu, modbus-tcp'],
      ['test-pole', 'alarm-pole', '一键报警柱', 'Alarm pole', 'modbus-rtu'],
    ]);
    const json = await runCli(['profiles', 'list', '--profiles', join(d, 'profiles'), '--json']);
    expect((JSON.parse(json.stdout) as Array<{ id: string }>).map((p) => p.id)).toEqual(['test-io', 'test-lock', 'test-pole']);
  });

  it('show prints points, events with alarm codes and commands with roles; unknown ids fail with the known list', async () => {
    const d = tree(TEST_PROFILES);
    const r = await runCli(['profiles', 'show', 'test-lock', '--profiles', join(d, 'profiles')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^测试门锁 \/ Test lock\n/);
    expect(r.stdout).toMatch(/^door\s+门\s+Door\s+discrete\s+0\s+10001\s+bool\s+alarm\s+0=closed 1=open$/m);
    expect(r.stdout).toMatch(/^energy\s+holding\s+10\s+40011\s+f32\s+kWh\s+normal$/m);
    expect(r.stdout).toMatch(/^door_forced\s+强行开门\s+Door forced\s+door becomes open while bolt=locked\s+CID 423 \/ SIA DF critical$/m);
    expect(r.stdout).toMatch(/^unlock\s+开锁\s+Unlock\s+write coil 256 = 1, back to 0 after 3000ms\s+manager, admin$/m);

    const json = await runCli(['profiles', 'show', 'test-lock', '--profiles', join(d, 'profiles'), '--json']);
    const p = JSON.parse(json.stdout) as { id: string; points: Array<{ id: string }>; events: Array<{ alarm?: { cid: number } }> };
    expect(p.id).toBe('test-lock');
    expect(p.points.map((x) => x.id)).toEqual(['door', 'bolt', 'energy', 'battery']);
    expect(p.events[0]!.alarm!.cid).toBe(423);

    const unknown = await runCli(['profiles', 'show', 'nope', '--profiles', join(d, 'profiles')]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('unknown profile "nope" (known: test-io, test-lock, test-pole)\n');
  });
});

describe('shouwang schema', () => {
  it('prints exactly the committed docs/gateway.schema.json, and --out writes the same', async () => {
    const committed = readFileSync(join(repoRoot, 'docs/gateway.schema.json'), 'utf8');
    const r = await runCli(['schema']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(committed);
    const d = tree({});
    const out = await runCli(['schema', '--out', join(d, 's.json')]);
    expect(out.code).toBe(0);
    expect(readFileSync(join(d, 's.json'), 'utf8')).toBe(committed);
  });
});

describe('shouwang passwd', () => {
  it('hashes a piped password into a verifiable scrypt hash', async () => {
    const r = await runCli(['passwd'], { input: 'correct horse battery\n' });
    expect(r.code).toBe(0);
    const hash = r.stdout.trim();
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(verifyPassword('correct horse battery', hash)).toBe(true);
    expect(verifyPassword('correct horse', hash)).toBe(false);
  });

  it('--add appends users to a users file the broker schema accepts; duplicates need --replace', async () => {
    const d = tree({});
    const file = join(d, 'mqtt-users.yaml');
    const add1 = await runCli(['passwd', '--user', 'lock-9', '--role', 'device', '--device', 'lock-9', '--add', file], { input: 'first password\n' });
    expect(add1.code).toBe(0);
    expect(add1.stderr).toContain('added user "lock-9" (device)');
    const add2 = await runCli(['passwd', '--user', 'app1', '--role', 'app', '--add', file], { input: 'second password\n' });
    expect(add2.code).toBe(0);
    const again = await runCli(['passwd', '--user', 'app1', '--role', 'app', '--add', file], { input: 'third password\n' });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('user "app1" already exists (use --replace to change the password)');
    const replaced = await runCli(['passwd', '--user', 'app1', '--role', 'app', '--add', file, '--replace'], { input: 'third password\n' });
    expect(replaced.code).toBe(0);

    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^# MQTT users/);
    const users = mqttUsersFileSchema.parse(parse(text)).users;
    expect(users.map((u) => [u.username, u.role, u.device])).toEqual([
      ['lock-9', 'device', 'lock-9'],
      ['app1', 'app', undefined],
    ]);
    expect(verifyPassword('first password', users[0]!.passwordHash)).toBe(true);
    expect(verifyPassword('third password', users[1]!.passwordHash)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('the users file it writes is what the MQTT broker loads, in either form (users: list or bare list)', async () => {
    const d = tree({});
    const keyed = join(d, 'keyed.yaml');
    expect((await runCli(['passwd', '--user', 'nr', '--role', 'nodered', '--add', keyed], { input: 'node-red pw\n' })).code).toBe(0);
    const a = loadMqttAccounts({ users: [], usersFile: keyed });
    expect([...a.keys()]).toEqual(['nr']);
    expect(verifyPassword('node-red pw', a.get('nr')!.passwordHash)).toBe(true);

    // The demo writes a bare list; --add keeps that form and the broker still loads it.
    const bare = join(d, 'bare.yaml');
    const first = (await runCli(['passwd'], { input: 'admin password\n' })).stdout.trim();
    writeFileSync(bare, `# demo users\n- username: admin\n  passwordHash: ${first}\n  role: admin\n`);
    const add = await runCli(['passwd', '--user', 'door-1', '--role', 'device', '--device', 'door-1', '--add', bare], { input: 'device password\n' });
    expect(add.code).toBe(0);
    expect(Array.isArray(parse(readFileSync(bare, 'utf8')))).toBe(true);
    expect(readFileSync(bare, 'utf8')).toMatch(/^# demo users\n/);
    const b = loadMqttAccounts({ users: [], usersFile: bare });
    expect([...b.values()].map((u) => [u.username, u.role, u.device])).toEqual([
      ['admin', 'admin', undefined],
      ['door-1', 'device', 'door-1'],
    ]);
  });

  it('--role device needs --device (the broker refuses a device account without one)', async () => {
    const r = await runCli(['passwd', '--user', 'door-1', '--role', 'device'], { input: 'device password\n' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--role device needs --device <device id>');
  });

  it('refuses short passwords (exit 1) and bad roles (exit 2)', async () => {
    const short = await runCli(['passwd'], { input: 'short\n' });
    expect(short.code).toBe(1);
    expect(short.stderr).toBe('error: password too short: use at least 8 characters\n');
    const role = await runCli(['passwd', '--user', 'x', '--role', 'wizard'], { input: 'long enough pw\n' });
    expect(role.code).toBe(2);
    expect(role.stderr).toContain('--role: expected one of admin, app, device, nodered, upstream, got "wizard"');
  });
});

describe('exit codes', () => {
  it('usage errors exit 2, --version and --help exit 0', async () => {
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const missing = await runCli(['read', '--port', '/dev/null', '--unit', '1']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '-a, --address <n>' not specified");
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const cmd of ['start', 'simulate', 'validate', 'profiles', 'scan', 'read', 'passwd', 'schema']) expect(help.stdout).toContain(`  ${cmd}`);
  });

  it('start without a config or --demo is a usage error', async () => {
    const d = tree({});
    const r = await runCli(['start'], { cwd: d });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no gateway.yaml here: give --config FILE, or --demo');
  });
});
