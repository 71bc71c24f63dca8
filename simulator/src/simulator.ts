/**
 * The simulator's composition root: loads a village, builds one register image per device,
 * starts one line per bus (a socat pty pair, RTU over TCP without socat, one TCP port per Modbus
 * TCP device), the behaviours and the HTTP control API; stops them in reverse.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { PointValue } from '../../gateway/src/core/types.js';
import { ErrorCodes, ShouwangError } from '../../gateway/src/errors.js';
import { silentLogger, type Logger } from '../../gateway/src/log.js';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import { VillageLife, lockBoardSize, setLockBoardDoor } from './behaviours.js';
import { epochNow, monoNow, PreciseScheduler } from './clock.js';
import { startControlServer, type ControlServer } from './control-server.js';
import type {
  BusEndpoint,
  BusStats,
  DeviceSummary,
  FaultsSnapshot,
  PassOptions,
  PressOptions,
  SimControl,
  SimEndpoints,
  SimStats,
  StrangerOptions,
  TamperOptions,
  TcpDeviceEndpoint,
} from './control-types.js';
import { applyDefaults } from './device-defaults.js';
import { SimDevice, type DeviceFaults, type WriteRecord } from './device-model.js';
import { LockBoardLine } from './lock-board.js';
import { PtyLine, socatAvailable } from './pty-line.js';
import { Rng } from './rng.js';
import { RtuSlaveBus, type BusFaults } from './rtu-bus.js';
import { TcpLine } from './tcp-line.js';
import { ModbusTcpBus } from './tcp-slaves.js';
import { checkVillageProfiles, loadVillageFile, type Village, type VillageBus } from './village-schema.js';
import { VirtualModem, type ModemFaults, type SmsRecord } from './virtual-modem.js';

export interface StartSimulatorOptions {
  villageFile: string;
  /** Where the pty links live. Default: a fresh directory under os.tmpdir(), removed on stop. */
  runDir?: string;
  /** Port of the HTTP control API on 127.0.0.1; 0 (default) picks a free one. */
  controlPort?: number;
  /** Use socat pty pairs for serial buses (default). Without socat, RTU buses become RTU over TCP. */
  preferSocat?: boolean;
  log?: Logger;
  /** Override the village's profile directories. */
  profileDirs?: string[];
  /** Override the village's `behaviour` on/off. */
  behaviour?: boolean;
}

export interface SimulatorHandle {
  village: Village;
  endpoints: SimEndpoints;
  /** The control API in-process (same operations as the HTTP API). */
  control: SimControl;
  stats(): SimStats;
  /** Direct access to a device's image (tests): undefined for an unknown id. */
  device(id: string): SimDevice | undefined;
  stop(): Promise<void>;
}

interface Line {
  unplug(ms: number): Promise<{ downAt: number }>;
  stop(): Promise<void>;
}

interface RunningBus {
  config: VillageBus;
  line: Line;
  stats(): BusStats;
  faults: BusFaults | undefined;
  unpluggedUntil: number;
}

export async function startSimulator(opts: StartSimulatorOptions): Promise<SimulatorHandle> {
  const sim = new Simulator(opts);
  try {
    await sim.start();
  } catch (err) {
    await sim.stop().catch(() => {});
    throw err;
  }
  return {
    village: sim.village,
    endpoints: sim.endpoints,
    control: sim,
    stats: () => sim.statsNow(),
    device: (id) => sim.devices.get(id),
    stop: () => sim.stop(),
  };
}

class Simulator implements SimControl {
  readonly village: Village;
  readonly devices = new Map<string, SimDevice>();
  endpoints!: SimEndpoints;
  private readonly log: Logger;
  private readonly scheduler = new PreciseScheduler();
  private readonly life: VillageLife;
  private readonly faultRng: Rng;
  private readonly buses = new Map<string, RunningBus>();
  private readonly runDir: string;
  private readonly ownsRunDir: boolean;
  private control: ControlServer | undefined;
  /** The village's GSM modem for the gateway's SMS backup path (needs socat). */
  private modem: VirtualModem | undefined;
  private readonly startedAt = epochNow();
  private stopped = false;

