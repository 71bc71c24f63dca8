/**
 * Composition root: the only place that reads the whole config. It builds every module, starts
 * them in dependency order and stops them in reverse (children before parents, fastify's habit).
 *
 *   transport -> polling -> device runtime (profiles: decode + rules) -> core (bus, state)
 *     -> sinks (store via alarm service, MQTT publisher)      commands -> polling -> transport
 */
import type { BusConfig, GatewayConfig, PollingConfig } from './config/schema.js';
import { pollingSchema } from './config/schema.js';
import { EventBus } from './core/event-bus.js';
import { LastValueState } from './core/state.js';
import { join } from 'node:path';
import { AccessModule } from './access/access-module.js';
import { registerAccessRoutes } from './access/access-routes.js';
import { AccessServices } from './access/access-services.js';
import { registerReportRoutes } from './access/reports/report-routes.js';
import { AlarmForwarding } from './alarms/alarm-forwarding.js';
import { AlarmService } from './alarms/alarm-service.js';
import type { OperatorAckMessage } from './alarms/operator-ack.js';
import type { Alarm } from './core/types.js';
import { CommandService, type CommandRole } from './commands/command-service.js';
import { ErrorCodes, ShouwangError, errorMessage, isShouwangError } from './errors.js';
import { HealthService, countBrokerMessages, type MqttMessageCounter } from './health/index.js';
import type { Logger } from './log.js';
import { BusScheduler, RawSerialPoller, wireModelForBus, type BusPollStats, type PolledDevice } from './polling/index.js';
import type { ProfileRegistry } from './profiles/registry.js';
import { DeviceRuntime, type RuntimeDevice } from './runtime/device-runtime.js';
import { MqttBroker, startMqttBroker, type MqttCommand } from './sinks/mqtt/broker.js';
import { DeviceIntake } from './sinks/mqtt/device-intake.js';
import { MqttPublisher } from './sinks/mqtt/publisher.js';
import { openStore, type Store } from './store/store.js';
import { Topics } from './sinks/mqtt/topics.js';
import { InfluxSink } from './sinks/influx/influx-sink.js';
import { WebAuth } from './web/auth.js';
import { startGatewayApi } from './web/gateway-api.js';
import type { WebServer } from './web/server.js';
import { createModbusTransport, createRawFrameTransport } from './transport/index.js';
import type { ModbusTransport, RawFrameTransport, TransportStats } from './transport/types.js';

export interface GatewayOptions {
  config: GatewayConfig;
  profiles: ProfileRegistry;
  log: Logger;
  /** Directory relative paths in the config (users file, TLS files) are resolved against. */
  baseDir?: string;
}

interface ModbusBusRuntime {
  kind: 'modbus';
  config: BusConfig;
  transport: ModbusTransport;
  poller: BusScheduler;
}
interface RawBusRuntime {
  kind: 'raw';
  config: BusConfig;
  transport: RawFrameTransport;
  poller: RawSerialPoller;
}
type BusRuntime = ModbusBusRuntime | RawBusRuntime;

export interface GatewayInfo {
  site: string;
  mqtt: { host: string; port: number; tlsPort?: number };
  storageDir: string;
  buses: number;
  devices: number;
  /** Base URL of the gateway HTTP API (acknowledgement callback), when enabled. */
  http?: string;
}

/** MQTT roles map onto command roles: only admins command devices over MQTT unless a profile grants more. */
const mqttCommandRole: Record<string, CommandRole | undefined> = { admin: 'admin', nodered: 'manager', upstream: 'police' };

export class Gateway {
  readonly bus: EventBus;
  readonly state: LastValueState;
  private readonly log: Logger;
  private readonly config: GatewayConfig;
  private readonly profiles: ProfileRegistry;
  private readonly baseDir: string | undefined;
  private readonly devices: RuntimeDevice[];
  private storeRef: Store | undefined;
  private alarmsRef: AlarmService | undefined;
  private runtimeRef: DeviceRuntime | undefined;
  private commandsRef: CommandService | undefined;
  private broker: MqttBroker | undefined;
  private publisher: MqttPublisher | undefined;
  private intake: DeviceIntake | undefined;
  private forwardingRef: AlarmForwarding | undefined;
  private influxRef: InfluxSink | undefined;
  private accessRef: AccessModule | undefined;
  private accessServices: AccessServices | undefined;
  private healthRef: HealthService | undefined;
  private mqttMessages: MqttMessageCounter | undefined;
  private api: WebServer | undefined;
  private buses: BusRuntime[] = [];
  private readonly busOfDevice = new Map<string, BusRuntime>();

