/**
 * The embedded MQTT broker (Aedes 1.x) on `mqtt.host:mqtt.port`, plus an optional TLS listener.
 * Every client authenticates (unless `allowAnonymous`) against scrypt hashes, and every publish,
 * subscription and delivery goes through the ACL (acl.ts). The gateway itself publishes
 * in-process with `publish()`, not as a client.
 *
 * Client traffic that the gateway consumes:
 *  - `<base>/<device>/up`  from an authorised client  -> `onUplink` (device-intake.ts parses it)
 *  - `<base>/<device>/set/<command>`  from an authorised client -> `onCommand`. Such messages
 *    are NOT delivered to device clients directly: a command reaches an MQTT-native device only
 *    through the gateway's command module (role check + audit), which calls `sendCommand()`.
 *    Commands are never retained (a retained unlock would replay on every reconnect).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Aedes, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import type { MqttConfig } from '../../config/schema.js';
import { ErrorCodes, ShouwangError, errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { hashPassword, verifyPasswordAsync } from '../../auth/password.js';
import { Acl, ANONYMOUS, type AclIdentity } from './acl.js';
import { Topics } from './topics.js';
import { loadMqttAccounts, resolvePath, type MqttAccount } from './users.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A message an authorised client published on `<base>/<device>/up`. */
export interface UplinkMessage {
  device: string;
  topic: string;
  payload: Buffer;
  clientId: string;
  username: string;
}

/** A command an authorised client published on `<base>/<device>/set/<command>`. */
export interface MqttCommand {
  device: string;
  command: string;
  /** Parsed JSON; a payload that is not JSON arrives as its UTF-8 string; an empty one as undefined. */
  payload: JsonValue | undefined;
  topic: string;
  clientId: string;
  username: string;
}

export interface DeviceClientEvent {
  device: string;
  clientId: string;
  username: string;
  connected: boolean;
}

export interface MqttBrokerOptions {
  config: MqttConfig;
  site: string;
  log: Logger;
  /** Relative `usersFile` and TLS file paths are resolved against this (the config file's directory). */
  baseDir?: string;
  onUplink?: (message: UplinkMessage) => void;
  onCommand?: (command: MqttCommand) => void;
  /** A `device`-role client connected or went away (MQTT-native device availability). */
  onDeviceClient?: (event: DeviceClientEvent) => void;
}

export interface PublishOptions {
  qos?: 0 | 1 | 2;
  retain?: boolean;
}

export interface MqttBrokerStats {
  clients: number;
  authFailures: number;
  deniedPublishes: number;
  deniedSubscriptions: number;
  uplinks: number;
  commands: number;
}

/** Uplinks/commands above this are ignored (a device uplink is a few hundred bytes). */
const MAX_PAYLOAD_BYTES = 256 * 1024;

/** Checked for unknown users, so that "no such user" costs the same time as "wrong password". */
let dummyHash: string | undefined;
function dummyPasswordHash(): string {
  dummyHash ??= hashPassword('not-a-real-password-shouwang');
  return dummyHash;
}

function authError(message: string, returnCode: 4 | 5): AuthenticateError {
  const err = new Error(message) as AuthenticateError;
  // 4 = bad user name or password, 5 = not authorised (MQTT 3.1.1 CONNACK codes).
  (err as { returnCode: number }).returnCode = returnCode;
  return err;
}

function parseCommandPayload(payload: Buffer): JsonValue | undefined {
  if (payload.length === 0) return undefined;
  const text = payload.toString('utf8');
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

function readPem(value: string, field: string, baseDir: string | undefined): string {
  if (value.includes('-----BEGIN')) return value;
  const file = resolvePath(value, baseDir);
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ShouwangError(ErrorCodes.CONFIG_INVALID, `mqtt.tls.${field}: cannot read ${file}: ${errorMessage(err)}`, {
      cause: err,
      details: { field: `mqtt.tls.${field}`, file },
    });
  }
}

