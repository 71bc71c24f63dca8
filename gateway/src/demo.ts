/**
 * `shouwang start --demo` (what `npm start` runs): the simulated village and the built-in police
 * receiver as child processes (their own event loops keep the simulator's wire timing and the
 * receiver honest), and the gateway config that joins them:
 *
 *   simulator (village on socat ptys + virtual GSM modem)  <-  gateway  ->  DC-09/TCP  ->  receiver + console
 *                                                                 ^------ acknowledgement (HMAC) ------'
 *
 * Alarms of emergency/critical severity go to the receiver over DC-09, with SMS through the
 * simulator's virtual modem as the backup path. The receiver's zone table is written from the
 * same device list, so the console shows each alarm's building, room and position.
 * No default passwords: MQTT accounts, the console admin and the shared secret are created
 * at first start with random values, stored under the data directory (mode 0600).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { hashPassword } from './auth/password.js';
import type { GatewayConfigInput } from './config/schema.js';
import type { Logger } from './log.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repo root, from gateway/src (tsx) or dist/gateway/src (built). */
export const repoRoot =
  [resolve(here, '../..'), resolve(here, '../../..')].find((d) => existsSync(join(d, 'device-profiles')) && existsSync(join(d, 'package.json'))) ?? process.cwd();

export interface DemoChild {
  name: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface PreparedDemo {
  children: DemoChild[];
  configFile: string;
  banner: string;
}

const DEMO_ACCOUNT = '1234';
/** The demo's police duty phone for the SMS backup (the virtual modem records it). */
const DEMO_SMS_NUMBER = '+8610000000110';

export async function prepareDemo(log: Logger): Promise<PreparedDemo> {
  const dataDir = resolve(process.env.SW_DATA_DIR ?? join(repoRoot, 'data'));
  mkdirSync(dataDir, { recursive: true });
  const villageFile = resolve(process.env.SW_VILLAGE ?? join(repoRoot, 'simulator/villages/demo.yaml'));
  const configFile = join(dataDir, 'gateway.demo.yaml');
  const credentials = ensureDemoCredentials(dataDir);
  const ackSecret = ensureSecret(join(dataDir, 'ack-secret'));
  const httpPort = Number(process.env.SW_HTTP_PORT ?? 8080);
  const receiverPort = Number(process.env.SW_RECEIVER_PORT ?? 8090);
  const children: DemoChild[] = [];
  try {
    log.info({ village: villageFile }, 'starting the simulated village');
    const simModule = (await import('../../simulator/src/index.js')) as typeof import('../../simulator/src/index.js');
    const sim = await startChild<Record<string, unknown>>('simulator', 'simulator/src/main', ['--village', villageFile, '--run-dir', join(dataDir, 'sim-run')], join(dataDir, 'simulator.log'), (m) =>
      m.ready ? (m.endpoints as Record<string, unknown>) : undefined,
    );
    children.push(sim);
    const endpoints = sim.ready as unknown as Parameters<typeof simModule.gatewayConfigFor>[1];
    const village = simModule.loadVillageFile(villageFile);
    const mqttPort = Number(process.env.SW_MQTT_PORT ?? 1883);
    const config = simModule.gatewayConfigFor(village, endpoints, {
      storageDir: dataDir,
      mqtt: { host: '127.0.0.1', port: mqttPort, usersFile: join(dataDir, 'mqtt-users.yaml') },
    }) as GatewayConfigInput;

    log.info('starting the police receiver');
    const receiverFile = join(dataDir, 'receiver.demo.yaml');
    writeFileSync(
      receiverFile,
      `# Written by \`npm start\` (shouwang start --demo): the police receiver for the simulated village; regenerated on every start.\n${stringify(
        receiverConfigFor(config, village.site.name || village.site.id, { dataDir: join(dataDir, 'receiver'), httpPort: receiverPort, ackUrl: `http://127.0.0.1:${httpPort}/api/alarm-acks`, ackSecret }),
      )}`,
      { mode: 0o600 },
    );
    const receiver = await startChild<{ http: string; dc09: { tcp: number; udp: number }; adminPasswordFile?: string }>(
      'police receiver',
      'gateway/src/main',
      ['receive', '--config', receiverFile],
      join(dataDir, 'receiver.log'),
      (m) => (m.ready ? (m as never) : undefined),
    );
    children.push(receiver);

    config.http = { enabled: true, host: '127.0.0.1', port: httpPort };
    config.forwarding = {
      paths: [
        { id: 'police-dc09', type: 'dc09', transport: 'tcp', host: '127.0.0.1', port: receiver.ready.dc09.tcp, account: DEMO_ACCOUNT, heartbeatMs: 30_000 },
        ...(typeof endpoints.modem === 'string' ? [{ id: 'sms', type: 'sms' as const, port: endpoints.modem, numbers: [DEMO_SMS_NUMBER] }] : []),
      ],
      routes: [
        {
          id: 'police',
          account: DEMO_ACCOUNT,
          match: { severity: ['emergency', 'critical'] },
          paths: ['police-dc09'],
          backup: typeof endpoints.modem === 'string' ? ['sms'] : [],
          backupAfterMs: 10_000,
        },
      ],
      ackSecret,
    };
    writeFileSync(configFile, `# Written by \`npm start\` (shouwang start --demo) for the simulated village; regenerated on every start.\n${stringify(config)}`, { mode: 0o600 });

    const site = village.site.id;
    const control = String(endpoints.control ?? '?');
    const banner = [
      '',
      '守望 Shouwang 网关已启动 — the gateway is running with the simulated village and the police receiver',
      `  站点 site:            ${site} (${config.devices?.length ?? 0} devices on ${config.buses?.length ?? 0} buses; serial lines: ${String(endpoints.lines ?? '?')})`,
      `  MQTT:                 mqtt://127.0.0.1:{mqttPort}   topics: shouwang/${site}/#`,
      `  MQTT 账号 accounts:   ${credentials.file} (admin / viewer; shown once at first start)`,
      credentials.created ? `                        admin password: ${credentials.admin}   viewer password: ${credentials.viewer}` : '',
      `  派出所接警台 police console: ${receiver.ready.http}  (user admin, password in ${receiver.ready.adminPasswordFile ?? join(dataDir, 'receiver', 'admin-password')})`,
      `  报警路径 alarm path:  DC-09/TCP -> 127.0.0.1:${receiver.ready.dc09.tcp} (account ${DEMO_ACCOUNT})${typeof endpoints.modem === 'string' ? `, SMS backup via the virtual modem` : ''}; acknowledgements -> http://127.0.0.1:${httpPort}/api/alarm-acks`,
      `  模拟器 simulator:     ${control}  (press a pole: curl -X POST ${control}/devices/pole-1/press)`,
      `  数据 data:            ${dataDir} (SQLite store, logs, gateway.demo.yaml, receiver.demo.yaml)`,
      `  订阅 watch:           npx mqtt sub -h 127.0.0.1 -p {mqttPort} -u viewer -P <viewer password> -t 'shouwang/${site}/#' -v`,
      '  Ctrl-C 停止 to stop.',
      '',
    ]
      .filter((l) => l !== '')
      .join('\n')
      .concat('\n');
    return { children, configFile, banner };
  } catch (err) {
    await Promise.all(children.reverse().map((c) => c.stop()));
    throw err;
  }
}