  constructor(options: GatewayOptions) {
    this.config = options.config;
    this.profiles = options.profiles;
    this.baseDir = options.baseDir;
    this.log = options.log;
    this.bus = new EventBus((event, err) => this.log.error({ event, err: errorMessage(err) }, 'event bus listener failed'));
    const defaultPolling = pollingSchema.parse({});
    const pollingOf = (busId: string | undefined): PollingConfig =>
      this.config.buses.find((b) => b.id === busId)?.polling ?? defaultPolling;
    this.devices = this.config.devices
      .filter((d) => d.enabled)
      .map((d) => ({ config: d, profile: this.profiles.get(d.profile), polling: pollingOf(d.bus) }));
    const staleAfter = Math.max(defaultPolling.staleAfterIntervals, ...this.config.buses.map((b) => b.polling.staleAfterIntervals));
    this.state = new LastValueState({ staleAfterIntervals: staleAfter });
  }

  get store(): Store {
    return must(this.storeRef, 'store');
  }
  get alarms(): AlarmService {
    return must(this.alarmsRef, 'alarm service');
  }
  get commands(): CommandService {
    return must(this.commandsRef, 'command service');
  }
  get forwarding(): AlarmForwarding {
    return must(this.forwardingRef, 'alarm forwarding');
  }
  get influx(): InfluxSink {
    return must(this.influxRef, 'influx sink');
  }
  get access(): AccessModule {
    return must(this.accessRef, 'access module');
  }