function listen(server: NetServer | TlsServer, port: number, host: string, what: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new ShouwangError(ErrorCodes.CONFIG_INVALID, `${what}: cannot listen on ${host}:${port}: ${err.code ?? err.message}${err.code === 'EADDRINUSE' ? ' (another broker is running on that port?)' : ''}`, {
          cause: err,
          details: { host, port },
        }),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolvePort((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: NetServer | TlsServer | undefined): Promise<void> {
  if (!server?.listening) return Promise.resolve();
  return new Promise((res) => server.close(() => res()));
}

/**
 * mqtt-packet (aedes' packet writer) fills a cache of 65,536 two-byte buffers the first time it
 * writes a packet: ~6.5 MB of heap for good, a twentieth of an edge gateway's memory. Without
 * it, the two bytes of a packet id or topic length are allocated per packet, which costs
 * nothing measurable at the gateway's message rates. Set on aedes' own copy of mqtt-packet;
 * skipped (cache kept) if it cannot be found.
 */
function skipPacketNumberCache(): void {
  try {
    const fromAedes = createRequire(createRequire(import.meta.url).resolve('aedes'));
    const packet = fromAedes('mqtt-packet') as { writeToStream?: { cacheNumbers?: boolean } };
    if (packet.writeToStream && typeof packet.writeToStream.cacheNumbers === 'boolean') packet.writeToStream.cacheNumbers = false;
  } catch {
    // A different layout of node_modules: the cache stays, nothing else changes.
  }
}

export class MqttBroker {
  readonly topics: Topics;
  readonly acl: Acl;
  private readonly log: Logger;
  private readonly identities = new WeakMap<Client, AclIdentity>();
  private readonly sockets = new Set<Socket>();
  private publishChain: Promise<void> = Promise.resolve();
  private accounts: Map<string, MqttAccount>;
  private readonly counters = { authFailures: 0, deniedPublishes: 0, deniedSubscriptions: 0, uplinks: 0, commands: 0 };
  private server: NetServer | undefined;
  private tlsServer: TlsServer | undefined;
  private boundPort = 0;
  private boundTlsPort: number | undefined;
  private aedesInstance: Aedes | undefined;
  private stopped = false;

  private constructor(private readonly options: MqttBrokerOptions) {
    this.topics = new Topics({ prefix: options.config.topicPrefix, site: options.site });
    this.acl = new Acl(this.topics);
    this.log = options.log;
    this.accounts = loadMqttAccounts(options.config, { baseDir: options.baseDir, log: options.log });
    if (this.accounts.size === 0 && !options.config.allowAnonymous) {
      this.log.warn('mqtt: no users configured and anonymous access is off: no client can connect (add one with `shouwang passwd --add`)');
    }
  }

  /** Create the broker and start listening. Throws CONFIG_INVALID for bad users/TLS files or a busy port. */
  static async start(options: MqttBrokerOptions): Promise<MqttBroker> {
    const broker = new MqttBroker(options);
    try {
      await broker.listen();
    } catch (err) {
      await broker.stop();
      throw err;
    }
    return broker;
  }

  /** The Aedes instance (for tests and diagnostics; publish through `publish()`). */
  get aedes(): Aedes {
    if (!this.aedesInstance) throw new Error('mqtt broker not started');
    return this.aedesInstance;
  }

  /** Bound TCP port (useful with `port: 0`). */
  get port(): number {
    return this.boundPort;
  }

  /** Bound TLS port, when a `tls` block is configured. */
  get tlsPort(): number | undefined {
    return this.boundTlsPort;
  }

  /** Role of a configured MQTT account, or undefined (commands map it onto a command role). */
  roleOf(username: string): MqttAccount['role'] | undefined {
    return this.accounts.get(username)?.role;
  }

  stats(): MqttBrokerStats {
    return { clients: this.aedesInstance?.connectedClients ?? 0, ...this.counters };
  }

  /** Publish as the gateway (bypasses the ACL: the gateway owns its topics). */
  publish(topic: string, payload: string | Buffer, opts: PublishOptions = {}): Promise<void> {
    const aedes = this.aedesInstance;
    if (!aedes || this.stopped) return Promise.reject(new Error(`mqtt broker stopped; not publishing ${topic}`));
    const packet: PublishPacket = {
      cmd: 'publish',
      topic,
      payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
      qos: opts.qos ?? 0,
      retain: opts.retain ?? false,
      dup: false,
    };
    // One publish at a time: aedes stamps every packet with an increasing broker counter and each
    // client drops a packet whose counter is not above the last one it was sent (aedes' dedupe).
    // QoS 1 packets take an extra async hop through persistence, so a QoS 1 alarm or availability
    // published concurrently with QoS 0 state would arrive "late" and be silently dropped.
    const next = this.publishChain.then(() => new Promise<void>((res, rej) => aedes.publish(packet, (err) => (err ? rej(err) : res()))));
    this.publishChain = next.catch(() => {});
    return next;
  }

  /** Send a command to an MQTT-native device (QoS 1, never retained). Call after the command module's checks. */
  sendCommand(device: string, command: string, payload: JsonValue | undefined): Promise<void> {
    return this.publish(this.topics.set(device, command), payload === undefined ? '' : JSON.stringify(payload), { qos: 1, retain: false });
  }

  /** Re-read `mqtt.users` + `usersFile` (after `shouwang passwd --add`). Connected clients keep their session. */
  reloadUsers(config: Pick<MqttConfig, 'users' | 'usersFile'> = this.options.config): void {
    this.accounts = loadMqttAccounts(config, { baseDir: this.options.baseDir, log: this.log });
    this.log.info({ users: this.accounts.size }, 'mqtt users reloaded');
  }

  /** Disconnect every client and close the listeners. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const aedes = this.aedesInstance;
    if (aedes) await new Promise<void>((res) => aedes.close(() => res()));
    // Sockets that never sent CONNECT are not Aedes clients yet; close them too.
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([closeServer(this.server), closeServer(this.tlsServer)]);
    this.log.info('mqtt broker stopped');
  }

  private async listen(): Promise<void> {
    const { Aedes } = await import('aedes');
    skipPacketNumberCache();
    const aedes = await Aedes.createBroker({
      id: `shouwang-${this.options.site}`,
      // A frozen subscriber must not stall alarm delivery to everyone else (see aedes docs).
      drainTimeout: 30_000,
      connectTimeout: 10_000,
    });
    this.aedesInstance = aedes;
    aedes.authenticate = (client, username, password, done) => {
      this.authenticate(client, username, password).then(
        (identity) => {
          this.identities.set(client, identity);
          done(null, true);
        },
        (err: AuthenticateError) => done(err, false),
      );
    };
    aedes.authorizePublish = (client, packet, done) => this.authorizePublish(client, packet, done);
    aedes.authorizeSubscribe = (client, sub, done) => done(null, this.authorizeSubscribe(client, sub));
    aedes.authorizeForward = (client, packet) => this.authorizeForward(client, packet);
    aedes.on('publish', (packet, client) => {
      if (client) this.consume(packet, client);
    });
    aedes.on('clientReady', (client) => this.deviceClientEvent(client, true));
    aedes.on('clientDisconnect', (client) => this.deviceClientEvent(client, false));
    aedes.on('clientError', (client, err) => this.log.debug({ clientId: client.id, err: errorMessage(err) }, 'mqtt client error'));
    aedes.on('connectionError', (client, err) => this.log.debug({ err: errorMessage(err) }, 'mqtt connection error'));

    const { host, port, tls } = this.options.config;
    // noDelay: without it Nagle holds small MQTT packets back ~40 ms waiting for an ACK.
    this.server = createNetServer({ noDelay: true }, (socket) => this.accept(socket));
    this.boundPort = await listen(this.server, port, host, 'mqtt');
    this.log.info({ host, port: this.boundPort }, 'mqtt broker listening');
    if (tls) {
      this.tlsServer = createTlsServer(
        {
          cert: readPem(tls.cert, 'cert', this.options.baseDir),
          key: readPem(tls.key, 'key', this.options.baseDir),
          ...(tls.ca !== undefined ? { ca: readPem(tls.ca, 'ca', this.options.baseDir) } : {}),
          minVersion: 'TLSv1.2',
          noDelay: true,
        },
        (socket) => this.accept(socket),
      );
      this.tlsServer.on('tlsClientError', (err) => this.log.debug({ err: errorMessage(err) }, 'mqtt tls handshake failed'));
      this.boundTlsPort = await listen(this.tlsServer, tls.port, host, 'mqtt tls');
      this.log.info({ host, port: this.boundTlsPort }, 'mqtt tls listener listening');
    }
  }

  private accept(socket: Socket | TLSSocket): void {
    socket.setNoDelay(true);
    if (this.stopped) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.aedes.handle(socket);
  }

  private async authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<AclIdentity> {
    const remote = client.conn && 'remoteAddress' in client.conn ? client.conn.remoteAddress : undefined;
    if (username === undefined || username === '') {
      if (this.options.config.allowAnonymous) return ANONYMOUS;
      this.counters.authFailures++;
      this.log.warn({ clientId: client.id, remote }, 'mqtt: anonymous client refused (allowAnonymous is off)');
      throw authError('anonymous access is off', 5);
    }
    const account = this.accounts.get(username);
    const plain = password?.toString('utf8') ?? '';
    let ok = false;
    try {
      ok = await verifyPasswordAsync(plain, account?.passwordHash ?? dummyPasswordHash());
    } catch (err) {
      this.log.error({ username, err: errorMessage(err) }, 'mqtt: cannot verify password');
    }
    if (!account || !ok) {
      this.counters.authFailures++;
      this.log.warn({ clientId: client.id, username, remote }, 'mqtt: bad user name or password');
      throw authError('bad user name or password', 4);
    }
    const identity: AclIdentity = {
      username: account.username,
      role: account.role,
      publish: account.publish,
      subscribe: account.subscribe,
    };
    if (account.device !== undefined) identity.device = account.device;
    this.log.info({ clientId: client.id, username, role: account.role, remote }, 'mqtt client authenticated');
    return identity;
  }

  private authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const identity = client ? this.identities.get(client) : undefined;
    if (!client || !identity || !this.acl.canPublish(identity, packet.topic)) {
      this.counters.deniedPublishes++;
      this.log.warn({ clientId: client?.id, username: identity?.username, topic: packet.topic }, 'mqtt: publish refused by ACL; disconnecting client');
      done(new Error(`not authorised to publish to ${packet.topic}`));
      return;
    }
    if (this.topics.parse(packet.topic)?.kind === 'set') packet.retain = false;
    done(null);
  }

  private authorizeSubscribe(client: Client, sub: Subscription): Subscription | null {
    const identity = this.identities.get(client);
    if (identity && this.acl.canSubscribe(identity, sub.topic)) return sub;
    this.counters.deniedSubscriptions++;
    this.log.warn({ clientId: client.id, username: identity?.username, filter: sub.topic }, 'mqtt: subscription refused by ACL');
    return null;
  }

  private authorizeForward<P extends PublishPacket & { clientId?: string }>(client: Client, packet: P): P | null {
    const identity = this.identities.get(client);
    if (!identity || !this.acl.canRead(identity, packet.topic)) return null;
    // Client-originated commands go to the command module, not straight to the device.
    if (identity.role === 'device' && packet.clientId !== undefined && this.topics.parse(packet.topic)?.kind === 'set') return null;
    return packet;
  }

  /** Hand client traffic on `up` and `set` topics to the gateway. */
  private consume(packet: PublishPacket, client: Client): void {
    const parsed = this.topics.parse(packet.topic);
    if (parsed?.kind !== 'up' && parsed?.kind !== 'set') return;
    const username = this.identities.get(client)?.username ?? '';
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    if (payload.length > MAX_PAYLOAD_BYTES) {
      this.log.warn({ topic: packet.topic, clientId: client.id, bytes: payload.length }, 'mqtt: payload too large; ignored');
      return;
    }
    try {
      if (parsed.kind === 'up') {
        this.counters.uplinks++;
        this.options.onUplink?.({ device: parsed.device, topic: packet.topic, payload, clientId: client.id, username });
      } else if (parsed.kind === 'set') {
        this.counters.commands++;
        if (!this.options.onCommand) {
          this.log.warn({ topic: packet.topic, clientId: client.id }, 'mqtt: command received but no command handler is wired; ignored');
          return;
        }
        this.options.onCommand({
          device: parsed.device,
          command: parsed.command,
          payload: parseCommandPayload(payload),
          topic: packet.topic,
          clientId: client.id,
          username,
        });
      }
    } catch (err) {
      this.log.error({ topic: packet.topic, err: errorMessage(err) }, 'mqtt: handler for client message failed');
    }
  }

  private deviceClientEvent(client: Client, connected: boolean): void {
    const identity = this.identities.get(client);
    if (identity?.role !== 'device' || identity.device === undefined || !this.options.onDeviceClient) return;
    try {
      this.options.onDeviceClient({ device: identity.device, clientId: client.id, username: identity.username, connected });
    } catch (err) {
      this.log.error({ device: identity.device, err: errorMessage(err) }, 'mqtt: device client handler failed');
    }
  }
}

/** Start the embedded broker (same as MqttBroker.start). */
export function startMqttBroker(options: MqttBrokerOptions): Promise<MqttBroker> {
  return MqttBroker.start(options);
}
