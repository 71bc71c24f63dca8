/**
 * Run the real `shouwang` CLI as a child process (node --import tsx gateway/src/main.ts) and
 * collect its output. Asynchronous on purpose: tests that answer Modbus requests in this
 * process must keep their event loop running while the CLI talks to them.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const repoRoot = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const tsxLoader = join(repoRoot, 'node_modules/tsx/dist/loader.mjs');
const mainTs = join(repoRoot, 'gateway/src/main.ts');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The default timeout stays under vitest's 30 s testTimeout, so a hung CLI is killed here rather than orphaned. */
export function runCli(args: string[], opts: { cwd?: string; input?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', tsxLoader, mainTs, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`shouwang ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 25_000} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, opts.timeoutMs ?? 25_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      // 'exit' can come before the pipes are drained; 'close' guarantees all output is in.
      child.once('close', () => resolve({ code, stdout, stderr, ms: Date.now() - started }));
      if (child.stdout.closed && child.stderr.closed) resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** A fresh temp directory with the given files (paths relative to it). */
export function tempTree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'shouwang-cli-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

/** Test profiles: independent of the shipped ones, so these tests pin the CLI, not the profile library. */
export const TEST_PROFILES: Record<string, string> = {
  'profiles/lock.yaml': `id: test-lock
name: { zh: 测试门锁, en: Test lock }
kind: door-lock
transport: [modbus-rtu, modbus-tcp]
identify: { table: holding, address: 0, count: 2, expect: [0x5357, 0x0101] }
points:
  - { id: door, name: { zh: 门, en: Door }, table: discrete, address: 0, type: bool, map: { 0: closed, 1: open }, priority: alarm }
  - { id: bolt, table: discrete, address: 1, type: bool, map: { 0: unlocked, 1: locked } }
  - { id: energy, table: holding, address: 10, type: f32, unit: kWh }
  - { id: battery, table: input, address: 20, type: u16, scale: 0.01, unit: V, poll: slow }
events:
  - { id: door_forced, name: { zh: 强行开门, en: Door forced }, when: { point: door, becomes: open, while: { bolt: locked } }, alarm: { cid: 423, sia: DF, severity: critical } }
commands:
  - { id: unlock, name: { zh: 开锁, en: Unlock }, write: { table: coil, address: 256, value: 1 }, pulse: 3s, roles: [manager, admin] }
`,
  'profiles/pole.yaml': `id: test-pole
name: { zh: 一键报警柱, en: Alarm pole }
kind: alarm-pole
transport: [modbus-rtu]
identify: { table: holding, address: 0, count: 2, expect: [0x5357, null] }
points:
  - { id: button, table: discrete, address: 0, type: bool, map: { 0: released, 1: pressed }, priority: alarm }
`,
  'profiles/io.yaml': `id: test-io
name: { zh: 报警模块, en: IO module }
kind: io-module
transport: [modbus-rtu, modbus-tcp]
identify: { table: input, address: 100, count: 1, expect: [0x1701] }
points:
  - { id: di1, table: discrete, address: 0, type: bool }
`,
};