  async start(): Promise<void> {
    const { config, log } = this;
    this.storeRef = openStore({ dir: config.storage.dir, log: log.child({ module: 'store' }) });
    // Telemetry sink first, so it hears every point, event, alarm and status change from the start.
    const byId = new Map(this.devices.map((d) => [d.config.id, d]));
    this.influxRef = new InfluxSink({
      config: config.influx,
      store: this.store,
      site: config.site.id,
      deviceInfo: (id) => {
        const d = byId.get(id);
        return d ? { profile: d.config.profile, kind: d.profile.kind, location: d.config.location } : undefined;
      },
      log: log.child({ module: 'influx' }),
    });
    this.influxRef.attach(this.bus);
    this.influxRef.start();
    const zoneOf = new Map(config.devices.map((d, i) => [d.id, { zone: d.zone ?? i + 1, ...(d.camera ? { camera: d.camera } : {}) }]));
    this.forwardingRef = new AlarmForwarding({
      config: config.forwarding,
      site: config.site.id,
      store: this.store,
      bus: this.bus,
      log: log.child({ module: 'forwarding' }),
      deviceInfo: (device) => zoneOf.get(device) ?? { zone: 999 },
      onAcknowledged: (alarm, ack) => void this.tellThePole(alarm, ack),
    });
    this.alarmsRef = new AlarmService({
      store: this.store,
      bus: this.bus,
      site: config.site.id,
      log: log.child({ module: 'alarms' }),
      outbox: this.forwarding.outboxHook,
    });
    this.commandsRef = new CommandService({
      profileOf: (id) => this.devices.find((d) => d.config.id === id)?.profile,
      writer: {
        writeRegisters: (device, table, address, values) => this.modbusBusOf(device).poller.write(device, table, address, values),
        sendFrame: async (device, frameId, arg) => {
          await this.rawBusOf(device).poller.sendFrame(device, frameId, arg);
        },
      },
      audit: (record) => this.store.appendAudit(record),
      alarms: this.alarms,
      log: log.child({ module: 'commands' }),
    });
    // Rental housing: registry, access log (passes resolved to tenant and room), door commands.
    this.accessRef = new AccessModule({
      store: this.store,
      config: config.access,
      dataDir: config.storage.dir,
      log: log.child({ module: 'access' }),
      commands: this.commands,
      profileOf: (id) => this.devices.find((d) => d.config.id === id)?.profile,
    });
    const access = this.accessRef;
    access.start(this.bus);
    const runtime = new DeviceRuntime({
      site: config.site.id,
      devices: this.devices,
      state: this.state,
      bus: this.bus,
      alarms: this.alarms,
      store: this.store,
      log: log.child({ module: 'runtime' }),
      // Card numbers become salted hashes before any event is stored, published or heard.
      redactEvent: (e) => access.redactEvent(e),
    });
    this.runtimeRef = runtime;

    const mqttDevices = new Map(this.devices.filter((d) => d.config.bus === undefined).map((d) => [d.config.id, d]));
    this.intake = new DeviceIntake({
      pointsOf: (id) => mqttDevices.get(id)?.profile.points,
      onValues: (v) => runtime.ingest({ device: v.device, values: v.values, ts: v.ts, pollClass: 'push' }),
      log: log.child({ module: 'mqtt-intake' }),
    });
    const intake = this.intake;
    this.broker = await startMqttBroker({
      config: config.mqtt,
      site: config.site.id,
      log: log.child({ module: 'mqtt' }),
      ...(this.baseDir === undefined ? {} : { baseDir: this.baseDir }),
      onUplink: (m) => intake.handle(m),
      onCommand: (c) => void this.handleMqttCommand(c),
      onDeviceClient: (e) => {
        if (!mqttDevices.has(e.device)) return;
        runtime.status({ device: e.device, availability: e.connected ? 'online' : 'offline', since: Date.now(), consecutiveFailures: 0, ...(e.connected ? {} : { reason: 'mqtt client disconnected' }) });
      },
    });
    this.publisher = new MqttPublisher({
      broker: this.broker,
      bus: this.bus,
      snapshot: (d) => this.state.snapshot(d),
      activeAlarms: () => this.alarms.active(),
      log: log.child({ module: 'mqtt-publisher' }),
    });
    await this.publisher.start();
    const topics = new Topics({ prefix: config.mqtt.topicPrefix, site: config.site.id });
    const broker = this.broker;
    this.bus.on('path', (h) => broker.publish(topics.gatewayPath(h.path), JSON.stringify(h), { qos: 1, retain: true }));
    await this.forwarding.start(this.alarms);
    // Access rules, 十户联防 linkage and reports: after the broker, before the buses produce passes.
    this.accessServices = new AccessServices({
      config: config.access,
      site: config.site.id,
      timeZone: config.site.timezone,
      storageDir: config.storage.dir,
      topicPrefix: config.mqtt.topicPrefix,
      devices: this.devices,
      access,
      store: this.store,
      bus: this.bus,
      alarms: this.alarms,
      commands: this.commands,
      mqtt: broker,
      profileOf: (id) => this.devices.find((d) => d.config.id === id)?.profile,
      log: log.child({ module: 'access' }),
    });
    this.accessServices.start();
    const accessServices = this.accessServices;
    this.healthRef = this.buildHealth(broker);
    this.healthRef.start();
    if (config.http.enabled) {
      // One auth module for every web face (ARCHITECTURE.md): users, roles, sessions, in the store.
      const auth = new WebAuth({ db: this.store.database, log: log.child({ module: 'web-auth' }), firstAdminDir: config.storage.dir });
      const admin = auth.ensureFirstAdmin();
      if (admin.created) log.warn({ user: admin.username, passwordFile: admin.passwordFile }, 'gateway API: first admin created; its password is in passwordFile');
      this.api = await startGatewayApi({
        routes: async (app) => {
          await auth.register(app);
          await registerAccessRoutes(app, access.routeDeps(auth));
          await registerReportRoutes(app, { auth, reports: accessServices.reports, registry: access.registry, timeZone: config.site.timezone });
        },
        host: config.http.host,
        port: config.http.port,
        log: log.child({ module: 'api' }),
        site: config.site.id,
        forwarding: this.forwarding,
        ackSecret: config.forwarding.ackSecret,
        health: this.healthRef,
      });
    }

    this.buses = config.buses.map((b) => this.buildBus(b, runtime));
    for (const b of this.buses) {
      // A missing port at boot is not fatal: the transport keeps reopening on its own.
      b.transport.open().catch((err: unknown) => log.warn({ bus: b.config.id, err: errorMessage(err) }, 'bus not open yet; retrying in the background'));
      b.poller.start();
    }
    runtime.start();
    log.info({ ...this.info(), msg: undefined }, 'gateway ready');
  }

