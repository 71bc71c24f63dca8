/**
 * A simulated village in its own process plus the gateway, for integration tests and benches.
 * The simulator runs as a child process (its wire timing must not share an event loop with
 * the gateway); the gateway runs in this process so tests can look inside it (store, alarms,
 * stats, plans). Tests that need to kill the gateway start `shouwang start` as a process instead.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import { Gateway } from '../../gateway/src/app.js';
import { hashPassword } from '../../gateway/src/auth/password.js';
import { gatewayConfigSchema, type GatewayConfig, type pollingSchema } from '../../gateway/src/config/schema.js';
import { createLogger, silentLogger } from '../../gateway/src/log.js';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import { gatewayConfigFor, loadVillageFile, SimControlClient, type SimEndpoints } from '../../simulator/src/index.js';
import { jsonLine, repoRoot, startTsProcess, type Started } from './processes.js';

export const TEST_USERS = {
  admin: { username: 'admin', password: 'admin-pass-123', role: 'admin' as const },
  viewer: { username: 'viewer', password: 'viewer-pass-123', role: 'app' as const },
};

export interface VillageOptions {
  /** Village file relative to the repo root, e.g. simulator/villages/bench-9600.yaml. */
  village: string;
  behaviour?: boolean;
  /** Extra simulator arguments (e.g. --no-socat). */
  simArgs?: string[];
}

export interface RunningVillage {
  sim: Started<SimEndpoints>;
  endpoints: SimEndpoints;
  control: SimControlClient;
  villageFile: string;
  stop(): Promise<void>;
}

export async function startVillage(opts: VillageOptions): Promise<RunningVillage> {
  const villageFile = join(repoRoot, opts.village);
  const runDir = mkdtempSync(join(tmpdir(), 'sw-sim-'));
  const args = ['--village', villageFile, '--run-dir', runDir, ...(opts.behaviour === undefined ? [] : ['--behaviour', opts.behaviour ? 'on' : 'off']), ...(opts.simArgs ?? [])];
  const sim = await startTsProcess<SimEndpoints>(
    'simulator/src/main.ts',
    args,
    (line) => {
      const msg = jsonLine(line);
      return msg?.ready ? (msg.endpoints as SimEndpoints) : undefined;
    },
    { timeoutMs: 30_000, env: { SW_LOG_LEVEL: process.env.SW_SIM_LOG_LEVEL ?? 'warn' } },
  );
  return {
    sim,
    endpoints: sim.ready,
    control: new SimControlClient(sim.ready.control),
    villageFile,
    stop: async () => {
      await sim.stop();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}

export interface GatewayOptions {
  polling?: z.input<typeof pollingSchema>;
  busTimeoutMs?: number;
  logLevel?: string;
  /** Change the generated config before it is validated. */
  edit?: (config: Record<string, unknown>) => void;
}

export interface RunningGateway {
  gateway: Gateway;
  config: GatewayConfig;
  storageDir: string;
  mqttUrl: string;
  stop(): Promise<void>;
}

/** Start the gateway in-process on the village's endpoints, with MQTT on an ephemeral port. */
export async function startGateway(village: RunningVillage, opts: GatewayOptions = {}): Promise<RunningGateway> {
  const storageDir = mkdtempSync(join(tmpdir(), 'sw-gw-'));
  const input = gatewayConfigFor(loadVillageFile(village.villageFile), village.endpoints, {
    storageDir,
    ...(opts.polling === undefined ? {} : { polling: opts.polling }),
    ...(opts.busTimeoutMs === undefined ? {} : { busTimeoutMs: opts.busTimeoutMs }),
    mqtt: {
      host: '127.0.0.1',
      port: 0,
      users: Object.values(TEST_USERS).map((u) => ({ username: u.username, passwordHash: hashPassword(u.password), role: u.role })),
    },
  }) as Record<string, unknown>;
  opts.edit?.(input);
  const config = gatewayConfigSchema.parse(input);
  const profiles = ProfileRegistry.load(config.profiles.dirs);
  const log = opts.logLevel ? createLogger(opts.logLevel) : silentLogger();
  const gateway = new Gateway({ config, profiles, log });
  await gateway.start();
  return {
    gateway,
    config,
    storageDir,
    mqttUrl: `mqtt://127.0.0.1:${gateway.info().mqtt.port}`,
    stop: async () => {
      await gateway.stop();
      rmSync(storageDir, { recursive: true, force: true });
    },
  };
}
