import Database from 'better-sqlite3';
/**
 * Durability across a hard kill: a child process raises alarms and is SIGKILLed right after
 * raise() returns (no close, no checkpoint). A new process opening the same storage dir must
 * find the latched alarm active. Also: a second process holding the database lock gets a clear
 * STORE error naming the file.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { AlarmService } from '../../gateway/src/alarms/alarm-service.js';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import { silentLogger } from '../../gateway/src/log.js';
import { openStore, STORE_FILE_NAME } from '../../gateway/src/store/store.js';

const repo = new URL('../..', import.meta.url).pathname;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Run a TypeScript snippet in a child process; resolve with its stdout lines and how it ended. */
function runChild(dir: string, source: string, onLine?: (line: string, kill: () => void) => void): Promise<{ lines: string[]; signal: NodeJS.Signals | null; code: number | null }> {
  const script = join(dir, `child-${Math.random().toString(16).slice(2)}.ts`);
  writeFileSync(script, source);
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    onLine?.(line, () => child.kill('SIGKILL'));
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child timed out; stderr: ${stderr}`));
    }, 20_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0 && signal === null) reject(new Error(`child failed (${code}): ${stderr}`));
      else resolve({ lines, signal, code });
    });
  });
}

const imports = (dir: string) => `
import { AlarmService } from ${JSON.stringify(join(repo, 'gateway/src/alarms/alarm-service.ts'))};
import { EventBus } from ${JSON.stringify(join(repo, 'gateway/src/core/event-bus.ts'))};
import { silentLogger } from ${JSON.stringify(join(repo, 'gateway/src/log.ts'))};
import { openStore } from ${JSON.stringify(join(repo, 'gateway/src/store/store.ts'))};
const store = openStore({ dir: ${JSON.stringify(dir)} });
const service = new AlarmService({ store, bus: new EventBus(), site: 'v1', log: silentLogger() });
`;

describe('store durability', () => {
  it('a latched alarm survives SIGKILL right after raise() returns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-durable-'));
    dirs.push(dir);
    const { lines, signal } = await runChild(
      dir,
      `${imports(dir)}
const a = service.raise({ device: 'pole-1', profile: 'generic-alarm-pole', rule: 'panic', name: { zh: '紧急求助', en: 'Panic' },
  code: { cid: 120, sia: 'PA' }, severity: 'emergency' });
const b = service.raise({ device: 'lock-1', profile: 'p', rule: 'tamper', name: { zh: '防拆', en: 'Tamper' }, severity: 'critical', restore: true });
service.clear({ device: 'lock-1', rule: 'tamper' });
// Kill ourselves the moment the calls return: no close(), no WAL checkpoint, no exit handlers.
console.log(JSON.stringify({ latched: a.id, ended: b.id }));
process.kill(process.pid, 'SIGKILL');
`,
    );
    expect(signal).toBe('SIGKILL');
    const { latched, ended } = JSON.parse(lines[0]!) as { latched: string; ended: string };
    const store = openStore({ dir });
    try {
      const service = new AlarmService({ store, bus: new EventBus(), site: 'v1', log: silentLogger() });
      expect(service.active().map((a) => a.id)).toEqual([latched]);
      expect(service.get(latched)).toMatchObject({ state: 'raised', latch: true, device: 'pole-1' });
      expect(service.get(ended)?.state).toBe('reset');
      expect(service.list({ device: 'lock-1' }).map((a) => a.kind).sort()).toEqual(['alarm', 'restore']);
      // The same rule firing again after the restart is a re-trigger, not a second alarm.
      expect(service.raise({ device: 'pole-1', profile: 'generic-alarm-pole', rule: 'panic', name: { zh: 'x', en: 'x' }, severity: 'emergency' }).id).toBe(latched);
    } finally {
      store.close();
    }
  });

  it('a database held locked by another process -> STORE error naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-locked-'));
    dirs.push(dir);
    openStore({ dir }).close();
    // Another connection holds the write lock, as another gateway process on the same data dir
    // would. (In-process: SQLite locks connections against each other the same way, and a
    // child process made this test timing-dependent on a loaded machine.)
    const other = new Database(join(dir, STORE_FILE_NAME));
    other.exec('BEGIN EXCLUSIVE');
    const release = () => {
      other.exec('ROLLBACK');
      other.close();
    };
    let err: unknown;
    try {
      openStore({ dir, busyTimeoutMs: 100 }).close();
    } catch (e) {
      err = e;
    }
    release();
    expect(err).toMatchObject({ code: 'SW_ERR_STORE' });
    expect((err as Error).message).toContain(join(dir, STORE_FILE_NAME));
    expect((err as Error).message).toMatch(/locked by another process/);
    // Once the other holder is gone the store opens normally.
    openStore({ dir }).close();
  });
});