  async stop(): Promise<void> {
    this.runtimeRef?.stop();
    this.commandsRef?.stop();
    await Promise.all(this.buses.map((b) => b.poller.stop()));
    await Promise.all(this.buses.map((b) => b.transport.close()));
    await this.api?.close();
    this.healthRef?.stop();
    this.mqttMessages?.detach();
    await this.forwardingRef?.stop();
    await this.publisher?.stop();
    await this.broker?.stop();
    await this.accessServices?.stop();
    this.accessRef?.stop();
    // Flush what it can, spool the rest, before the store closes.
    await this.influxRef?.stop();
    this.storeRef?.close();
  }

  info(): GatewayInfo {
    return {
      site: this.config.site.id,
      mqtt: {
        host: this.config.mqtt.host,
        port: this.broker?.port ?? this.config.mqtt.port,
        ...(this.broker?.tlsPort === undefined ? {} : { tlsPort: this.broker.tlsPort }),
      },
      storageDir: this.config.storage.dir,
      buses: this.config.buses.length,
      devices: this.devices.length,
      ...(this.api?.url === undefined ? {} : { http: this.api.url }),
    };
  }

  stats(): { buses: Array<{ poll: BusPollStats; transport: TransportStats }> } {
    return { buses: this.buses.map((b) => ({ poll: b.poller.stats(), transport: b.transport.stats() })) };
  }

  /** The poll plans of Modbus buses (benchmarks compute the alarm wire bound from them). */
  plans(): Array<{ bus: BusConfig; plans: BusScheduler['plans'] }> {
    return this.buses.filter((b): b is ModbusBusRuntime => b.kind === 'modbus').map((b) => ({ bus: b.config, plans: b.poller.plans }));
  }

  private buildBus(bus: BusConfig, runtime: DeviceRuntime): BusRuntime {
    const devices: PolledDevice[] = this.devices.filter((d) => d.config.bus === bus.id).map((d) => ({ config: d.config, profile: d.profile }));
    const log = this.log.child({ bus: bus.id });
    const callbacks = { onValues: runtime.ingest.bind(runtime), onStatus: runtime.status.bind(runtime) };
    let built: BusRuntime;
    if (bus.type === 'raw-serial') {
      const framing = devices.map((d) => d.profile.serial?.framing).find((f) => f !== undefined);
      if (!framing) throw new ShouwangError(ErrorCodes.CONFIG_INVALID, `bus ${bus.id} is raw-serial but none of its devices has a profile with a serial block`);
      const transport = createRawFrameTransport(bus, framing, log);
      built = { kind: 'raw', config: bus, transport, poller: new RawSerialPoller({ bus: bus.id, transport, polling: bus.polling, devices, log, ...callbacks }) };
    } else {
      const transport = createModbusTransport(bus, log);
      built = {
        kind: 'modbus',
        config: bus,
        transport,
        poller: new BusScheduler({ bus: bus.id, transport, polling: bus.polling, devices, wire: wireModelForBus(bus), log, ...callbacks }),
      };
    }
    for (const d of devices) this.busOfDevice.set(d.config.id, built);
    return built;
  }

  private modbusBusOf(device: string): ModbusBusRuntime {
    const b = this.busOfDevice.get(device);
    if (b?.kind !== 'modbus') throw new ShouwangError(ErrorCodes.DEVICE_UNKNOWN, `device "${device}" is not on a Modbus bus`);
    return b;
  }
  private rawBusOf(device: string): RawBusRuntime {
    const b = this.busOfDevice.get(device);
    if (b?.kind !== 'raw') throw new ShouwangError(ErrorCodes.DEVICE_UNKNOWN, `device "${device}" is not on a raw-serial bus`);
    return b;
  }

