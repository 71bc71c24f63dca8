/**
 * Modbus TCP devices: one listening port per device on 127.0.0.1 (as each IP device has its own
 * address), MBAP framing, the same register images and exceptions as on RTU. Replies go out at
 * once: Ethernet has no wire timing worth simulating. Cheap enough for hundreds of devices
 * polled every second in one process: one server and a small parse loop per connection.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../../gateway/src/log.js';
import { monoToEpoch, monoNow } from './clock.js';
import type { SimDevice } from './device-model.js';
import { answerPdu } from './modbus-slave.js';

const MBAP_HEADER = 7;
/** Largest PDU (253) + unit id. */
const MAX_MBAP_LENGTH = 254;

export interface TcpBusStats {
  id: string;
  type: 'tcp';
  devices: number;
  connections: number;
  requests: number;
  replies: number;
  exceptions: number;
  /** Frames with a bad MBAP header (protocol id not 0, impossible length); the connection is closed. */
  badFrames: number;
  /** Requests a dead device ignored. */
  ignored: number;
}

type Counters = Omit<TcpBusStats, 'id' | 'type' | 'devices' | 'connections'>;

class DeviceServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    readonly device: SimDevice,
    private readonly counters: Counters,
    private readonly log: Logger,
    readonly host: string,
  ) {}

  get connections(): number {
    return this.sockets.size;
  }

  async listen(port = 0): Promise<void> {
    const server = createServer({ noDelay: true }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ device: this.device.id, err: String(err) }, 'modbus tcp server error'));
    this.server = server;
    const addr = server.address();
    if (addr && typeof addr === 'object') this.port = addr.port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      const at = monoNow();
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= MBAP_HEADER) {
        const protocol = buf.readUInt16BE(2);
        const length = buf.readUInt16BE(4);
        if (protocol !== 0 || length < 2 || length > MAX_MBAP_LENGTH) {
          // A real device drops a connection that speaks something else.
          this.counters.badFrames++;
          socket.destroy();
          return;
        }
        if (buf.length < 6 + length) break;
        const frame = buf.subarray(0, 6 + length);
        buf = buf.subarray(6 + length);
        this.answer(socket, frame, at);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => this.sockets.delete(socket));
  }

  private answer(socket: Socket, frame: Buffer, at: number): void {
    const c = this.counters;
    c.requests++;
    const d = this.device;
    if (d.faults.dead) {
      c.ignored++;
      return;
    }
    const answer = answerPdu(d, frame.subarray(MBAP_HEADER), monoToEpoch(at));
    if (answer.exception !== undefined) c.exceptions++;
    const out = Buffer.alloc(MBAP_HEADER + answer.pdu.length);
    frame.copy(out, 0, 0, 4); // transaction id + protocol id
    out.writeUInt16BE(answer.pdu.length + 1, 4);
    out[6] = frame[6]!; // unit id echoed
    answer.pdu.copy(out, MBAP_HEADER);
    const send = () => {
      if (socket.destroyed) return;
      socket.write(out);
      c.replies++;
    };
    if (d.faults.slowMs > 0) setTimeout(send, d.faults.slowMs);
    else send();
  }
}

/** The Modbus TCP devices of one village bus of kind `tcp`. */
export class ModbusTcpBus {
  private readonly servers: DeviceServer[];
  private readonly counters: Counters = { requests: 0, replies: 0, exceptions: 0, badFrames: 0, ignored: 0 };
  private replugTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    readonly id: string,
    devices: readonly SimDevice[],
    private readonly log: Logger,
    readonly host = '127.0.0.1',
  ) {
    this.servers = devices.map((d) => new DeviceServer(d, this.counters, log, host));
  }

  async start(): Promise<void> {
    // Listen in batches: 500 listens at once is fine for Node but keeps startup errors readable.
    for (let i = 0; i < this.servers.length; i += 50) await Promise.all(this.servers.slice(i, i + 50).map((s) => s.listen(s.port)));
  }

  /** Device id -> port. */
  ports(): Array<{ device: string; port: number }> {
    return this.servers.map((s) => ({ device: s.device.id, port: s.port }));
  }

  /** Every device of this bus stops listening for `ms` (a switch unplugged), then comes back on the same ports. */
  async unplug(ms: number): Promise<{ downAt: number }> {
    if (this.replugTimer) clearTimeout(this.replugTimer);
    await Promise.all(this.servers.map((s) => s.close()));
    const downAt = monoNow();
    this.replugTimer = setTimeout(() => {
      this.replugTimer = undefined;
      if (this.stopped) return;
      this.start().catch((err: unknown) => this.log.error({ bus: this.id, err: String(err) }, 'replug failed'));
    }, ms);
    return { downAt };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.replugTimer) clearTimeout(this.replugTimer);
    await Promise.all(this.servers.map((s) => s.close()));
  }

  stats(): TcpBusStats {
    return {
      id: this.id,
      type: 'tcp',
      devices: this.servers.length,
      connections: this.servers.reduce((n, s) => n + s.connections, 0),
      ...this.counters,
    };
  }
}
