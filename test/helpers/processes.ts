/**
 * Start real child processes for integration tests and benches (simulator, gateway), wait for
 * their ready line on stdout, and stop them by PID. Every process started here is killed in
 * `stopAll()`, which tests call in afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const repoRoot = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

export interface Started<T> {
  child: ChildProcess;
  ready: T;
  /** Every stdout line seen so far (JSON logs included). */
  lines: string[];
  /** Everything written to stderr so far (banners, first-run passwords). */
  stderrText(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const running = new Set<ChildProcess>();

/**
 * The command line for a TypeScript entry point: `node --import tsx <script>`, or, when the test
 * command has just built the project (scripts/test.mjs sets SW_TEST_BUILT=1), the compiled
 * `node dist/<script>.js`, which starts about a second sooner (tests that restart a process 50
 * times feel that).
 */
export function nodeArgsFor(script: string): string[] {
  const built = join(repoRoot, 'dist', script.replace(/\.ts$/, '.js'));
  if (process.env.SW_TEST_BUILT === '1' && existsSync(built)) return [built];
  return ['--import', 'tsx', script];
}

/**
 * Spawn `node --import tsx <script> ...args` from the repo root and resolve with the first stdout
 * line for which `isReady` returns a value.
 */
export function startTsProcess<T>(
  script: string,
  args: string[],
  isReady: (line: string) => T | undefined,
  opts: { timeoutMs?: number; env?: Record<string, string>; echo?: boolean } = {},
): Promise<Started<T>> {
  const child = spawn(process.execPath, [...nodeArgsFor(script), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  const stderr: string[] = [];
  child.stderr!.on('data', (d: Buffer) => {
    stderr.push(d.toString());
    if (opts.echo) process.stderr.write(d);
  });
  const stop = (signal: NodeJS.Signals = 'SIGTERM') =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(kill);
        running.delete(child);
        resolve();
      });
      child.kill(signal);
    });
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      void stop('SIGKILL');
      reject(new Error(`${script} not ready within ${opts.timeoutMs ?? 30_000} ms\nstdout:\n${lines.slice(-20).join('\n')}\nstderr:\n${stderr.join('').slice(-3000)}`));
    }, opts.timeoutMs ?? 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (lines.length > 5000) lines.splice(0, 1000);
      if (opts.echo) process.stdout.write(`${line}\n`);
      if (settled) return;
      const r = isReady(line);
      if (r !== undefined) {
        settled = true;
        clearTimeout(timer);
        resolve({ child, ready: r, lines, stop, stderrText: () => stderr.join('') });
      }
    });
    child.once('exit', (code, signal) => {
      running.delete(child);
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code ?? signal}) before ready\nstdout:\n${lines.slice(-20).join('\n')}\nstderr:\n${stderr.join('').slice(-3000)}`));
    });
  });
}

/** Parse a line as JSON, or undefined. */
export function jsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 3000).unref();
        }),
    ),
  );
  running.clear();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `fn` until it returns a truthy value or the time runs out. */
export async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