  /** Online rates, poll and bus health, outbox/spool depth: /metrics, /api/health, MQTT, InfluxDB (health/). */
  private buildHealth(broker: MqttBroker): HealthService {
    const { config, log } = this;
    const mqttMessages = countBrokerMessages(broker.aedes);
    this.mqttMessages = mqttMessages;
    const influx = this.influx;
    return new HealthService({
      site: config.site.id,
      devices: this.devices.map((d) => ({
        id: d.config.id,
        profile: d.profile.id,
        kind: d.profile.kind,
        location: d.config.location,
        ...(d.config.bus === undefined ? {} : { bus: d.config.bus }),
      })),
      buses: config.buses,
      bus: this.bus,
      store: this.store,
      busStats: () => this.stats().buses,
      forwardingStats: () => this.forwarding.stats(),
      brokerStats: () => ({ ...broker.stats(), ...mqttMessages.counts() }),
      publish: (topic, payload) => broker.publish(topic, payload, { qos: 1, retain: true }),
      ...(config.influx.enabled
        ? {
            writePoints: (points) => influx.writePoints(points),
            influxStats: () => {
              const s = influx.stats();
              return s.enabled ? { spoolDepth: s.spool.points, lagMs: s.lagMs, written: s.written, dropped: s.dropped.total } : { spoolDepth: 0, lagMs: 0, written: 0, dropped: 0 };
            },
          }
        : {}),
      stateFile: join(config.storage.dir, 'health-observed.json'),
      topicPrefix: config.mqtt.topicPrefix,
      log: log.child({ module: 'health' }),
    });
  }

  /**
   * The police acknowledged an alarm: run the device's `onAlarmAcknowledged` commands (help-is-coming
   * light, voice prompt) so the person who pressed learns the police know. Never for silent
   * alarms: a duress alarm must show nothing at the device.
   */
  private async tellThePole(alarm: Alarm, ack: OperatorAckMessage): Promise<void> {
    if (alarm.silent || alarm.kind !== 'alarm') return;
    const profile = this.devices.find((d) => d.config.id === alarm.device)?.profile;
    for (const step of profile?.onAlarmAcknowledged ?? []) {
      // The person at the pole must learn that help is coming: a write lost on a noisy bus is
      // tried again (the writes are idempotent: lamp on, prompt number), each try audited.
      for (let attempt = 1; attempt <= 3; attempt++) {
        try {
          await this.commands.execute({
            device: alarm.device,
            command: step.command,
            ...(step.argument === undefined ? {} : { argument: step.argument }),
            reason: `alarm ${alarm.id} ${ack.action} by ${ack.by}`,
            actor: { by: `police:${ack.by}`, role: 'police', via: 'receiver' },
          });
          break;
        } catch (err) {
          const last = attempt === 3 || isShouwangError(err, ErrorCodes.COMMAND_FORBIDDEN) || isShouwangError(err, ErrorCodes.COMMAND_UNKNOWN);
          this.log[last ? 'error' : 'warn']({ alarm: alarm.id, device: alarm.device, command: step.command, attempt, err: errorMessage(err) }, 'could not tell the device that help is coming');
          if (last) break;
          await new Promise((r) => setTimeout(r, 100 * attempt));
        }
      }
    }
  }

  private async handleMqttCommand(c: MqttCommand): Promise<void> {
    const account = c.username;
    const role = mqttCommandRole[this.broker?.roleOf(account) ?? ''];
    const log = this.log.child({ module: 'commands', topic: c.topic, client: c.clientId });
    if (!role) {
      log.warn(`MQTT user "${account}" has no command role; command ignored`);
      return;
    }
    const actor = { by: account, role, via: 'mqtt' };
    try {
      if (c.device === 'gateway') {
        this.commands.gatewayCommand(c.command, c.payload, actor);
        return;
      }
      const payload = c.payload;
      const obj = payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? payload : undefined;
      const arg = obj ? obj.value : payload;
      const reason = obj && typeof obj.reason === 'string' ? obj.reason : undefined;
      if (arg !== undefined && typeof arg !== 'number' && typeof arg !== 'boolean') {
        log.warn(`${c.topic}: payload must be a number, a boolean, or {"value": ..., "reason": "..."}`);
        return;
      }
      await this.commands.execute({ device: c.device, command: c.command, ...(arg === undefined ? {} : { argument: arg }), ...(reason ? { reason } : {}), actor });
    } catch (err) {
      log.warn({ err: errorMessage(err) }, `${c.topic}: command failed`);
    }
  }
}

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} used before Gateway.start()`);
  return value;
}

