/**
 * `shouwang start`: load and check the config and profiles, start the gateway, and stop it
 * cleanly on SIGINT/SIGTERM. With `--demo` it first starts the simulated village as a child
 * process (its own event loop keeps wire timing honest), writes the matching gateway config to
 * the data directory, creates MQTT credentials on first run, and prints where to look.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { Gateway } from './app.js';
import { hashPassword } from './auth/password.js';
import { checkDevicesAgainstProfiles, loadConfigFile } from './config/load.js';
import { ErrorCodes, ShouwangError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { ProfileRegistry } from './profiles/registry.js';

export interface RunOptions {
  configFile?: string;
  demo: boolean;
}

const here = dirname(fileURLToPath(import.meta.url));
/** The repo root, from gateway/src (tsx) or dist/gateway/src (built). */
export const repoRoot = [resolve(here, '../..'), resolve(here, '../../..')].find((d) => existsSync(join(d, 'device-profiles')) && existsSync(join(d, 'package.json'))) ?? process.cwd();

export async function runGateway(opts: RunOptions): Promise<void> {
  const log = createLogger();
  let sim: SimChild | undefined;
  let configFile = opts.configFile;
  let banner: string | undefined;
  if (opts.demo) {
    const demo = await prepareDemo(log);
    sim = demo.sim;
    configFile = demo.configFile;
    banner = demo.banner;
  }
  if (!configFile) throw new ShouwangError(ErrorCodes.CONFIG_NOT_FOUND, 'no config: pass --config gateway.yaml, or --demo for the simulated village');
  let gateway: Gateway | undefined;
  try {
    const loaded = loadConfigFile(configFile);
    const profiles = ProfileRegistry.load(loaded.config.profiles.dirs);
    checkDevicesAgainstProfiles(loaded, profiles);
    log.level = process.env.SW_LOG_LEVEL ?? loaded.config.log.level;
    gateway = new Gateway({ config: loaded.config, profiles, log, baseDir: dirname(resolve(configFile)) });
    await gateway.start();
  } catch (err) {
    await sim?.stop();
    throw err;
  }
  if (banner) process.stderr.write(banner.replaceAll('{mqttPort}', String(gateway.info().mqtt.port)));
  await new Promise<void>((done) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      const force = setTimeout(() => process.exit(1), 10_000);
      force.unref();
      void gateway!
        .stop()
        .then(() => sim?.stop())
        .finally(done);
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    sim?.child.once('exit', (code) => {
      if (!stopping) log.error({ code }, 'the simulator exited; stopping the demo');
      stop('simulator-exit');
    });
  });
}

interface SimChild {
  child: ChildProcess;
  endpoints: unknown;
  stop(): Promise<void>;
}

/** Start `simulator/src/main` as a child process and wait for its ready line. */
async function startSimulatorChild(villageFile: string, runDir: string, logFile: string, extraArgs: string[]): Promise<SimChild> {
  // Built JS under dist/ starts the built simulator; under tsx, the TypeScript one.
  const ts = !here.includes(join('dist', 'gateway'));
  const entry = ts ? join(repoRoot, 'simulator/src/main.ts') : join(repoRoot, 'dist/simulator/src/main.js');
  const args = [...(ts ? ['--import', 'tsx'] : []), entry, '--village', villageFile, '--run-dir', runDir, ...extraArgs];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.pipe(createWriteStream(logFile, { flags: 'a' }));
  const stop = () =>
    new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
  const endpoints = await new Promise<unknown>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`simulator not ready in 30 s; see ${logFile}`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { ready?: boolean; endpoints?: unknown };
        if (msg.ready) {
          clearTimeout(timer);
          ok(msg.endpoints);
        }
      } catch {
        /* not a JSON line */
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`simulator exited (${code}) before ready; see ${logFile}`));
    });
  });
  return { child, endpoints, stop };
}

async function prepareDemo(log: Logger): Promise<{ sim: SimChild; configFile: string; banner: string }> {
  const dataDir = resolve(process.env.SW_DATA_DIR ?? join(repoRoot, 'data'));
  mkdirSync(dataDir, { recursive: true });
  const villageFile = resolve(process.env.SW_VILLAGE ?? join(repoRoot, 'simulator/villages/demo.yaml'));
  const configFile = join(dataDir, 'gateway.demo.yaml');
  const credentials = ensureDemoCredentials(dataDir);
  const simLog = join(dataDir, 'simulator.log');
  log.info({ village: villageFile }, 'starting the simulated village');
  // The village and config helpers are plain modules of the simulator package.
  const simModule = (await import('../../simulator/src/index.js')) as typeof import('../../simulator/src/index.js');
  const sim = await startSimulatorChild(villageFile, join(dataDir, 'sim-run'), simLog, []);
  const village = simModule.loadVillageFile(villageFile);
  const mqttPort = Number(process.env.SW_MQTT_PORT ?? 1883);
  const config = simModule.gatewayConfigFor(village, sim.endpoints as Parameters<typeof simModule.gatewayConfigFor>[1], {
    storageDir: dataDir,
    mqtt: { host: '127.0.0.1', port: mqttPort, usersFile: join(dataDir, 'mqtt-users.yaml') },
  });
  writeFileSync(configFile, `# Written by \`npm start\` (shouwang start --demo) for the simulated village; regenerated on every start.\n${stringify(config)}`);
  const eps = sim.endpoints as { control?: string; lines?: string };
  const site = village.site.id;
  const banner = [
    '',
    '守望 Shouwang 网关已启动 — the gateway is running with the simulated village',
    `  站点 site:            ${site} (${config.devices?.length ?? 0} devices on ${config.buses?.length ?? 0} buses; serial lines: ${eps.lines ?? '?'})`,
    `  MQTT:                 mqtt://127.0.0.1:{mqttPort}   topics: shouwang/${site}/#`,
    `  MQTT 账号 accounts:   ${credentials.file} (admin / viewer; shown once at first start)`,
    credentials.created ? `                        admin password: ${credentials.admin}   viewer password: ${credentials.viewer}` : '',
    `  模拟器 simulator:     ${eps.control ?? '?'}  (e.g. curl -X POST ${eps.control ?? ''}/devices/<pole-id>/press)`,
    `  数据 data:            ${dataDir} (SQLite store, simulator.log, gateway.demo.yaml)`,
    `  订阅 watch:           npx mqtt sub -h 127.0.0.1 -p {mqttPort} -u viewer -P <viewer password> -t 'shouwang/${site}/#' -v`,
    '  Ctrl-C 停止 to stop.',
    '',
  ]
    .filter((l) => l !== '')
    .join('\n')
    .concat('\n');
  return { sim, configFile, banner };
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

