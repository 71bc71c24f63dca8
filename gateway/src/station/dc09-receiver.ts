/**
 * SIA DC-09 receiver (the police-station / monitoring-centre end of the alarm path) over TCP
 * and UDP. It only moves bytes: frames are cut out of each TCP stream (or UDP datagram) by the
 * stream splitter and answered by Dc09FrameHandler, which holds every protocol rule.
 *
 * TCP frames on one connection are answered in order, one at a time (a slow onEvent delays
 * the answers behind it rather than reordering them). Nothing a peer sends can throw out of a
 * socket callback: every path ends in an answer, silence, or a log line.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Dc09StreamSplitter } from '../alarms/dc09/index.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { systemClock, type Clock } from '../polling/clock.js';
import { accountTable, parseDc09ReceiverConfig, type Dc09ReceiverConfigInput } from './dc09-config.js';
import { Dc09FrameHandler, type Dc09ReceivedEvent, type Dc09Stats, type Dc09Transport } from './dc09-handler.js';
import { LineSupervision } from './dc09-supervision.js';

export type { Dc09ReceivedEvent } from './dc09-handler.js';

export type Dc09ReceiverOptions = Dc09ReceiverConfigInput & {
  onEvent: (ev: Dc09ReceivedEvent) => void | Promise<void>;
  /** Called once when an account stays silent for its supervision window. */
  onLineLost?: (account: string) => void;
  /** Called when a lost account sends again. */
  onLineRestored?: (account: string) => void;
  log: Logger;
  clock?: Clock;
};

export interface Dc09ReceiverStats extends Dc09Stats {
  garbageBytes: number;
  tcpConnections: number;
  tcpConnectionsTotal: number;
  udpDatagrams: number;
  linesLost: string[];
}

export interface Dc09Receiver {
  readonly tcpPort: number;
  readonly udpPort: number;
  stats(): Dc09ReceiverStats;
  stop(): Promise<void>;
}

export async function startDc09Receiver(options: Dc09ReceiverOptions): Promise<Dc09Receiver> {
  const { onEvent, onLineLost, onLineRestored, log: parentLog, clock: givenClock, ...raw } = options;
  const cfg = parseDc09ReceiverConfig(raw);
  const clock = givenClock ?? systemClock;
  const log = parentLog.child({ module: 'dc09-receiver' });
  const accounts = accountTable(cfg);

  // Listener errors must not escape into timers or socket callbacks.
  const supervision = new LineSupervision(clock, {
    onLost: (account) => {
      log.warn({ account }, 'DC-09 line lost: no message within the supervision window');
      guard(() => onLineLost?.(account), 'onLineLost');
    },
    onRestored: (account) => {
      log.info({ account }, 'DC-09 line restored');
      guard(() => onLineRestored?.(account), 'onLineRestored');
    },
  });
  function guard(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      log.error({ err: errorMessage(err) }, `DC-09 ${what} listener threw`);
    }
  }

  const handler = new Dc09FrameHandler({
    accounts,
    windowMs: cfg.windowMs,
    dedupeMs: cfg.dedupeMs,
    clock,
    log,
    supervision,
    onEvent,
  });
  const counters = { garbageBytes: 0, tcpConnectionsTotal: 0, udpDatagrams: 0 };
  const sockets = new Set<Socket>();
  let stopping = false;

  async function answer(frame: Buffer, transport: Dc09Transport, remote: string): Promise<Buffer | null> {
    try {
      return (await handler.handle(frame, { transport, remote })).reply;
    } catch (err) {
      // Defensive: the handler is written not to throw, but a bug must not kill the receiver.
      log.error({ remote, err: errorMessage(err) }, 'DC-09 handler failed');
      return null;
    }
  }

  const tcp: Server = createServer((socket) => {
    if (stopping) {
      socket.destroy();
      return;
    }
    counters.tcpConnectionsTotal++;
    sockets.add(socket);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const splitter = new Dc09StreamSplitter();
    let queue: Promise<void> = Promise.resolve();
    socket.setTimeout(cfg.idleTimeoutMs, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      const before = splitter.droppedBytes;
      const frames = splitter.push(chunk);
      counters.garbageBytes += splitter.droppedBytes - before;
      for (const frame of frames) {
        queue = queue.then(async () => {
          const reply = await answer(frame, 'tcp', remote);
          if (reply && !socket.destroyed && socket.writable) socket.write(reply);
        });
      }
    });
    socket.on('error', (err) => log.debug({ remote, err: errorMessage(err) }, 'DC-09 TCP connection error'));
    socket.on('close', () => {
      counters.garbageBytes += splitter.pendingBytes;
      sockets.delete(socket);
    });
  });
  tcp.maxConnections = cfg.maxConnections;

  const udp: UdpSocket = createSocket('udp4');
  udp.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    counters.udpDatagrams++;
    const remote = `${rinfo.address}:${rinfo.port}`;
    // A datagram should hold exactly one frame; the splitter tolerates noise around it.
    const splitter = new Dc09StreamSplitter();
    const frames = splitter.push(msg);
    counters.garbageBytes += splitter.droppedBytes + splitter.pendingBytes;
    for (const frame of frames) {
      void answer(frame, 'udp', remote).then((reply) => {
        if (reply && !stopping) {
          udp.send(reply, rinfo.port, rinfo.address, (err) => {
            if (err) log.debug({ remote, err: errorMessage(err) }, 'DC-09 UDP send failed');
          });
        }
      });
    }
  });
  udp.on('error', (err) => log.error({ err: errorMessage(err) }, 'DC-09 UDP socket error'));

  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(cfg.tcpPort, cfg.host, () => {
      tcp.off('error', reject);
      tcp.on('error', (err) => log.error({ err: errorMessage(err) }, 'DC-09 TCP server error'));
      resolve();
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(cfg.udpPort, cfg.host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    throw err;
  }

  for (const entry of accounts.values()) {
    if (entry.supervisionMs !== undefined) supervision.watch(entry.account, entry.supervisionMs);
  }

  const tcpPort = (tcp.address() as AddressInfo).port;
  const udpPort = udp.address().port;
  log.info({ host: cfg.host, tcpPort, udpPort, accounts: accounts.size }, 'DC-09 receiver listening');

  return {
    tcpPort,
    udpPort,
    stats: () => ({
      ...handler.stats,
      ...counters,
      tcpConnections: sockets.size,
      linesLost: supervision.lostAccounts(),
    }),
    stop: async () => {
      if (stopping) return;
      stopping = true;
      supervision.stop();
      const tcpClosed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await tcpClosed;
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      log.info('DC-09 receiver stopped');
    },
  };
}
