/**
 * Small shared pieces of the benchmarks: the machine line, load average, percentiles, a
 * sub-millisecond wait, /proc sampling of a process, and the one `BENCH {json}` result line
 * that scripts/bench.mjs collects. Not a benchmark itself (no `.bench.ts` suffix).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { stopAll } from '../helpers/processes.js';

export interface BenchMetric {
  name: string;
  value: number | string;
  target?: string;
  pass?: boolean;
}

export interface BenchResult {
  title: string;
  method: string;
  metrics: BenchMetric[];
  notes?: string;
  machine?: string;
}

/** CPU model, cores, RAM, Node version, and the load average when the bench ran. */
export function machineLine(): string {
  const cpu = cpus()[0]?.model?.trim() ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}, Node ${process.version}; run ${new Date().toISOString()}`;
}

export function loadLine(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
}

/** Print the result line scripts/bench.mjs collects (the last `BENCH ` line of stdout). */
export function printResult(r: BenchResult): void {
  process.stdout.write(`BENCH ${JSON.stringify({ ...r, machine: r.machine ?? machineLine() })}\n`);
}

export function log(msg: string): void {
  process.stdout.write(`${msg}\n`);
}

/** Nearest-rank percentile of a sorted array (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function round(n: number, digits = 2): number {
  return Number(n.toFixed(digits));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until a performance.now() deadline to a few µs: a coarse timer, then a setImmediate spin. */
export function waitUntil(deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const spin = (): void => {
      if (performance.now() >= deadline) resolve();
      else setImmediate(spin);
    };
    const coarse = deadline - performance.now() - 2.5;
    if (coarse >= 1) setTimeout(spin, Math.floor(coarse));
    else setImmediate(spin);
  });
}

/** Wall-clock epoch ms with sub-ms precision, the same expression the simulator uses for press times. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

const CLK_TCK = 100; // Linux USER_HZ; /proc/<pid>/stat counts CPU time in these ticks

export interface ProcSample {
  /** performance.now() of the sample. */
  at: number;
  /** User + system CPU time of the process, ms. */
  cpuMs: number;
  rssKb: number;
}

/** CPU time (utime + stime) and VmRSS of a process, from /proc. */
export function sampleProc(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces: parse after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /VmRSS:\s+(\d+) kB/.exec(status);
  return { at: performance.now(), cpuMs: ((utime + stime) * 1000) / CLK_TCK, rssKb: rss ? Number(rss[1]) : Number.NaN };
}

export interface NodeChild<T> {
  child: ChildProcess;
  ready: T;
  stop(): Promise<void>;
}

/**
 * Spawn `node <args>` (no tsx: e.g. the built gateway) from `cwd`, resolve with the first stdout
 * line for which `isReady` returns a value. stop() sends SIGTERM to that PID (SIGKILL after 10 s).
 */
/** Start a node process (`command`: node itself by default, or a script with a #! line such as bin/shouwang.js). */
export function startNodeProcess<T>(args: string[], cwd: string, isReady: (line: string) => T | undefined, timeoutMs = 60_000, command = process.execPath): Promise<NodeChild<T>> {
  const child = spawn(command, args, { cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  const tail: string[] = [];
  child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      void stop();
      reject(new Error(`node ${args.join(' ')} not ready within ${timeoutMs} ms\n${tail.join('\n')}\n${stderr.join('').slice(-3000)}`));
    }, timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      if (settled) return;
      const r = isReady(line);
      if (r !== undefined) {
        settled = true;
        clearTimeout(timer);
        resolve({ child, ready: r, stop });
      }
    });
    child.once('exit', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`node ${args.join(' ')} exited (${code ?? signal}) before ready\n${tail.join('\n')}\n${stderr.join('').slice(-3000)}`));
    });
  });
}

/** Run a bench's main: a failure sets a non-zero exit code, and every child process is stopped. */
export function runBench(main: () => Promise<void>): void {
  main()
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => void stopAll());
}
