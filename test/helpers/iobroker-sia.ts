/**
 * An independent DC-09 receiver for interop tests: the `sia` class of the npm package
 * iobroker.sia 2.0.4 (MIT, build/lib/sia.js), loaded standalone.
 *
 * Same procedure as test/integration/dc09-iobroker-interop.test.ts (docs/dc09.md, "Interop"):
 * `npm pack` into a cache under os.tmpdir() - never into this project's node_modules - checked
 * against the registry's published shasum, extracted once and reused. tools.js require()s
 * `axios` and `node-ssh` at load time but the receive path never calls them, so the cache gets
 * two stub modules that throw if they ever are. Needs the npm registry on the first run only.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Socket as UdpSocket } from 'node:dgram';
import { once, type EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const IOBROKER_SIA_PACKAGE = 'iobroker.sia@2.0.4';
const SHASUM = '419ea4efd7b043db99653d41d6c134d50dfa36c6';
const CACHE = join(tmpdir(), 'shouwang-interop', 'iobroker.sia-2.0.4');
const SIA_JS = join(CACHE, 'package', 'build', 'lib', 'sia.js');

/** An account as their `setAccounts` takes it; `password` is the key as hex when `hex` is true. */
export interface IoBrokerSiaAccount {
  accountnumber: string;
  password?: string;
  aes?: boolean;
  hex?: boolean;
}

/** What their parser makes of a message it accepted. */
export interface IoBrokerSiaMessage {
  id: string;
  seq: string;
  act: string;
  lpref: string;
  rpref: string;
  data_message: string;
  data_extended: string;
  ts: string;
}

interface IoBrokerSia extends EventEmitter {
  servertcp: Server;
  serverudp: UdpSocket;
  setAccounts(accounts: IoBrokerSiaAccount[]): void;
  serverStartTCP(): void;
  serverStartUDP(): void;
}
type IoBrokerSiaClass = new (p: {
  timeout: number;
  sockend: boolean;
  host: string;
  port: number;
  logger: Record<'info' | 'debug' | 'error', (m: string) => void>;
}) => IoBrokerSia;

/** npm pack + checksum + extract + stubs, once per machine (the cache survives test runs). */
export function ensureIoBrokerSia(): string {
  if (existsSync(SIA_JS)) return SIA_JS;
  mkdirSync(join(tmpdir(), 'shouwang-interop'), { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'shouwang-interop', 'pack-'));
  try {
    const out = execFileSync('npm', ['pack', IOBROKER_SIA_PACKAGE, '--pack-destination', work, '--json'], {
      cwd: work,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 50_000,
    });
    const info = JSON.parse(out) as Array<{ filename: string }>;
    const tgz = join(work, info[0]!.filename);
    const sha1 = createHash('sha1').update(readFileSync(tgz)).digest('hex');
    if (sha1 !== SHASUM) throw new Error(`${IOBROKER_SIA_PACKAGE}: shasum ${sha1}, expected ${SHASUM}`);
    execFileSync('tar', ['xzf', tgz, '-C', work]);
    const stubs = join(work, 'package', 'node_modules');
    mkdirSync(join(stubs, 'axios'), { recursive: true });
    mkdirSync(join(stubs, 'node-ssh'), { recursive: true });
    writeFileSync(
      join(stubs, 'axios', 'index.js'),
      "'use strict';\nmodule.exports = function axiosStub() { throw new Error('axios stub: not used on the receive path'); };\n",
    );
    writeFileSync(
      join(stubs, 'node-ssh', 'index.js'),
      "'use strict';\nexports.NodeSSH = class NodeSSHStub { constructor() { throw new Error('node-ssh stub: not used on the receive path'); } };\n",
    );
    // Another run may have finished the same work meanwhile; theirs is as good as ours.
    if (!existsSync(SIA_JS)) {
      rmSync(CACHE, { recursive: true, force: true });
      renameSync(work, CACHE);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return SIA_JS;
}

export interface IoBrokerSiaServer {
  tcpPort: number;
  udpPort: number;
  /** Messages it accepted (and ACKed), in order. */
  received: IoBrokerSiaMessage[];
  /** Why it refused frames (each refusal was answered NAK). */
  refused: string[];
  stop(): Promise<void>;
}

export interface IoBrokerSiaOptions {
  accounts: IoBrokerSiaAccount[];
  /** Their timestamp window in seconds (symmetric); 0 = not checked (the adapter's default). */
  timeout?: number;
  /** Close the TCP connection after every answer (the adapter's default: true). */
  sockend?: boolean;
}

/** Starts their receiver on 127.0.0.1, TCP and UDP on ephemeral ports. */
export async function startIoBrokerSia(opts: IoBrokerSiaOptions): Promise<IoBrokerSiaServer> {
  const require = createRequire(import.meta.url);
  const { sia } = require(ensureIoBrokerSia()) as { sia: IoBrokerSiaClass };
  const quiet = (): undefined => undefined;
  const server = new sia({
    timeout: opts.timeout ?? 0,
    sockend: opts.sockend ?? true,
    host: '127.0.0.1',
    port: 0,
    logger: { info: quiet, debug: quiet, error: quiet },
  });
  // setAccounts turns hex passwords into Buffers in place: give it copies.
  server.setAccounts(opts.accounts.map((a) => ({ ...a })));
  const received: IoBrokerSiaMessage[] = [];
  const refused: string[] = [];
  server.on('sia', (msg: IoBrokerSiaMessage | undefined, err: string | undefined) => {
    if (msg) received.push(msg);
    if (err) refused.push(err);
  });
  // Their per-connection errors (e.g. writing an ACK to a socket it already ended) are re-emitted here.
  server.on('error', () => undefined);
  const tcpListening = once(server.servertcp, 'listening');
  const udpListening = once(server.serverudp, 'listening');
  server.serverStartTCP();
  server.serverStartUDP();
  await Promise.all([tcpListening, udpListening]);
  const open = new Set<Socket>();
  server.servertcp.on('connection', (s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  return {
    tcpPort: (server.servertcp.address() as AddressInfo).port,
    udpPort: server.serverudp.address().port,
    received,
    refused,
    stop: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.servertcp.close(() => r()));
      await new Promise<void>((r) => server.serverudp.close(() => r()));
    },
  };
}
