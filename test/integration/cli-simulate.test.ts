/**
 * `shouwang simulate` runs the real simulator in the foreground; `scan` and `read` then find its
 * devices over a socat pty pair and a Modbus TCP socket, with the shipped profiles; SIGTERM stops
 * it cleanly (exit 0, pty links removed).
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTsProcess, stopAll, type Started } from '../helpers/processes.js';
import { runCli, tempTree } from './cli-run.js';

const VILLAGE = `site: { id: cli-test, name: 测试村 }
seed: 7
behaviour: off
buses:
  - id: line-a
    kind: rtu
    baud: 9600
    devices:
      - { id: lock-1, profile: generic-rs485-fingerprint-lock, unitId: 2 }
      - { id: pole-1, profile: generic-alarm-pole, unitId: 5 }
  - id: lan
    kind: tcp
    devices:
      - { id: lock-tcp, profile: generic-rs485-fingerprint-lock, unitId: 1 }
`;

interface Endpoints {
  buses: Array<{ id: string; type: string; path?: string; host?: string; port?: number }>;
  tcpDevices: Array<{ id: string; host: string; port: number; unitId: number }>;
  runDir: string;
}

const dir = tempTree({ 'village.yaml': VILLAGE });
let sim: Started<Endpoints> | undefined;

afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('shouwang simulate', () => {
  it('prints a JSON ready line, serves scan and read, and stops cleanly on SIGTERM', async () => {
    sim = await startTsProcess<Endpoints>(
      'gateway/src/main.ts',
      ['simulate', '--village', join(dir, 'village.yaml'), '--json', '--gateway-config', join(dir, 'gateway.yaml')],
      (line) => {
        if (!line.startsWith('{"ready":true')) return undefined;
        return (JSON.parse(line) as { endpoints: Endpoints }).endpoints;
      },
    );
    const eps = sim.ready;
    const line = eps.buses.find((b) => b.id === 'line-a');
    const tcp = eps.tcpDevices.find((d) => d.id === 'lock-tcp');
    expect(line?.type === 'rtu' || line?.type === 'rtu-over-tcp').toBe(true);
    expect(tcp).toBeDefined();

    // The written gateway config is valid against the shipped profiles.
    const v = await runCli(['validate', '--config', join(dir, 'gateway.yaml')]);
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('devices   3 (3 enabled)');

    // scan finds units 2 and 5 with the right profiles.
    const where = line!.type === 'rtu' ? ['--port', line!.path!] : ['--host', line!.host!, '--tcp-port', String(line!.port), '--rtu-over-tcp'];
    const scan = await runCli(['scan', ...where, '--ids', '1-6', '--timeout', '150ms', '--json']);
    expect(scan.code).toBe(0);
    const found = JSON.parse(scan.stdout) as Array<{ unit: number; candidates: string[] }>;
    expect(found.map((u) => [u.unit, u.candidates])).toEqual([
      [2, ['generic-rs485-fingerprint-lock']],
      [5, ['generic-alarm-pole']],
    ]);

    // read over Modbus TCP decodes the lock's identify block as the profile expects.
    const read = await runCli(['read', '--host', tcp!.host, '--tcp-port', String(tcp!.port), '--unit', String(tcp!.unitId), '--address', '0', '--count', '2']);
    expect(read.code).toBe(0);
    expect(read.stdout).toMatch(/^\s+0\s+1\s+40001\s+0x5357\s+21335\s+21335\s/m);
    expect(read.stdout).toMatch(/^\s+1\s+2\s+40002\s+0x0101\s+257\s+257\s/m);

    const exited = new Promise<number | null>((r) => sim!.child.once('exit', (code) => r(code)));
    await sim.stop('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(eps.runDir)).toBe(false);
  }, 60_000);

  it('a missing village file is a failure with a message (exit 1)', async () => {
    const r = await runCli(['simulate', '--village', join(dir, 'nope.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nope.yaml');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