  constructor(private readonly opts: StartSimulatorOptions) {
    this.log = opts.log ?? silentLogger();
    this.village = loadVillageFile(opts.villageFile);
    const profiles = ProfileRegistry.load(opts.profileDirs ?? this.village.profileDirs);
    checkVillageProfiles(this.village, profiles);
    if (opts.runDir) {
      this.runDir = resolve(opts.runDir);
      mkdirSync(this.runDir, { recursive: true });
      this.ownsRunDir = false;
    } else {
      this.runDir = mkdtempSync(join(tmpdir(), 'shouwang-sim-'));
      this.ownsRunDir = true;
    }
    const reported = new Set<string>();
    const reportProblem = (d: SimDevice, point: string, problem: string) => {
      const key = `${d.profile.id}/${point}/${problem}`;
      if (reported.has(key)) return;
      reported.add(key);
      this.log.warn({ profile: d.profile.id, device: d.id, point }, `simulator skips point "${point}" of ${d.profile.id}: ${problem}`);
    };
    for (const vd of this.village.devices) {
      const d = new SimDevice(vd, profiles.get(vd.profile), reportProblem);
      applyDefaults(d);
      this.devices.set(d.id, d);
    }
    const root = new Rng(this.village.seed);
    const behaviour = { ...this.village.behaviour, enabled: opts.behaviour ?? this.village.behaviour.enabled };
    this.life = new VillageLife([...this.devices.values()], behaviour, root.fork('life'), this.log.child({ module: 'behaviour' }));
    this.faultRng = root.fork('faults');
  }