/** The receiver's config for the demo: one account, a zone per device (zone = the gateway's zone numbering). */
function receiverConfigFor(
  gateway: GatewayConfigInput,
  name: string,
  o: { dataDir: string; httpPort: number; ackUrl: string; ackSecret: string },
): Record<string, unknown> {
  const zones: Record<string, Record<string, unknown>> = {};
  (gateway.devices ?? []).forEach((d, i) => {
    const loc = d.location ?? {};
    const zone: Record<string, unknown> = { device: d.id };
    if (loc.building !== undefined) zone.building = loc.building;
    if (loc.room !== undefined) zone.room = loc.room;
    if (loc.address !== undefined) zone.address = loc.address;
    if (loc.lat !== undefined && loc.lon !== undefined) Object.assign(zone, { lat: loc.lat, lon: loc.lon });
    if (d.camera !== undefined) zone.camera = d.camera;
    zones[String(d.zone ?? i + 1)] = zone;
  });
  return {
    dataDir: o.dataDir,
    http: { host: '127.0.0.1', port: o.httpPort },
    dc09: {
      host: '127.0.0.1',
      tcpPort: 0,
      udpPort: 0,
      supervisionMs: 90_000,
      accounts: [{ account: DEMO_ACCOUNT, name, zones, ackCallback: { url: o.ackUrl, secret: o.ackSecret } }],
    },
  };
}

/**
 * Start `<entry>` (TypeScript under tsx, the built JS under dist/) as a child process, its stderr
 * to `logFile`, and resolve once a stdout JSON line satisfies `ready`.
 */
async function startChild<T>(name: string, entry: string, args: string[], logFile: string, ready: (msg: Record<string, unknown>) => T | undefined): Promise<DemoChild & { ready: T }> {
  const ts = !here.includes(join('dist', 'gateway'));
  const file = ts ? join(repoRoot, `${entry}.ts`) : join(repoRoot, 'dist', `${entry}.js`);
  const child = spawn(process.execPath, [...(ts ? ['--import', 'tsx'] : []), file, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.pipe(createWriteStream(logFile, { flags: 'a' }));
  const stop = () =>
    new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
  const value = await new Promise<T>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${name} not ready in 30 s; see ${logFile}`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        return; // not a JSON line
      }
      const r = msg !== null && typeof msg === 'object' ? ready(msg as Record<string, unknown>) : undefined;
      if (r !== undefined) {
        clearTimeout(timer);
        ok(r);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${name} exited (${code}) before ready; see ${logFile}`));
    });
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { name, child, stop, ready: value };
}

/** A random secret kept in `file` (mode 0600), created at first start. */
function ensureSecret(file: string): string {
  if (existsSync(file)) {
    const s = readFileSync(file, 'utf8').trim();
    if (s.length >= 16) return s;
  }
  const secret = randomBytes(24).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/**
 * No default passwords: the first demo run creates an admin and a read-only viewer with random
 * passwords, stores only their scrypt hashes in mqtt-users.yaml, and writes the plain passwords
 * once to demo-credentials.txt (mode 0600) for the person running the demo.
 */
function ensureDemoCredentials(dataDir: string): { file: string; created: boolean; admin?: string; viewer?: string } {
  const usersFile = join(dataDir, 'mqtt-users.yaml');
  const credFile = join(dataDir, 'demo-credentials.txt');
  if (existsSync(usersFile)) return { file: existsSync(credFile) ? credFile : usersFile, created: false };
  const admin = randomBytes(9).toString('base64url');
  const viewer = randomBytes(9).toString('base64url');
  const users = [
    { username: 'admin', passwordHash: hashPassword(admin), role: 'admin' },
    { username: 'viewer', passwordHash: hashPassword(viewer), role: 'app' },
  ];
  writeFileSync(usersFile, stringify(users), { mode: 0o600 });
  writeFileSync(credFile, `MQTT admin: admin / ${admin}\nMQTT viewer: viewer / ${viewer}\n`, { mode: 0o600 });
  return { file: credFile, created: true, admin, viewer };
}
