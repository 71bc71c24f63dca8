/**
 * A simulated serial line: a socat pty pair (`pty,raw,echo=0,link=<gateway side>` <->
 * `pty,raw,echo=0,link=<sim side>`). The gateway opens the gateway-side path as if it were
 * /dev/ttyUSB0; the simulator opens the other end. Several slaves share one pair, as they share
 * one RS485 line.
 *
 * The sim side is opened with plain fs + node:tty streams: libuv polls the pty and writes
 * without the thread pool, so a reply leaves within tens of microseconds of write()
 * (measured ~0.1 ms one way through socat). "Unplugging" kills socat, which removes both links,
 * and starts it again at the same paths.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { constants, existsSync, lstatSync, openSync, unlinkSync } from 'node:fs';
import tty from 'node:tty';
import type { Logger } from '../../gateway/src/log.js';
import { monoNow } from './clock.js';

export type LineDataHandler = (chunk: Buffer, at: number) => void;

let socatChecked: boolean | undefined;

/** True when socat can be run. */
export function socatAvailable(): boolean {
  if (socatChecked === undefined) {
    const r = spawnSync('socat', ['-V'], { stdio: 'ignore' });
    socatChecked = r.status === 0;
  }
  return socatChecked;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every socat we started, so the process can kill them (by PID) on its way out. */
const liveSocats = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of liveSocats) if (c.pid !== undefined && c.exitCode === null) {
      try {
        process.kill(c.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });
}

/** Kill every socat this process started (signal handlers call this before exiting). */
export function killAllSocats(): void {
  for (const c of liveSocats) if (c.pid !== undefined && c.exitCode === null) {
    try {
      process.kill(c.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

export class PtyLine {
  private child: ChildProcess | undefined;
  private reader: tty.ReadStream | undefined;
  private writer: tty.WriteStream | undefined;
  private wanted: 'up' | 'unplugged' | 'stopped' = 'stopped';
  private replugTimer: NodeJS.Timeout | undefined;
  private respawnTimer: NodeJS.Timeout | undefined;
  private startPromise: Promise<void> | undefined;
  /** Bumped on every (re)start; a socat exit from an older generation is not "unexpected". */
  private generation = 0;

  constructor(
    readonly id: string,
    /** The path the gateway opens. */
    readonly gatewayPath: string,
    /** The path the simulator opens. */
    readonly simPath: string,
    private readonly onData: LineDataHandler,
    private readonly log: Logger,
    /** Called when the line goes down (unplug, socat died): the bus drops partial frames. */
    private readonly onDown: () => void = () => {},
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get isUp(): boolean {
    return this.writer !== undefined;
  }

  async start(): Promise<void> {
    this.wanted = 'up';
    await this.spawnAndOpen();
  }

  /** Write a whole frame; false when the line is down. */
  write(frame: Buffer): boolean {
    if (!this.writer) return false;
    this.writer.write(frame);
    return true;
  }

  /**
   * Pull the plug for `ms`: socat is killed (both links vanish), then started again at the same
   * paths. Resolves once the gateway-side path is gone.
   */
  async unplug(ms: number): Promise<{ downAt: number }> {
    this.wanted = 'unplugged';
    if (this.replugTimer) clearTimeout(this.replugTimer);
    await this.startPromise?.catch(() => {});
    await this.teardown();
    const downAt = monoNow();
    this.replugTimer = setTimeout(() => {
      this.replugTimer = undefined;
      if (this.wanted !== 'unplugged') return;
      this.wanted = 'up';
      this.spawnAndOpen().catch((err: unknown) => this.log.error({ bus: this.id, err: String(err) }, 'replug failed'));
    }, ms);
    return { downAt };
  }

  async stop(): Promise<void> {
    this.wanted = 'stopped';
    if (this.replugTimer) clearTimeout(this.replugTimer);
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    await this.startPromise?.catch(() => {});
    await this.teardown();
  }

  private spawnAndOpen(): Promise<void> {
    this.startPromise = this.doSpawnAndOpen();
    return this.startPromise;
  }

  private async doSpawnAndOpen(): Promise<void> {
    installExitHook();
    const gen = ++this.generation;
    for (const p of [this.gatewayPath, this.simPath]) removeStaleLink(p);
    const child = spawn('socat', [`pty,raw,echo=0,link=${this.gatewayPath}`, `pty,raw,echo=0,link=${this.simPath}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    liveSocats.add(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.once('exit', (code, signal) => {
      liveSocats.delete(child);
      if (gen !== this.generation || this.wanted !== 'up') return;
      // socat died on its own: the gateway sees the port vanish; bring it back like a replug.
      this.log.warn({ bus: this.id, code, signal, stderr: stderr.trim() }, 'socat exited; restarting the pty pair');
      this.closeSimSide();
      this.onDown();
      this.respawnTimer = setTimeout(() => {
        if (this.wanted === 'up' && gen === this.generation)
          this.spawnAndOpen().catch((err: unknown) => this.log.error({ bus: this.id, err: String(err) }, 'socat restart failed'));
      }, 200);
    });
    const deadline = monoNow() + 5000;
    while (!(existsSync(this.gatewayPath) && existsSync(this.simPath))) {
      if (child.exitCode !== null) throw new Error(`socat for bus ${this.id} exited (${child.exitCode}): ${stderr.trim()}`);
      if (monoNow() > deadline) throw new Error(`socat for bus ${this.id} did not create ${this.gatewayPath} within 5 s`);
      await sleep(5);
    }
    this.openSimSide();
    this.log.debug({ bus: this.id, pid: child.pid, path: this.gatewayPath }, 'pty pair up');
  }

  private openSimSide(): void {
    // O_NOCTTY: never let the pty become our controlling terminal. One fd per stream: each
    // tty handle closes its own fd, so sharing one would close it twice.
    const flags = constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK;
    const reader = new tty.ReadStream(openSync(this.simPath, flags));
    reader.setRawMode(true);
    const writer = new tty.WriteStream(openSync(this.simPath, flags));
    reader.on('data', (chunk: Buffer) => this.onData(chunk, monoNow()));
    // EIO when socat goes away: the exit handler or unplug deals with it.
    reader.on('error', () => {});
    writer.on('error', () => {});
    this.reader = reader;
    this.writer = writer;
  }

  private closeSimSide(): void {
    const { reader, writer } = this;
    this.reader = undefined;
    this.writer = undefined;
    reader?.destroy();
    writer?.destroy();
  }

  private async teardown(): Promise<void> {
    this.generation++;
    this.closeSimSide();
    this.onDown();
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(killTimer);
    }
    liveSocats.delete(child as ChildProcess);
    // socat unlinks its links on a clean exit; after SIGKILL we remove our own.
    for (const p of [this.gatewayPath, this.simPath]) removeStaleLink(p);
  }
}

/** Remove a symlink we own that points nowhere useful (left by a killed socat). */
function removeStaleLink(path: string): void {
  try {
    if (lstatSync(path).isSymbolicLink()) unlinkSync(path);
  } catch {
    // not there
  }
}