  async start(): Promise<void> {
    const useSocat = this.opts.preferSocat !== false && socatAvailable();
    if (!useSocat && this.opts.preferSocat !== false) {
      const msg = 'socat is not installed: RTU buses are carried as RTU over TCP (gateway bus type rtu-over-tcp); raw-serial buses are unavailable';
      process.stderr.write(`shouwang simulator: ${msg}\n`);
      this.log.warn(msg);
    }
    const buses: BusEndpoint[] = [];
    const tcpDevices: TcpDeviceEndpoint[] = [];
    const unavailable: SimEndpoints['unavailable'] = [];
    await Promise.all(
      this.village.buses.map(async (bus) => {
        const devices = bus.devices.map((d) => this.devices.get(d.id)!);
        const log = this.log.child({ bus: bus.id });
        if (bus.kind === 'rtu') {
          const rtu = new RtuSlaveBus({
            id: bus.id,
            type: useSocat ? 'rtu' : 'rtu-over-tcp',
            baud: bus.baud,
            devices,
            scheduler: this.scheduler,
            faultRng: this.faultRng.fork(bus.id),
            log,
          });
          if (useSocat) {
            const gatewayPath = join(this.runDir, bus.id);
            const line: PtyLine = new PtyLine(
              bus.id,
              gatewayPath,
              `${gatewayPath}.sim`,
              (chunk, at) => rtu.receive(chunk, at, (f) => line.write(f)),
              log,
              () => rtu.reset(),
            );
            this.buses.set(bus.id, { config: bus, line, stats: () => rtu.stats(), faults: rtu.faults, unpluggedUntil: 0 });
            await line.start();
            buses.push({ id: bus.id, type: 'rtu', path: gatewayPath, baud: bus.baud, parity: bus.parity });
          } else {
            const line = new TcpLine(bus.id, (chunk, at, reply) => rtu.receive(chunk, at, reply), log, () => rtu.reset());
            this.buses.set(bus.id, { config: bus, line, stats: () => rtu.stats(), faults: rtu.faults, unpluggedUntil: 0 });
            await line.start();
            buses.push({ id: bus.id, type: 'rtu-over-tcp', host: line.host, port: line.port, baud: bus.baud, parity: bus.parity });
          }
        } else if (bus.kind === 'raw-serial') {
          if (!useSocat) {
            unavailable.push({ id: bus.id, reason: 'raw-serial buses need socat for a pty pair' });
            return;
          }
          const gatewayPath = join(this.runDir, bus.id);
          let line: PtyLine | undefined;
          const board = new LockBoardLine({
            id: bus.id,
            baud: bus.baud,
            devices,
            scheduler: this.scheduler,
            log,
            push: (f) => line?.write(f) ?? false,
          });
          line = new PtyLine(bus.id, gatewayPath, `${gatewayPath}.sim`, (chunk, at) => board.receive(chunk, at, (f) => line!.write(f)), log, () => board.reset());
          const pty = line;
          this.buses.set(bus.id, {
            config: bus,
            line: { unplug: (ms) => pty.unplug(ms), stop: async () => (board.stop(), pty.stop()) },
            stats: () => board.stats(),
            faults: undefined,
            unpluggedUntil: 0,
          });
          await line.start();
          buses.push({ id: bus.id, type: 'raw-serial', path: gatewayPath, baud: bus.baud, parity: bus.parity });
        } else {
          const tcp = new ModbusTcpBus(bus.id, devices, log);
          this.buses.set(bus.id, { config: bus, line: tcp, stats: () => tcp.stats(), faults: undefined, unpluggedUntil: 0 });
          await tcp.start();
          const ports = new Map(tcp.ports().map((p) => [p.device, p.port]));
          for (const d of bus.devices) tcpDevices.push({ id: d.id, bus: bus.id, type: 'tcp', host: tcp.host, port: ports.get(d.id)!, unitId: d.unitId });
        }
      }),
    );
    // Keep the village's order (buses started in parallel).
    const order = new Map(this.village.buses.map((b, i) => [b.id, i]));
    buses.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
    if (useSocat) this.modem = await VirtualModem.start({ dir: this.runDir, name: 'modem', log: this.log.child({ module: 'modem' }) });
    this.control = await startControlServer(this, this.opts.controlPort ?? 0, this.log.child({ module: 'control' }), () => this.endpoints);
    this.endpoints = {
      buses,
      tcpDevices,
      control: this.control.url,
      lines: useSocat ? 'pty' : 'rtu-over-tcp',
      unavailable,
      runDir: this.runDir,
      ...(this.modem ? { modem: this.modem.path } : {}),
    };
    this.life.start();
    this.log.info(
      { buses: buses.length, tcpDevices: tcpDevices.length, devices: this.devices.size, control: this.control.url, behaviour: this.life.enabled },
      `simulator up: ${this.village.site.id} (${this.devices.size} devices)`,
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.life.stop();
    this.scheduler.clear();
    await this.control?.close();
    await Promise.all([...this.buses.values()].map((b) => b.line.stop().catch(() => {})));
    await this.modem?.stop().catch(() => {});
    if (this.ownsRunDir) rmSync(this.runDir, { recursive: true, force: true });
  }

  statsNow(): SimStats {
    return {
      startedAt: this.startedAt,
      uptimeMs: epochNow() - this.startedAt,
      buses: [...this.buses.values()].map((b) => b.stats()),
    };
  }

  // ---- SimControl ----

  private device(id: string): SimDevice {
    const d = this.devices.get(id);
    if (!d) throw new ShouwangError(ErrorCodes.DEVICE_UNKNOWN, `unknown device "${id}"`);
    return d;
  }

  private bus(id: string): RunningBus {
    const b = this.buses.get(id);
    if (!b) throw new ShouwangError(ErrorCodes.DEVICE_UNKNOWN, `unknown bus "${id}" (buses: ${[...this.buses.keys()].join(', ')})`);
    return b;
  }

  private need(d: SimDevice, point: string, action: string): void {
    if (!d.has(point))
      throw new ShouwangError(ErrorCodes.COMMAND_UNKNOWN, `${action}: device "${d.id}" (${d.profile.id}) has no "${point}" point`);
  }

  async listDevices(): Promise<DeviceSummary[]> {
    return [...this.devices.values()].map((d) => ({
      id: d.id,
      bus: d.busId,
      busKind: this.buses.get(d.busId)?.config.kind ?? 'rtu',
      profile: d.profile.id,
      kind: d.kind,
      unitId: d.unitId,
      location: d.location,
      tenants: d.tenants.map((t) => ({ slot: t.slot, methods: [...t.methods] })),
      faults: { ...d.faults },
    }));
  }

  async getPoints(deviceId: string): Promise<Record<string, PointValue>> {
    return this.device(deviceId).snapshot();
  }

  async setPoints(deviceId: string, values: Record<string, PointValue>): Promise<{ ts: number; set: string[]; skipped: string[] }> {
    const d = this.device(deviceId);
    const set: string[] = [];
    const skipped: string[] = [];
    let ts = 0;
    for (const [point, value] of Object.entries(values)) {
      if (d.set(point, value)) {
        set.push(point);
        ts = epochNow();
      } else skipped.push(point);
    }
    return { ts: ts || epochNow(), set, skipped };
  }

  async press(deviceId: string, opts: PressOptions = {}): Promise<{ ts: number; releaseAt: number }> {
    const d = this.device(deviceId);
    this.need(d, 'button', 'press');
    return this.life.press(d, opts);
  }

  async pass(deviceId: string, opts: PassOptions = {}): Promise<{ ts: number; user: number; method: string }> {
    const d = this.device(deviceId);
    this.need(d, 'last_method', 'pass');
    return this.life.pass(d, opts);
  }

  async stranger(deviceId: string, opts: StrangerOptions = {}): Promise<{ ts: number; attempts: number }> {
    const d = this.device(deviceId);
    this.need(d, 'invalid_count', 'stranger');
    return this.life.stranger(d, opts);
  }

  async tamper(deviceId: string, opts: TamperOptions = {}): Promise<{ ts: number }> {
    const d = this.device(deviceId);
    this.need(d, 'tamper', 'tamper');
    return this.life.tamper(d, opts);
  }

  async door(deviceId: string, door: number, open: boolean): Promise<{ ts: number }> {
    const d = this.device(deviceId);
    this.need(d, 'doors', 'door');
    if (door > lockBoardSize(d)) throw new ShouwangError(ErrorCodes.COMMAND_UNKNOWN, `door ${door}: board "${d.id}" has ${lockBoardSize(d)} doors`);
    setLockBoardDoor(d, door, open);
    return { ts: epochNow() };
  }

  async writes(deviceId: string, opts: { since?: number } = {}): Promise<WriteRecord[]> {
    return this.device(deviceId).writes(opts.since);
  }

  async clearWrites(deviceId: string): Promise<void> {
    this.device(deviceId).clearWrites();
  }

  async faults(): Promise<FaultsSnapshot> {
    const now = monoNow();
    const buses: FaultsSnapshot['buses'] = {};
    for (const [id, b] of this.buses)
      buses[id] = { crcRequestRate: b.faults?.crcRequestRate ?? 0, crcReplyRate: b.faults?.crcReplyRate ?? 0, unplugged: b.unpluggedUntil > now };
    const devices: FaultsSnapshot['devices'] = {};
    for (const [id, d] of this.devices) if (d.faults.dead || d.faults.slowMs > 0) devices[id] = { ...d.faults };
    return { buses, devices };
  }

  async setBusFaults(busId: string, faults: Partial<BusFaults>): Promise<BusFaults> {
    const b = this.bus(busId);
    if (!b.faults)
      throw new ShouwangError(ErrorCodes.COMMAND_UNKNOWN, `bus "${busId}" is ${b.config.kind}: CRC faults apply to RTU buses`);
    if (faults.crcRequestRate !== undefined) b.faults.crcRequestRate = faults.crcRequestRate;
    if (faults.crcReplyRate !== undefined) b.faults.crcReplyRate = faults.crcReplyRate;
    this.log.info({ bus: busId, ...b.faults }, 'bus faults set');
    return { ...b.faults };
  }

  async setDeviceFaults(deviceId: string, faults: Partial<DeviceFaults>): Promise<DeviceFaults> {
    const d = this.device(deviceId);
    if (faults.dead !== undefined) d.faults.dead = faults.dead;
    if (faults.slowMs !== undefined) d.faults.slowMs = faults.slowMs;
    this.log.info({ device: deviceId, ...d.faults }, 'device faults set');
    return { ...d.faults };
  }

  async unplug(busId: string, ms: number): Promise<{ ts: number; until: number }> {
    const b = this.bus(busId);
    b.unpluggedUntil = monoNow() + ms;
    await b.line.unplug(ms);
    const ts = epochNow();
    this.log.info({ bus: busId, ms }, 'bus unplugged');
    return { ts, until: ts + ms };
  }

  async clearFaults(): Promise<void> {
    for (const b of this.buses.values()) if (b.faults) Object.assign(b.faults, { crcRequestRate: 0, crcReplyRate: 0 });
    for (const d of this.devices.values()) Object.assign(d.faults, { dead: false, slowMs: 0 });
  }

  async stats(): Promise<SimStats> {
    return this.statsNow();
  }

  async setBehaviour(enabled: boolean): Promise<{ enabled: boolean }> {
    this.life.enabled = enabled;
    return { enabled };
  }

  async modemMessages(): Promise<SmsRecord[]> {
    return this.modemOrThrow().messages();
  }

  async setModemFaults(faults: Partial<ModemFaults>): Promise<ModemFaults> {
    const modem = this.modemOrThrow();
    modem.setFault(faults);
    return modem.faults();
  }

  private modemOrThrow(): VirtualModem {
    if (!this.modem) throw new ShouwangError(ErrorCodes.DEVICE_UNKNOWN, 'this simulator has no virtual modem (it needs socat)');
    return this.modem;
  }
}
