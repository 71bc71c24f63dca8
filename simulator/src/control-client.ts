/**
 * A tiny client of the simulator's HTTP control API, for tests and scripts that run the
 * simulator as a child process: `new SimControlClient(ready.endpoints.control).press('pole-1')`.
 * Same interface as the in-process `handle.control`.
 */
import type { PointValue } from '../../gateway/src/core/types.js';
import type {
  BusFaults,
  DeviceFaults,
  DeviceSummary,
  FaultsSnapshot,
  ModemFaults,
  PassOptions,
  PressOptions,
  SimControl,
  SimEndpoints,
  SimStats,
  SmsRecord,
  StrangerOptions,
  TamperOptions,
  WriteRecord,
} from './control-types.js';

export class SimControlError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SimControlError';
  }
}

export class SimControlClient implements SimControl {
  private readonly base: string;

  constructor(baseUrl: string) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = (text ? JSON.parse(text) : null) as unknown;
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string } } | null)?.error;
      throw new SimControlError(res.status, err?.code ?? 'SW_ERR_HTTP', `${method} ${path}: ${err?.message ?? res.statusText}`);
    }
    return json as T;
  }

  private dev(id: string, rest = ''): string {
    return `/devices/${encodeURIComponent(id)}${rest}`;
  }

  listDevices(): Promise<DeviceSummary[]> {
    return this.call('GET', '/devices');
  }
  getPoints(deviceId: string): Promise<Record<string, PointValue>> {
    return this.call('GET', this.dev(deviceId, '/points'));
  }
  setPoints(deviceId: string, values: Record<string, PointValue>): Promise<{ ts: number; set: string[]; skipped: string[] }> {
    return this.call('POST', this.dev(deviceId, '/points'), values);
  }
  press(deviceId: string, opts: PressOptions = {}): Promise<{ ts: number; releaseAt: number }> {
    return this.call('POST', this.dev(deviceId, '/press'), opts);
  }
  pass(deviceId: string, opts: PassOptions = {}): Promise<{ ts: number; user: number; method: string }> {
    return this.call('POST', this.dev(deviceId, '/pass'), opts);
  }
  stranger(deviceId: string, opts: StrangerOptions = {}): Promise<{ ts: number; attempts: number }> {
    return this.call('POST', this.dev(deviceId, '/stranger'), opts);
  }
  tamper(deviceId: string, opts: TamperOptions = {}): Promise<{ ts: number }> {
    return this.call('POST', this.dev(deviceId, '/tamper'), opts);
  }
  door(deviceId: string, door: number, open: boolean): Promise<{ ts: number }> {
    return this.call('POST', this.dev(deviceId, '/door'), { door, open });
  }
  writes(deviceId: string, opts: { since?: number } = {}): Promise<WriteRecord[]> {
    return this.call('GET', this.dev(deviceId, opts.since === undefined ? '/writes' : `/writes?since=${opts.since}`));
  }
  async clearWrites(deviceId: string): Promise<void> {
    await this.call('DELETE', this.dev(deviceId, '/writes'));
  }
  faults(): Promise<FaultsSnapshot> {
    return this.call('GET', '/faults');
  }
  setBusFaults(busId: string, faults: Partial<BusFaults>): Promise<BusFaults> {
    return this.call('POST', `/buses/${encodeURIComponent(busId)}/faults`, faults);
  }
  setDeviceFaults(deviceId: string, faults: Partial<DeviceFaults>): Promise<DeviceFaults> {
    return this.call('POST', this.dev(deviceId, '/faults'), faults);
  }
  unplug(busId: string, ms: number): Promise<{ ts: number; until: number }> {
    return this.call('POST', `/buses/${encodeURIComponent(busId)}/unplug`, { ms });
  }
  async clearFaults(): Promise<void> {
    await this.call('DELETE', '/faults');
  }
  stats(): Promise<SimStats> {
    return this.call('GET', '/stats');
  }
  setBehaviour(enabled: boolean): Promise<{ enabled: boolean }> {
    return this.call('POST', '/behaviour', { enabled });
  }
  endpoints(): Promise<SimEndpoints> {
    return this.call('GET', '/endpoints');
  }
  modemMessages(): Promise<SmsRecord[]> {
    return this.call('GET', '/modem/messages');
  }
  setModemFaults(faults: Partial<ModemFaults>): Promise<ModemFaults> {
    return this.call('POST', '/modem/faults', faults);
  }

  /** Wait until the master has written to a device (e.g. the pole's help_light coil); resolves with the write. */
  async waitForWrite(deviceId: string, match: (w: WriteRecord) => boolean, opts: { since?: number; timeoutMs?: number; pollMs?: number } = {}): Promise<WriteRecord> {
    const end = Date.now() + (opts.timeoutMs ?? 10_000);
    for (;;) {
      const found = (await this.writes(deviceId, { since: opts.since ?? 0 })).find(match);
      if (found) return found;
      if (Date.now() > end) throw new Error(`no matching write to ${deviceId} within ${opts.timeoutMs ?? 10_000} ms`);
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 20));
    }
  }
}
